"""A process that lost its run to another (its lease lapsed) writes nothing more for it:
no step row, no end (both backends)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from spine.core.errors import LeaseLostError
from spine.core.records import Owner, RunRecord, StepRecord
from spine.core.status import StepStatus, WorkflowStatus
from spine.store import SqlStore

T0 = 1_767_225_600.0
A = Owner("owner-a", "host-a", 1)
B = Owner("owner-b", "host-b", 2)


def _step(order: int, next_step: str | None = "next") -> StepRecord:
    return StepRecord(run_id="fenced", step_order=order, attempt=1, step_name=f"s{order}",
                      step_type="lambda", status=StepStatus.COMPLETED, started_at=T0 + order,
                      completed_at=T0 + order + 0.5, output_json='{"by": "a"}',
                      context_updates_json="{}", next_step=next_step)  # fmt: skip


@pytest.fixture
def taken_over(database_url: str) -> Iterator[SqlStore]:
    """Run ``fenced``: started by A, which recorded step 0, then taken over by B."""
    store = SqlStore(database_url)
    run = RunRecord(run_id="fenced", workflow_name="w", status=WorkflowStatus.RUNNING,
                    started_at=T0, params={}, partition={}, owner=A, heartbeat_at=T0)  # fmt: skip
    store.create_run(run)
    assert store.record_step(_step(0), A.owner_id) is False
    expected = store.load_run("fenced").run
    assert store.claim(expected, B, T0 + 100)
    try:
        yield store
    finally:
        store.close()


def test_the_old_owner_records_no_step_once_the_run_is_taken_over(taken_over: SqlStore) -> None:
    with pytest.raises(LeaseLostError, match="another process took the run over"):
        taken_over.record_step(_step(1), A.owner_id)
    assert [s.step_name for s in taken_over.load_run("fenced").steps] == ["s0"]
    # The new owner writes as usual.
    assert taken_over.record_step(_step(1), B.owner_id) is False
    assert [s.step_name for s in taken_over.load_run("fenced").steps] == ["s0", "s1"]


def test_the_old_owner_records_no_end(taken_over: SqlStore) -> None:
    end = RunRecord(run_id="fenced", workflow_name="w", status=WorkflowStatus.COMPLETED,
                    started_at=T0, params={}, partition={}, completed_at=T0 + 9,
                    outputs={"s1": {"by": "a"}})  # fmt: skip
    with pytest.raises(LeaseLostError, match="its end was not recorded"):
        taken_over.finish_run(end, _step(1, next_step=None), A.owner_id)
    stored = taken_over.load_run("fenced")
    assert stored.run.status == WorkflowStatus.RUNNING
    assert [s.step_name for s in stored.steps] == ["s0"]
    assert taken_over.finish_run(end, _step(1, next_step=None), B.owner_id) is True
    assert taken_over.load_run("fenced").run.status == WorkflowStatus.COMPLETED
