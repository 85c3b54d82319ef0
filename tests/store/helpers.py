"""Helpers for the history-store tests: read stored rows straight from the database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, select

from spine.orchestration import WorkflowRunner
from spine.store import SqlStore
from spine.store.engine import connect
from spine.store.schema import runs, steps


def store_of(runner: WorkflowRunner) -> SqlStore:
    store = runner.store
    assert isinstance(store, SqlStore)
    return store


def run_row(engine: Engine, run_id: str) -> dict[str, Any]:
    with engine.connect() as conn:
        found = conn.execute(select(runs).where(runs.c.run_id == run_id)).mappings().all()
    assert len(found) == 1, f"expected one row for run {run_id}, found {len(found)}"
    return dict(found[0])


def step_rows(engine: Engine, run_id: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        found = (
            conn.execute(
                select(steps)
                .where(steps.c.run_id == run_id)
                .order_by(steps.c.step_order, steps.c.attempt)
            )
            .mappings()
            .all()
        )
    return [dict(r) for r in found]


def all_rows(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of both history tables, in a stable order (to compare snapshots)."""
    with engine.connect() as conn:
        return {
            "runs": [tuple(r) for r in conn.execute(select(runs).order_by(runs.c.run_id))],
            "steps": [tuple(r) for r in conn.execute(select(steps).order_by(steps.c.step_id))],
        }


@contextmanager
def raw_engine(database_url: str) -> Iterator[Engine]:
    """An engine on ``database_url`` that neither creates nor migrates any schema."""
    engine = connect(database_url).engine
    try:
        yield engine
    finally:
        engine.dispose()
