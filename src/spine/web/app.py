"""Assembling the web app: settings, the open history, templates and the routers.

The routes live in :mod:`spine.web.routes`, one module per resource; they read and act
through :mod:`spine.commands`, as the ``spine`` command does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from spine.store import open_store
from spine.web.dependencies import Site, WebSettings, make_templates
from spine.web.routes import ROUTERS


def build(database_url: str, *, token: str | None = None) -> FastAPI:
    settings = WebSettings.of(database_url, token)
    store = open_store(database_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        store.close()

    app = FastAPI(
        title="spine-orchestration",
        description="Runs, steps and quality metrics of spine workflows.",
        version="1",
        lifespan=lifespan,
    )
    app.state.site = Site(settings, store, make_templates())
    for router in ROUTERS:
        app.include_router(router)
    return app
