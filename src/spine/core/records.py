"""The records of runs and step attempts, as the engine writes them and the store keeps them.

Shared by ``spine.orchestration`` (which writes them) and ``spine.store`` (which keeps
them in SQL), so neither imports the other. A run's context is rebuilt from its step
records (each keeps that step's output and context updates), never from context
snapshots, so storage grows with each step's own output, not with the context.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from spine.core.errors import WorkflowError, WorkflowValidationError
from spine.core.ids import new_id
from spine.core.jsonvalue import JsonValueError, decode, encode

DATA_FORMAT = 2
"""Version of the JSON written into ``params``/``outputs``/``context_updates`` columns:
2 is strict JSON with non-finite floats tagged (see :mod:`spine.core.jsonvalue`); 1
wrote them as bare ``NaN``/``Infinity``, which the reader still accepts."""


@dataclass(frozen=True, slots=True)
class Owner:
    """Who holds a run's lease: one runner in one process on one host."""

    owner_id: str
    host: str
    pid: int

    @classmethod
    def for_this_process(cls) -> Owner:
        import socket  # kept off `import spine.orchestration`, which needs no network names

        return cls(owner_id=new_id(), host=socket.gethostname(), pid=os.getpid())

    def describe(self) -> str:
        return f"process {self.pid} on host {self.host!r} (owner {self.owner_id})"


@dataclass(frozen=True, slots=True)
class Lease:
    """One hold of a run: the owner that holds it and the run's epoch when it took it.

    Every takeover of an executing run raises the epoch, so every write a holder
    makes is conditional on both: a holder frozen or cut off past its lease writes
    nothing once another process (or another runner with this very owner id) took
    the run over.
    """

    owner_id: str
    epoch: int


@dataclass(slots=True)
class RunRecord:
    """A run as stored when it starts (and as loaded, with its end and lease)."""

    run_id: str
    workflow_name: str
    status: str
    started_at: float
    params: Mapping[str, Any]
    partition: Mapping[str, Any]
    workflow_version: int = 1
    definition_hash: str = ""
    triggered_by: str = "manual"
    parent_run_id: str | None = None
    schedule_id: str | None = None
    parent_step: str | None = None
    item_index: int | None = None
    dry_run: bool = False
    total_steps: int = 0
    owner: Owner | None = None
    heartbeat_at: float | None = None
    wake_at: float | None = None
    completed_at: float | None = None
    outputs: Mapping[str, Any] | None = None
    error: str | None = None
    error_category: str | None = None
    error_step: str | None = None
    completed_steps: int = 0
    failed_steps: int = 0
    source: str | None = None
    """Where the workflow was loaded from (``path/to/file.py:attr``), if known."""
    takeovers: int = 0
    """Takeovers from a dead owner in a row at step execution ``takeover_order``."""
    takeover_order: int | None = None
    lease_epoch: int = 0
    """Raised by each takeover of the run (see :class:`Lease`)."""
    first_step: str | None = None
    """The step the run starts at: the step in flight until its first row is written."""
    items_total: int | None = None
    """How many items the map step it executes (or last executed) has."""
    duration: float | None = None
    """Seconds of execution, as of its last end: a failed run resumed later does not
    count the time it lay failed."""
    idempotency_key: str | None = None
    """At most one run of a workflow holds a key (a unique constraint in the store)."""
    priority: int = 0
    """Workers claim submitted runs of higher priority first, oldest first within one."""
    forked_from: str | None = None
    """The run whose first steps this one copied (``runner.fork``); not a map's item."""
    awaiting_signal: str | None = None
    """The signal its ``await_signal`` step waits for (meaningful while ``WAITING``)."""


@dataclass(slots=True)
class NextClaim:
    """A claim of submitted runs (as ``HistoryStore.claim_pending`` takes them) to make
    together with a run's end: the store fills ``claimed`` and sets ``made`` when it
    did (in the same statement, or transaction, as the end)."""

    owner: Owner
    workflow_names: tuple[str, ...]
    limit: int
    caps: Mapping[str, int]
    claimed: list[RunRecord] = field(default_factory=list)
    made: bool = False


@dataclass(frozen=True, slots=True)
class PartitionRun:
    """The latest run of one partition of a workflow."""

    partition: Mapping[str, Any]
    run_id: str
    status: str
    started_at: float


def partition_key(partition: Mapping[str, Any]) -> str:
    """A partition's canonical JSON (keys sorted, no spaces): partitions are matched by it."""
    return json.dumps(partition, sort_keys=True, separators=(",", ":"), default=str)


@dataclass(slots=True)
class StepRecord:
    """One attempt of one step: committed before the next step starts.

    Data columns travel as JSON text: the runner encodes them before anything is
    written, so a value JSON cannot hold fails the step instead of half a row.
    """

    run_id: str
    step_order: int
    attempt: int
    step_name: str
    step_type: str
    status: str
    started_at: float
    completed_at: float
    output_json: str
    context_updates_json: str
    next_step: str | None
    """The step the flow goes to after this one; ``None`` ends the run."""
    error: str | None = None
    error_category: str | None = None
    will_retry: bool = False
    quality_json: str | None = None
    row_count: int | None = None
    params_json: str = "{}"
    log_json: str | None = None
    """What the attempt wrote (:func:`log_to_json`); ``None``: nothing, or dropped."""

    @property
    def log(self) -> list[LogLine]:
        return log_from_json(self.log_json)

    @property
    def output(self) -> dict[str, Any]:
        return decode(self.output_json)  # type: ignore[no-any-return]

    @property
    def context_updates(self) -> dict[str, Any]:
        return decode(self.context_updates_json)  # type: ignore[no-any-return]

    @property
    def quality(self) -> dict[str, Any] | None:
        return None if self.quality_json is None else decode(self.quality_json)


@dataclass(slots=True)
class StoredRun:
    """A run and its step records, in the order they were written."""

    run: RunRecord
    steps: list[StepRecord]


@dataclass(frozen=True, slots=True)
class SignalRecord:
    """A signal sent to a run: its payload becomes the output of the step awaiting it."""

    signal_name: str
    payload: dict[str, Any]
    sent_at: float
    consumed_at: float | None
    """When a step took it (``None``: kept for a step the run has not reached)."""


def signal_json(signal_name: object, payload: object) -> str:
    """A signal's payload as stored (JSON text), once its name and payload are checked:
    ``WorkflowValidationError`` says what is wrong."""
    if not isinstance(signal_name, str) or not signal_name.strip():
        raise WorkflowValidationError(
            f"signal name must be a non-empty string, got {signal_name!r}"
        )
    if not isinstance(payload, Mapping):
        raise WorkflowValidationError(
            f"signal {signal_name!r}: payload must be a JSON object (a dict), "
            f"got {type(payload).__name__}"
        )
    try:
        return encode(dict(payload), "payload")
    except JsonValueError as exc:
        raise WorkflowValidationError(f"signal {signal_name!r}: {exc}") from exc


@dataclass(slots=True)
class ItemRecord:
    """A map item its map stores with others: its run row (as it ended, or ``RUNNING``
    while it runs), the step rows its execution wrote, and whether the run row is new
    (else it is stored already: the item was resumed, or its row went in as it ran)."""

    run: RunRecord
    steps: list[StepRecord]
    new: bool


ItemRows = tuple[bool, tuple[Any, ...], tuple[tuple[Any, ...], ...]]
"""A map item's rows as a store writes them, plain values made when the item ends
(whether its run row is new, that row, its step rows); see ``HistoryStore.item_rows``."""


class UnserializableOutputError(WorkflowError):
    """A step produced a value that cannot be stored as JSON."""


def to_json(value: Mapping[str, Any], *, workflow: str, step: str, field_name: str) -> str:
    """``value`` as strict JSON text (:mod:`spine.core.jsonvalue`); the error names the
    workflow, step, field and key path."""
    try:
        return encode(value, field_name)
    except JsonValueError as exc:
        raise UnserializableOutputError(
            f"workflow {workflow!r}, step {step!r}: {exc}; return JSON values (str, "
            "int, float, bool, None, lists and dicts of them with string keys), or store "
            "large or binary data elsewhere and return a reference to it",
            workflow=workflow,
            step=step,
        ) from None
    except Exception as exc:  # a mapping whose items() raises, say: the step's fault
        raise UnserializableOutputError(
            f"workflow {workflow!r}, step {step!r}: {field_name} cannot be stored: "
            f"{type(exc).__name__}: {exc}",
            workflow=workflow,
            step=step,
        ) from None


LogLine = tuple[float, str, str]
"""One line of a step attempt's log: its time (epoch seconds), level and text."""


def log_to_json(lines: list[LogLine] | None) -> str | None:
    """A step attempt's log lines as stored: a JSON array of ``[time, level, text]``
    (``None`` for none: most steps write nothing, and their rows carry no log)."""
    if not lines:
        return None
    import json

    # ensure_ascii: a lone surrogate a step printed becomes an escape PostgreSQL takes.
    return json.dumps(lines, separators=(",", ":"))


def log_from_json(text: str | None) -> list[LogLine]:
    if not text:
        return []
    import json

    return [(float(t), str(level), str(line)) for t, level, line in json.loads(text)]


def when(timestamp: float | None) -> str | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp, UTC).isoformat()
