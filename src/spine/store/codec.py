"""Records to rows and back: the one place that knows how a run or a step is laid out in SQL.

Timestamps become fixed-width ISO-8601 UTC text (so they sort and compare as text on
every backend), data columns JSON text. The run, schedule and alert stores all write
their timestamps through :func:`iso`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import Row

from spine.core.errors import WorkflowValidationError
from spine.core.jsonvalue import JsonValueError, decode, encode
from spine.core.records import DATA_FORMAT, ItemRecord, ItemRows, Owner, RunRecord, StepRecord

_second: tuple[int, str] = (0, "1970-01-01T00:00:00")
"""The last whole second :func:`iso` wrote, with its text: rows written in the same
second (every step of a fast run) reuse it."""


def iso(timestamp: float | None) -> str | None:
    """Seconds since the epoch as fixed-width ISO-8601 UTC text, exactly as
    ``datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="microseconds")``."""
    global _second
    if timestamp is None:
        return None
    # datetime's own rounding: the fraction to the nearest microsecond, half to even.
    fraction, whole = math.modf(timestamp)
    micros = round(fraction * 1e6)
    if micros < 0:
        whole, micros = whole - 1, micros + 1_000_000
    elif micros >= 1_000_000:
        whole, micros = whole + 1, micros - 1_000_000
    second, text = _second
    if second != whole:
        text = datetime.fromtimestamp(whole, UTC).isoformat()[:19]
        _second = (int(whole), text)
    return f"{text}.{micros:06d}+00:00"


def from_iso(text: str | None) -> float | None:
    return None if text is None else datetime.fromisoformat(text).timestamp()


NEW_RUN_COLUMNS = (
    "run_id", "workflow_name", "workflow_version", "definition_hash", "status", "started_at",
    "params", "partition", "total_steps", "completed_steps", "failed_steps", "triggered_by",
    "parent_run_id", "schedule_id", "parent_step", "item_index", "dry_run", "owner_id",
    "owner_host", "owner_pid", "heartbeat_at", "wake_at", "data_format", "source",
    "lease_epoch", "first_step", "idempotency_key", "priority", "forked_from",
)  # fmt: skip
"""A new run's row's columns, in the order of :func:`new_run_row`."""


def new_run_row(run: RunRecord) -> tuple[Any, ...]:
    """The values of a run's row as it starts, in the order of :data:`NEW_RUN_COLUMNS` (a
    tuple: a batch of map items makes one per item, and a dict costs it twice as much)."""
    owner = run.owner
    return (
        run.run_id,
        run.workflow_name,
        run.workflow_version,
        run.definition_hash,
        run.status,
        iso(run.started_at),
        _run_json(run, run.params, "params"),
        _run_json(run, run.partition, "partition"),
        run.total_steps,
        0,
        0,
        run.triggered_by,
        run.parent_run_id,
        run.schedule_id,
        run.parent_step,
        run.item_index,
        int(run.dry_run),
        *((owner.owner_id, owner.host, owner.pid) if owner else (None, None, None)),
        iso(run.heartbeat_at),
        iso(run.wake_at),
        DATA_FORMAT,
        run.source,
        run.lease_epoch,
        run.first_step,
        run.idempotency_key,
        run.priority,
        run.forked_from,
    )


def new_run_values(run: RunRecord) -> dict[str, Any]:
    """The columns of a run's row as it starts."""
    return dict(zip(NEW_RUN_COLUMNS, new_run_row(run), strict=True))


END_COLUMNS = (
    "status",
    "completed_at",
    "duration_ms",
    "outputs",
    "error",
    "error_category",
    "error_step",
    "completed_steps",
    "failed_steps",
    "wake_at",
)
"""The columns :func:`end_row` fills: a statement prepared once binds each of them."""


def end_row(run: RunRecord) -> tuple[Any, ...]:
    """How a run ended (or that it waits), in the order of :data:`END_COLUMNS`."""
    started, completed = run.started_at, run.completed_at
    return (
        run.status,
        iso(completed),
        None if completed is None else round((completed - started) * 1000),
        None if run.outputs is None else _outputs_json(run.outputs),
        storable_text(run.error),
        run.error_category,
        run.error_step,
        run.completed_steps,
        run.failed_steps,
        iso(run.wake_at),
    )


def end_values(run: RunRecord) -> dict[str, Any]:
    """The columns that say how a run ended (or that it waits)."""
    return dict(zip(END_COLUMNS, end_row(run), strict=True))


def owner_values(owner: Owner | None, now: float | None) -> dict[str, Any]:
    """The lease columns: who holds the run and when it last said so (``None``: nobody)."""
    return {
        "owner_id": owner.owner_id if owner else None,
        "owner_host": owner.host if owner else None,
        "owner_pid": owner.pid if owner else None,
        "heartbeat_at": iso(now),
    }


STEP_COLUMNS = (
    "step_id", "run_id", "step_name", "step_type", "step_order", "status", "started_at",
    "completed_at", "duration_ms", "params", "outputs", "error", "error_category",
    "row_count", "attempt", "context_updates", "next_step", "will_retry", "quality", "log",
)  # fmt: skip
"""A step row's columns, in the order of :func:`step_row`."""


def step_row(step: StepRecord) -> tuple[Any, ...]:
    """A step's row as plain values in the order of :data:`STEP_COLUMNS` (a tuple: what
    the fast path binds, with nothing to put in order)."""
    return (
        f"{step.run_id}:{step.step_order}:{step.attempt}",
        step.run_id,
        step.step_name,
        step.step_type,
        step.step_order,
        step.status,
        iso(step.started_at),
        iso(step.completed_at),
        round((step.completed_at - step.started_at) * 1000),
        step.params_json,
        step.output_json,
        storable_text(step.error),
        step.error_category,
        storable_count(step.row_count),
        step.attempt,
        step.context_updates_json,
        step.next_step,
        int(step.will_retry),
        step.quality_json,
        step.log_json,
    )


def step_values(step: StepRecord) -> dict[str, Any]:
    """A step's row by column name."""
    return dict(zip(STEP_COLUMNS, step_row(step), strict=True))


def _outputs_json(outputs: Mapping[str, Any]) -> str:
    """A run's outputs at its end. Each step's output was checked as it was recorded
    (a run's context is rebuilt from those rows), so only a context handed in by the
    caller (``execute(context=...)``) can hold what JSON cannot: its end is still
    written, with a note instead of those outputs."""
    try:
        return encode(outputs, "outputs")
    except JsonValueError as exc:
        return encode({"unstorable_outputs": str(exc)})


def storable_count(count: int | None) -> int | None:
    """A step's row count as a database keeps it (a 64-bit integer): past that, it is no
    count of rows, and the step's record is written without it rather than refused."""
    if count is None or -(1 << 63) <= count < 1 << 63:
        return count
    return None


def storable_text(text: str | None) -> str | None:
    """Free text (an error message: what an exception said) as a database keeps it: a
    NUL or a lone surrogate would make PostgreSQL refuse the whole row, after the step
    ran, so they are written as escapes instead."""
    if text is None or (text.isascii() and "\x00" not in text):
        return text
    return text.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")


def _run_json(run: RunRecord, value: Mapping[str, Any], field_name: str) -> str:
    """A run's params or partition as JSON; a value JSON cannot hold is a bad request."""
    if type(value) is dict and not value:
        return "{}"  # (most runs have no partition)
    try:
        return encode(value, field_name)
    except JsonValueError as exc:
        raise WorkflowValidationError(
            f"workflow {run.workflow_name!r}: {exc}; with history on, a run's params and "
            "partition must be JSON values (str, int, float, bool, None, lists and dicts "
            "of them with string keys)",
            workflow=run.workflow_name,
            field=field_name,
        ) from None


def _loads(text: str | None) -> Mapping[str, Any]:
    return {} if text is None else decode(text)


def run_record(row: Row[Any]) -> RunRecord:
    """A run's row as a record (columns a query added beside the table's are ignored)."""
    owner = (
        Owner(owner_id=row.owner_id, host=row.owner_host or "", pid=row.owner_pid or 0)
        if row.owner_id
        else None
    )
    return RunRecord(
        run_id=row.run_id,
        workflow_name=row.workflow_name,
        status=row.status,
        started_at=from_iso(row.started_at) or 0.0,
        params=_loads(row.params),
        partition=_loads(row.partition),
        workflow_version=row.workflow_version,
        definition_hash=row.definition_hash or "",
        triggered_by=row.triggered_by or "manual",
        parent_run_id=row.parent_run_id,
        schedule_id=row.schedule_id,
        parent_step=row.parent_step,
        item_index=row.item_index,
        dry_run=bool(row.dry_run),
        total_steps=row.total_steps or 0,
        owner=owner,
        heartbeat_at=from_iso(row.heartbeat_at),
        wake_at=from_iso(row.wake_at),
        completed_at=from_iso(row.completed_at),
        outputs=None if row.outputs is None else decode(row.outputs),
        error=row.error,
        error_category=row.error_category,
        error_step=row.error_step,
        completed_steps=row.completed_steps or 0,
        failed_steps=row.failed_steps or 0,
        source=row.source,
        takeovers=row.takeovers or 0,
        takeover_order=row.takeover_order,
        lease_epoch=row.lease_epoch or 0,
        first_step=row.first_step,
        items_total=row.items_total,
        duration=None if row.duration_ms is None else row.duration_ms / 1000,
        idempotency_key=row.idempotency_key,
        priority=row.priority or 0,
        forked_from=row.forked_from,
        awaiting_signal=row.awaiting_signal,
    )


def step_record(row: Row[Any]) -> StepRecord:
    # Through the row's mapping: a Row's attributes cost about half a microsecond each,
    # its mapping's keys a fifth of that, which halves reading a run of 10,000 steps.
    m = row._mapping
    return StepRecord(
        run_id=m["run_id"],
        step_order=m["step_order"],
        attempt=m["attempt"],
        step_name=m["step_name"],
        step_type=m["step_type"],
        status=m["status"],
        started_at=from_iso(m["started_at"]) or 0.0,
        completed_at=from_iso(m["completed_at"]) or 0.0,
        output_json=m["outputs"] or "{}",
        context_updates_json=m["context_updates"] or "{}",
        next_step=m["next_step"],
        error=m["error"],
        error_category=m["error_category"],
        will_retry=bool(m["will_retry"]),
        quality_json=m["quality"],
        row_count=m["row_count"],
        params_json=m["params"] or "{}",
        log_json=m["log"],
    )


def item_rows(item: ItemRecord) -> ItemRows:
    """An item's rows as plain values in column order: whether its run row is new, that
    row (a new one's in :data:`ITEM_COLUMNS`; else its end in :data:`ITEM_END_COLUMNS`),
    and its step rows (in :data:`STEP_COLUMNS`).

    Plain values, made as soon as the item ends: tuples of strings and numbers are
    nothing the garbage collector follows, however many items wait for their batch."""
    run = item.run
    if item.new:
        row = _item_row((*new_run_row(run), *end_row(run)))
    else:
        row = (*end_row(run), None, None, None, None, run.run_id)
    return item.new, row, tuple(map(step_row, item.steps))


ITEM_COLUMNS = (*NEW_RUN_COLUMNS, *(c for c in END_COLUMNS if c not in NEW_RUN_COLUMNS))
"""The columns of a new map item's run row (as it starts, with its end), in the order of
:func:`item_rows`."""
_item_row = itemgetter(*(
    len(NEW_RUN_COLUMNS) + END_COLUMNS.index(c) if c in END_COLUMNS
    else NEW_RUN_COLUMNS.index(c)
    for c in ITEM_COLUMNS
))  # fmt: skip
"""A new item's row from its start's values followed by its end's (which win)."""
ITEM_END_COLUMNS = (*END_COLUMNS, *owner_values(None, None), "run_id")
"""What :func:`item_rows` gives of an item stored already: its end, no owner, its id."""
