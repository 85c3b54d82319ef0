"""The API's interactive documentation (``/docs``): Swagger UI from the pinned copy in
``static/vendor``, so it loads nothing from elsewhere."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from spine.web.dependencies import render

router = APIRouter(include_in_schema=False)


@router.get("/docs", response_class=HTMLResponse)
def docs_page(request: Request) -> HTMLResponse:
    return render(request, "docs.html", {})
