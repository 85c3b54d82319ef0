"""Runs found by the start of their id, as git finds commits: what lets a person type a
few characters of a run id."""

from __future__ import annotations

import sys

from sqlalchemy import select

from spine.store.database import Database
from spine.store.schema import runs


def runs_starting(database: Database, prefix: str, limit: int) -> list[tuple[str, str]]:
    """Up to ``limit`` runs whose id starts with ``prefix`` (not empty), by id: (run id,
    workflow name) of each.

    One range scan of the primary key: ids from ``prefix`` up to the next string of its
    length, exactly the ids it starts in byte order (SQLite's, and PostgreSQL's under
    the C collation). The ``LIKE`` keeps out what a language collation's order lets into
    the range; a ``LIKE`` alone would read the whole table on both backends.
    """
    query = select(runs.c.run_id, runs.c.workflow_name).where(
        runs.c.run_id >= prefix, runs.c.run_id.startswith(prefix, autoescape=True)
    )
    last = ord(prefix[-1])
    if last < sys.maxunicode:
        query = query.where(runs.c.run_id < prefix[:-1] + chr(last + 1))
    query = query.order_by(runs.c.run_id).limit(limit)
    return database.statement(
        f"find the runs whose id starts with {prefix!r}",
        lambda conn: [(str(run_id), str(name)) for run_id, name in conn.execute(query)],
    )
