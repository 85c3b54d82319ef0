"""Assembling the web app: settings, the open history, templates and the routers,
behind the guard of :mod:`spine.web.guard`.

The routes live in :mod:`spine.web.routes`, one module per resource; they read and act
through :mod:`spine.commands`, as the ``spine`` command does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from spine.orchestration import WorkflowRunner
from spine.store import open_store
from spine.web.dependencies import Site, make_templates
from spine.web.guard import Guard
from spine.web.routes import ROUTERS
from spine.web.sessions import Sessions
from spine.web.settings import WebSettings


def build(
    database_url: str,
    *,
    token: str | None = None,
    host: str = "127.0.0.1",
    allowed_hosts: Iterable[str] = (),
    max_body: int | None = None,
) -> FastAPI:
    settings = WebSettings.of(
        database_url, token, host=host, allowed=allowed_hosts, max_body=max_body
    )
    store = open_store(database_url)
    runner = WorkflowRunner(store=store)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        runner.close()
        store.close()

    app = FastAPI(
        title="spine-orchestration",
        description="Runs, steps and quality metrics of spine workflows.",
        version="1",
        lifespan=lifespan,
        # FastAPI's Swagger UI and ReDoc pages load their scripts from a CDN: off.
        # spine.web.routes.docs serves Swagger UI from this package instead.
        docs_url=None,
        redoc_url=None,
    )
    sessions = Sessions()
    app.state.site = Site(settings, store, runner, sessions, make_templates())
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=Path(__file__).with_name("static")), "static")
    app.add_middleware(Guard, settings=settings, sessions=sessions)
    return app
