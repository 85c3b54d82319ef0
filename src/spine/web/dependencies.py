"""What every route gets from the app it serves: the open history, the runner that
queues runs, the sessions and the page templates. ``app.build`` puts one :class:`Site`
on ``app.state``; routes take it through FastAPI dependencies, so no route module
holds global state. Who may call a route is decided before it runs, in
:mod:`spine.web.guard`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, cast

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from spine.orchestration import WorkflowRunner
from spine.store import SqlStore
from spine.web.guard import AUTH_SCOPE_KEY, session_cookie
from spine.web.sessions import Sessions
from spine.web.settings import WebSettings

PAGE_SIZE = 50
"""Runs on one page of the UI, and the API's default page."""


@dataclass(frozen=True, slots=True)
class Site:
    """One app's settings, its open history, its runner, sessions and templates."""

    settings: WebSettings
    store: SqlStore
    runner: WorkflowRunner
    """Queues the runs the app starts (on ``store``; workers execute them)."""
    sessions: Sessions
    templates: Jinja2Templates


def make_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))
    # Shown as text: autoescaping turns any markup inside a value into visible characters.
    templates.env.filters["pretty"] = lambda value: json.dumps(value, indent=1, default=str)
    return templates


def site_of(request: Request) -> Site:
    return cast(Site, request.app.state.site)


def store_of(request: Request) -> SqlStore:
    return site_of(request).store


Store = Annotated[SqlStore, Depends(store_of)]
"""A route parameter: the app's open history (shared by every request; closed with the app)."""


def render(request: Request, template: str, context: dict[str, Any]) -> HTMLResponse:
    """The page ``template``; every page knows whether a token guards the app and, in a
    signed-in browser, its session's CSRF token (for the actions it posts)."""
    site = site_of(request)
    session = site.sessions.get(session_cookie(dict(request.headers)))
    shared = {"signed_in": site.settings.token is not None,
              "csrf_token": session.csrf if session else ""}  # fmt: skip
    return site.templates.TemplateResponse(request, template, {**shared, **context})


def triggered_by(request: Request) -> str:
    """``"ui"`` for a request of the UI's own pages (signed in, or a same-origin fetch
    a browser marks so), else ``"api"``."""
    from_page = request.headers.get("sec-fetch-site", "").lower() == "same-origin"
    return "ui" if request.scope.get(AUTH_SCOPE_KEY) == "session" or from_page else "api"
