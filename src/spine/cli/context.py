"""What every command opens from its Click context: the history database's URL, the
store, a runner on it, and the console to print to."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from spine.orchestration import WorkflowRunner
    from spine.store import SqlStore


def database_url(ctx: click.Context) -> str:
    url: str | None = ctx.obj.get("database_url")
    if url:
        return url
    from spine.store import default_url

    return default_url()


@contextmanager
def open_history(ctx: click.Context) -> Iterator[SqlStore]:
    from spine.store import open_store

    store = open_store(database_url(ctx))
    try:
        yield store
    finally:
        store.close()


def open_runner(ctx: click.Context, **kwargs: Any) -> WorkflowRunner:
    from spine.orchestration import WorkflowRunner

    return WorkflowRunner(database_url=database_url(ctx), **kwargs)


def make_console() -> Any:
    from rich.console import Console

    # Piped output is read by programs and people with wide windows: do not fold it at
    # Rich's default of 80 columns.
    return Console(highlight=False, width=None if sys.stdout.isatty() else 200)
