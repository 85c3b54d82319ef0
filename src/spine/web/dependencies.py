"""What every route gets from the app it serves: the open history, the page templates,
and the guard on starting runs. ``app.build`` puts one :class:`Site` on ``app.state``;
routes take it through FastAPI dependencies, so no route module holds global state."""

from __future__ import annotations

import hmac
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, cast

from fastapi import Depends, Header, HTTPException, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from spine.store import SqlStore

PAGE_SIZE = 50
"""Runs on one page of the UI, and the API's default page."""


@dataclass(frozen=True, slots=True)
class WebSettings:
    database_url: str
    """The history the app reads, and that runs started through the API write."""
    token: str | None
    """The bearer token that starting runs requires; ``None``: starting runs is refused."""

    @classmethod
    def of(cls, database_url: str, token: str | None) -> WebSettings:
        """``token`` if given, else ``SPINE_API_TOKEN`` (an empty one counts as none)."""
        return cls(
            database_url, token if token is not None else os.environ.get("SPINE_API_TOKEN") or None
        )


@dataclass(frozen=True, slots=True)
class Site:
    """One app's settings, its open history and its templates."""

    settings: WebSettings
    store: SqlStore
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
    return site_of(request).templates.TemplateResponse(request, template, context)


def require_token(request: Request, authorization: Annotated[str | None, Header()] = None) -> None:
    """Refuse a request without ``Authorization: Bearer <token>`` (403 when the app has
    no token at all: starting runs is then off)."""
    token = site_of(request).settings.token
    if token is None:
        raise HTTPException(403, "starting runs is disabled: set SPINE_API_TOKEN")
    sent = (authorization or "").removeprefix("Bearer ").strip()
    # Constant time: how long a refusal takes says nothing about the token.
    if not hmac.compare_digest(sent.encode(), token.encode()):
        raise HTTPException(401, "a valid bearer token is required")
