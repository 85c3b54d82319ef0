"""Signing in and out of a UI that has a token: ``GET``/``POST /login`` and
``POST /logout`` (see :mod:`spine.web.sessions`)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from spine.web.dependencies import render, site_of
from spine.web.guard import session_cookie
from spine.web.sessions import COOKIE, same_secret

router = APIRouter(include_in_schema=False)


def local_path(wanted: str | None) -> str:
    """``wanted`` if it is a path on this site, else ``/``: the login page sends no one
    to another site (``//host`` and ``/\\host`` are other sites to a browser, which also
    drops tabs and line breaks from a URL: ``/<tab>/host`` is ``//host``)."""
    if not wanted or not wanted.startswith("/") or wanted[1:2] in ("/", "\\"):
        return "/"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in wanted):
        return "/"
    return wanted


@router.get("/login", response_class=HTMLResponse)
def login_page(
    request: Request, next_path: Annotated[str | None, Query(alias="next")] = None
) -> HTMLResponse:
    return render(request, "login.html", {"next": local_path(next_path), "error": None})


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    # The form is read here (not by FastAPI's Form, which needs python-multipart); the
    # guard caps its body at LOGIN_BODY bytes.
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    sent = form.get("token", [""])[0]
    wanted = local_path(form.get("next", ["/"])[0])
    site = site_of(request)
    token = site.settings.token
    if token is None:
        return RedirectResponse(wanted, status_code=303)  # nothing to sign in to
    if not same_secret(sent, token):
        page = render(request, "login.html", {"next": wanted, "error": "wrong token"})
        page.status_code = 401
        return page
    response = RedirectResponse(wanted, status_code=303)
    response.set_cookie(
        COOKIE,
        site.sessions.open(),
        max_age=int(site.sessions.seconds),
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout")
def logout(request: Request) -> Response:
    site_of(request).sessions.close(session_cookie(dict(request.headers)))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response
