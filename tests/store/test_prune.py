"""Pruning: each store deletes old rows of its own tables, and only of those."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Table, func, insert, select

from spine.core.records import RunRecord, StepRecord
from spine.core.status import StepStatus, WorkflowStatus
from spine.store import SqlDeliveryLog, SqlScheduleStore, SqlStore, open_store
from spine.store.codec import iso
from spine.store.schema import alert_deliveries, runs, schedule_fires, steps

OLD = 1_700_000_000.0
CUTOFF = OLD + 86400
TABLES = (runs, steps, alert_deliveries, schedule_fires)


@pytest.fixture
def store(database_url: str) -> Iterator[SqlStore]:
    """A database holding one old row or more in each prunable table."""
    with open_store(database_url) as opened:
        _old_rows(opened)
        yield opened


def _old_rows(store: SqlStore) -> None:
    run = RunRecord(run_id="r1", workflow_name="etl", status=WorkflowStatus.RUNNING,
                    started_at=OLD, params={}, partition={})  # fmt: skip
    store.create_run(run)
    step = StepRecord(run_id="r1", step_order=0, attempt=1, step_name="s", step_type="lambda",
                      status=StepStatus.COMPLETED, started_at=OLD, completed_at=OLD + 1,
                      output_json="{}", context_updates_json="{}", next_step=None)  # fmt: skip
    run.status, run.completed_at = WorkflowStatus.COMPLETED, OLD + 1
    store.finish_run(run, step)
    with store.engine.begin() as conn:
        conn.execute(
            insert(alert_deliveries).values(
                id="d1", fingerprint="f", severity="ERROR", title="t", source="s",
                channel="console", channel_type="console", success=1, attempts=1,
                created_at=iso(OLD), delivered_at=iso(OLD),
            )
        )  # fmt: skip
        conn.execute(
            insert(schedule_fires).values(schedule_name="daily", due_at=iso(OLD),
                                          outcome="missed", recorded_at=iso(OLD))
        )  # fmt: skip


def _counts(store: SqlStore) -> dict[str, int]:
    with store.engine.connect() as conn:
        return {
            t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one())
            for t in TABLES
        }


def _left(*pruned: Table) -> dict[str, int]:
    return {t.name: 0 if t in pruned else 1 for t in TABLES}


def test_the_run_store_prunes_runs_and_their_steps_only(store: SqlStore) -> None:
    assert store.prune(CUTOFF) == 1
    assert _counts(store) == _left(runs, steps)


def test_the_delivery_log_prunes_deliveries_only(store: SqlStore) -> None:
    assert SqlDeliveryLog.sharing(store).prune(CUTOFF) == 1
    assert _counts(store) == _left(alert_deliveries)


def test_the_schedule_store_prunes_due_time_records_only(store: SqlStore) -> None:
    assert SqlScheduleStore(store).prune(CUTOFF) == 1
    assert _counts(store) == _left(schedule_fires)


def test_rows_from_the_cutoff_on_stay(store: SqlStore) -> None:
    assert store.prune(OLD) == 0
    assert SqlDeliveryLog.sharing(store).prune(OLD) == 0
    assert SqlScheduleStore(store).prune(OLD) == 0
    assert _counts(store) == _left()
