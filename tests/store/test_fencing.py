"""A holder that lost its run (its lease lapsed and the run was taken over) writes
nothing more for it: no step row, no end, no status, no map item, no release. The
fence is the owner id with the run's epoch, so it holds even when the taker has the
same owner id (both backends)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from spine.core.errors import LeaseLostError
from spine.core.records import ItemRecord, Lease, Owner, RunRecord, StepRecord
from spine.core.status import StepStatus, WorkflowStatus
from spine.store import SqlStore

T0 = 1_767_225_600.0
A = Owner("owner-a", "host-a", 1)
B = Owner("owner-b", "host-b", 2)
STALE = Lease(A.owner_id, 0)
"""A's lease on run ``fenced``, as it took it when it started the run."""


def _step(order: int, next_step: str | None = "next", run_id: str = "fenced") -> StepRecord:
    return StepRecord(run_id=run_id, step_order=order, attempt=1, step_name=f"s{order}",
                      step_type="lambda", status=StepStatus.COMPLETED, started_at=T0 + order,
                      completed_at=T0 + order + 0.5, output_json='{"by": "a"}',
                      context_updates_json="{}", next_step=next_step)  # fmt: skip


def _run(run_id: str = "fenced", **fields: object) -> RunRecord:
    fields = {"status": WorkflowStatus.RUNNING, **fields}
    return RunRecord(run_id=run_id, workflow_name="w", started_at=T0, params={},
                     partition={}, **fields)  # type: ignore[arg-type]  # fmt: skip


@pytest.fixture(params=["by another owner", "by the same owner"])
def taken_over(
    request: pytest.FixtureRequest, database_url: str
) -> Iterator[tuple[SqlStore, Lease]]:
    """Run ``fenced``: started by A, which recorded step 0, then taken over (by B, or by
    another runner with A's very owner id); yields the store and the taker's lease."""
    store = SqlStore(database_url)
    store.create_run(_run(owner=A, heartbeat_at=T0))
    assert store.record_step(_step(0), STALE) is False
    expected = store.load_run("fenced").run
    taker = B if request.param == "by another owner" else A
    lease = store.claim(expected, taker, T0 + 100)
    assert lease == Lease(taker.owner_id, 1)
    assert store.claim(expected, taker, T0 + 200) is None  # the row has moved on
    try:
        yield store, lease
    finally:
        store.close()


def test_the_old_holder_records_no_step_once_the_run_is_taken_over(
    taken_over: tuple[SqlStore, Lease],
) -> None:
    store, lease = taken_over
    with pytest.raises(LeaseLostError, match="another process took the run over"):
        store.record_step(_step(1), STALE)
    with pytest.raises(LeaseLostError):
        store.cancel_requested("fenced", STALE)
    assert [s.step_name for s in store.load_run("fenced").steps] == ["s0"]
    # The new holder writes as usual.
    assert store.record_step(_step(1), lease) is False
    assert store.cancel_requested("fenced", lease) is False
    assert [s.step_name for s in store.load_run("fenced").steps] == ["s0", "s1"]


def test_the_old_holder_records_no_end(taken_over: tuple[SqlStore, Lease]) -> None:
    store, lease = taken_over
    end = replace(_run(), status=WorkflowStatus.COMPLETED, completed_at=T0 + 9,
                  outputs={"s1": {"by": "a"}})  # fmt: skip
    with pytest.raises(LeaseLostError, match="its end was not recorded"):
        store.finish_run(end, _step(1, next_step=None), STALE)
    with pytest.raises(LeaseLostError, match="its end was not recorded"):
        store.finish_run(end, None, STALE)
    stored = store.load_run("fenced")
    assert stored.run.status == WorkflowStatus.RUNNING
    assert [s.step_name for s in stored.steps] == ["s0"]
    assert store.finish_run(end, _step(1, next_step=None), lease) is True
    assert store.load_run("fenced").run.status == WorkflowStatus.COMPLETED


def test_the_old_holder_sets_no_status_and_releases_nothing(
    taken_over: tuple[SqlStore, Lease],
) -> None:
    store, lease = taken_over
    with pytest.raises(LeaseLostError, match="its status WAITING was not recorded"):
        store.set_status("fenced", WorkflowStatus.WAITING, wake_at=T0 + 50, lease=STALE)
    store.release("fenced", STALE)
    run = store.load_run("fenced").run
    assert (run.status, run.wake_at, run.lease_epoch) == (WorkflowStatus.RUNNING, None, 1)
    assert run.owner is not None
    assert run.owner.owner_id == lease.owner_id
    # The holder's own: written (twice is the same as once, as a retried write is).
    for _ in range(2):
        store.set_status("fenced", WorkflowStatus.WAITING, wake_at=T0 + 50, lease=lease)
    assert store.load_run("fenced").run.status == WorkflowStatus.WAITING
    store.release("fenced", lease)
    assert store.load_run("fenced").run.owner is None


def test_the_old_holder_stores_no_map_item(taken_over: tuple[SqlStore, Lease]) -> None:
    store, lease = taken_over
    item = _run("fenced-item-0", parent_run_id="fenced", parent_step="each#0", item_index=0,
                status=WorkflowStatus.COMPLETED, completed_at=T0 + 3)  # fmt: skip
    items = [ItemRecord(item, [_step(0, next_step=None, run_id=item.run_id)], new=True)]
    with pytest.raises(LeaseLostError, match="the items of map 'each#0' were not recorded"):
        store.save_items(items, STALE)
    assert store.child_runs("fenced", "each#0") == []
    store.save_items(items, lease)
    [saved] = store.child_runs("fenced", "each#0")
    assert saved.status == WorkflowStatus.COMPLETED
    assert [s.step_name for s in store.load_run(saved.run_id).steps] == ["s0"]


def test_the_old_holder_ends_no_map_item_stored_as_it_ran(
    taken_over: tuple[SqlStore, Lease],
) -> None:
    """An item whose row went in while it ran (``RUNNING``, its map counting it in
    flight) is ended by an update of that row: fenced as its insert was."""
    store, lease = taken_over
    running = _run("fenced-item-1", parent_run_id="fenced", parent_step="each#0", item_index=1)
    store.save_rows("fenced", "each#0", [store.item_rows(ItemRecord(running, [], new=True))],
                    lease)  # fmt: skip
    ended = replace(running, status=WorkflowStatus.COMPLETED, completed_at=T0 + 3,
                    outputs={"s1": {"by": "a"}}, completed_steps=1)  # fmt: skip
    rows = [store.item_rows(ItemRecord(ended, [_step(0, None, "fenced-item-1")], new=False))]
    with pytest.raises(LeaseLostError, match="the items of map 'each#0' were not recorded"):
        store.save_rows("fenced", "each#0", rows, STALE)
    assert store.load_run("fenced-item-1").run.status == WorkflowStatus.RUNNING
    assert store.load_run("fenced-item-1").steps == []
    store.save_rows("fenced", "each#0", rows, lease)
    stored = store.load_run("fenced-item-1")
    assert (stored.run.status, stored.run.outputs) == (
        WorkflowStatus.COMPLETED,
        {"s1": {"by": "a"}},
    )
    assert [s.step_name for s in stored.steps] == ["s0"]
    assert [r.run_id for r in store.child_runs("fenced", "each#0")] == ["fenced-item-1"]
