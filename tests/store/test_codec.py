"""Timestamps as stored: ``iso`` writes the very text ``datetime`` would (the fast way
it takes reuses the text of the second it wrote last)."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from spine.core.records import ItemRecord, Owner, RunRecord
from spine.store.codec import (
    ITEM_COLUMNS,
    ITEM_END_COLUMNS,
    end_values,
    from_iso,
    iso,
    item_rows,
    new_run_values,
)


def _datetime(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="microseconds")


def test_iso_writes_what_datetime_writes() -> None:
    picked = random.Random(16)
    stamps = [picked.uniform(-2e9, 4e9) for _ in range(20_000)]
    # Rounding edges: half a microsecond either side of a whole second and of a tick.
    stamps += [1_700_000_000 + k + f for k in range(3) for f in (0.0, 5e-7, 0.9999995, 0.9999994)]
    stamps += [-1.0000005, -0.5, 0.0, 1.0000005, 1.9999995, 2**31 + 5e-7]
    assert [s for s in stamps if iso(s) != _datetime(s)] == []
    assert iso(None) is None
    assert from_iso(iso(1_700_000_000.25)) == 1_700_000_000.25


def _item(**fields: object) -> RunRecord:
    base: dict[str, object] = {
        "run_id": "r1", "workflow_name": "w", "status": "COMPLETED", "started_at": 100.25,
        "params": {"item": 3, "item_index": 3}, "partition": {}, "parent_run_id": "p",
        "parent_step": "m#0", "item_index": 3, "completed_at": 101.5, "outputs": {"s": {"n": 9}},
        "completed_steps": 1, "first_step": "s", "total_steps": 1,
    }  # fmt: skip
    return RunRecord(**{**base, **fields})  # type: ignore[arg-type]


def test_a_new_items_row_is_its_start_with_its_end_over_it() -> None:
    for run in (
        _item(),
        _item(status="FAILED", error="bad\x00", error_step="s", failed_steps=1, completed_steps=0),
        _item(owner=Owner("o", "h", 7), heartbeat_at=100.5, partition={"d": "x"}, wake_at=5.0),
    ):
        new, row, steps = item_rows(ItemRecord(run, [], True))
        assert new is True
        assert steps == ()
        assert dict(zip(ITEM_COLUMNS, row, strict=True)) == {
            **new_run_values(run),
            **end_values(run),
        }
        assert new_run_values(run)["completed_steps"] == 0
        assert dict(zip(ITEM_COLUMNS, row, strict=True))["completed_steps"] == run.completed_steps
    run = _item(owner=Owner("o", "h", 7))
    assert new_run_values(run)["owner_pid"] == 7
    assert new_run_values(run)["partition"] == "{}"
    _, stored, _ = item_rows(ItemRecord(run, [], False))
    assert dict(zip(ITEM_END_COLUMNS, stored, strict=True)) == {
        **end_values(run), "owner_id": None, "owner_host": None, "owner_pid": None,
        "heartbeat_at": None, "run_id": "r1",
    }  # fmt: skip
