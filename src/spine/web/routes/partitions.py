"""Partitions: each partition of a workflow with its latest run (page ``/partitions``
and ``GET /api/partitions``, both ``?workflow=NAME``), as ``spine partitions`` lists them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from spine.commands import partition_to_dict
from spine.web.dependencies import Store, render

router = APIRouter()


@router.get("/api/partitions", tags=["workflows"])
def api_partitions(store: Store, workflow: str = Query(min_length=1)) -> list[dict[str, Any]]:
    """Each partition of ``workflow`` (by its canonical JSON) with its latest run."""
    return [partition_to_dict(p) for p in store.latest_partitions(workflow)]


@router.get("/partitions", response_class=HTMLResponse, include_in_schema=False)
def partitions_page(
    request: Request, store: Store, workflow: str = Query(min_length=1)
) -> HTMLResponse:
    return render(request, "partitions.html", {
        "workflow": workflow, "partitions": api_partitions(store, workflow),
    })  # fmt: skip
