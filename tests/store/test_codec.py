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


_EVERY_FIELD = RunRecord(
    run_id="r1", workflow_name="w", status="FAILED", started_at=100.25, params={"item": 3},
    partition={"d": "x"}, parent_run_id="p", parent_step="m#0", item_index=3,
    completed_at=101.5, outputs={"s": {"n": 9}}, completed_steps=1, failed_steps=1,
    first_step="s", total_steps=2, error="bad", error_category="INTERNAL", error_step="s",
    owner=Owner("o", "h", 7), heartbeat_at=100.5, source="f.py:w", workflow_version=4,
    definition_hash="abc", priority=2, lease_epoch=5, triggered_by="api", dry_run=True,
)  # fmt: skip


def test_a_new_items_row_holds_each_value_under_its_own_column() -> None:
    """Each value in its column, in the order the prepared insert binds them (a literal:
    a column and a value swapped in the codec would show here)."""
    new, row, steps = item_rows(ItemRecord(_EVERY_FIELD, [], True))
    assert (new, steps) == (True, ())
    assert list(zip(ITEM_COLUMNS, row, strict=True)) == [
        ("run_id", "r1"), ("workflow_name", "w"), ("workflow_version", 4),
        ("definition_hash", "abc"), ("status", "FAILED"),
        ("started_at", "1970-01-01T00:01:40.250000+00:00"), ("params", '{"item": 3}'),
        ("partition", '{"d": "x"}'), ("total_steps", 2), ("completed_steps", 1),
        ("failed_steps", 1), ("triggered_by", "api"), ("parent_run_id", "p"),
        ("schedule_id", None), ("parent_step", "m#0"), ("item_index", 3), ("dry_run", 1),
        ("owner_id", "o"), ("owner_host", "h"), ("owner_pid", 7),
        ("heartbeat_at", "1970-01-01T00:01:40.500000+00:00"), ("wake_at", None),
        ("data_format", 2), ("source", "f.py:w"), ("lease_epoch", 5), ("first_step", "s"),
        ("idempotency_key", None), ("priority", 2), ("forked_from", None),
        ("completed_at", "1970-01-01T00:01:41.500000+00:00"), ("duration_ms", 1250),
        ("outputs", '{"s": {"n": 9}}'), ("error", "bad"), ("error_category", "INTERNAL"),
        ("error_step", "s"),
    ]  # fmt: skip
    _, stored, _ = item_rows(ItemRecord(_EVERY_FIELD, [], False))
    assert list(zip(ITEM_END_COLUMNS, stored, strict=True)) == [
        ("status", "FAILED"), ("completed_at", "1970-01-01T00:01:41.500000+00:00"),
        ("duration_ms", 1250), ("outputs", '{"s": {"n": 9}}'), ("error", "bad"),
        ("error_category", "INTERNAL"), ("error_step", "s"), ("completed_steps", 1),
        ("failed_steps", 1), ("wake_at", None), ("owner_id", None), ("owner_host", None),
        ("owner_pid", None), ("heartbeat_at", None), ("run_id", "r1"),
    ]  # fmt: skip
    # A run as it starts: its counts are nought, whatever the record says.
    started = new_run_values(_EVERY_FIELD)
    assert list(started) == [c for c in ITEM_COLUMNS if c in started]
    assert (started["completed_steps"], started["failed_steps"]) == (0, 0)
    assert end_values(_EVERY_FIELD)["completed_steps"] == 1
    empty = RunRecord(run_id="r", workflow_name="w", status="RUNNING", started_at=0.0,
                      params={}, partition={})  # fmt: skip
    assert (new_run_values(empty)["params"], new_run_values(empty)["partition"]) == ("{}", "{}")
