"""What every command opens from its Click context: the history database's URL, the
store, a runner on it, and the console to print to; and the run a run id names."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from spine.cli.errors import UsageProblem

if TYPE_CHECKING:
    from spine.orchestration import WorkflowRunner
    from spine.store import SqlStore


DB_HELP = "History database (default: $SPINE_DATABASE_URL, else ~/.spine/spine.db)."


def _db_given(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.find_root().obj["database_url"] = value


def accept_db_anywhere(command: click.Command) -> None:
    """Give ``command`` and every command under it ``--db``, as the group has it, so that
    it may follow the subcommand (``spine worker --db URL``) as well as precede it."""
    command.params.append(
        click.Option(["--db"], metavar="URL", expose_value=False, callback=_db_given, help=DB_HELP)
    )
    for sub in command.commands.values() if isinstance(command, click.Group) else ():
        accept_db_anywhere(sub)


def database_url(ctx: click.Context) -> str:
    """The history database given (``--db``, ``SPINE_DATABASE_URL``), else the default,
    whose directory is made on first use; a given SQLite file's directory must exist (a
    typo in a path should not leave a new, empty history there)."""
    from spine.store import default_url
    from spine.store.engine import sqlite_file

    url: str | None = ctx.obj.get("database_url")
    if not url:
        return default_url()
    path = sqlite_file(url)
    if path is not None and not path.parent.is_dir():
        raise UsageProblem(
            f"history database {url}: the directory {path.parent} does not exist; create it "
            "first (only the default, ~/.spine, is created)"
        )
    return url


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


WHOLE_RUN_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
"""A run id as spine makes them (a UUID): taken as it is, with no look-up."""
CANDIDATES = 5
"""Most runs an ambiguous run id prefix names in its error."""


def whole_run_id(store: SqlStore, given: str) -> str:
    """The id of the one run whose id starts with ``given`` (as git takes a commit's
    prefix), or ``given`` itself when it is a run's whole id. Raises ``UsageProblem``
    naming some of the runs when several ids start with it, ``RunNotFoundError`` when
    none does."""
    if not given or WHOLE_RUN_ID.fullmatch(given):
        return given
    from spine.core.errors import RunNotFoundError
    from spine.store.run_ids import runs_starting

    found = runs_starting(store.database, given, CANDIDATES + 1)
    if not found:
        raise RunNotFoundError(given, store.where)
    if len(found) == 1 or found[0][0] == given:  # (by id: a whole id comes first)
        return found[0][0]
    named = ", ".join(f"{run_id} ({workflow})" for run_id, workflow in found[:CANDIDATES])
    more = " and more" if len(found) > CANDIDATES else ""
    raise UsageProblem(f"run id {given!r} is ambiguous: it starts {named}{more}; give more of it")


def make_console() -> Any:
    from rich.console import Console

    from spine.cli.tables import terminal_width

    return Console(highlight=False, width=terminal_width())
