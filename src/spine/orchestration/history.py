"""The small interface a history store offers the engine.

The engine depends only on :class:`HistoryStore`; ``spine.store`` implements it on
SQL databases. The records it passes live in :mod:`spine.core.records`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from spine.core.records import (
    ItemRecord,
    ItemRows,
    Lease,
    NextClaim,
    Owner,
    PartitionRun,
    RunRecord,
    SignalRecord,
    StepRecord,
    StoredRun,
)

if TYPE_CHECKING:
    from spine.framework.alerts import DeliveryLog


class JournalSink(Protocol):
    """Where one executing run's steps and end are written: the store itself, or (for
    map items run in another process) a capture the runner's process stores later."""

    def record_step(self, step: StepRecord, lease: Lease | None = None) -> bool:
        """Record a step's row; returns whether the run was asked to stop (read in
        the same statement: the step loop's check at the next boundary). With
        ``lease`` the row is written only while that lease holds the run; else
        :class:`~spine.core.errors.LeaseLostError`."""
        ...

    def set_status(
        self,
        run_id: str,
        status: str,
        *,
        wake_at: float | None = None,
        lease: Lease | None = None,
        awaiting_signal: str | None = None,
    ) -> None:
        """Set an executing run's status and the signal it waits for, if any;
        ``lease``: as for :meth:`record_step`."""
        ...

    def take_signal(
        self, run_id: str, signal_name: str, now: float, lease: Lease | None = None
    ) -> str | None:
        """Consume the oldest signal ``signal_name`` kept for the run: its payload as
        JSON (``None``: none kept); ``lease``: only while it holds the run."""
        ...

    def record_map_size(self, run_id: str, total: int, lease: Lease | None = None) -> None:
        """Record how many items the run's map step in flight has (for its progress);
        ``lease``: as for :meth:`record_step`."""
        ...

    def finish_run(
        self,
        run: RunRecord,
        last_step: StepRecord | None = None,
        lease: Lease | None = None,
        then: NextClaim | None = None,
    ) -> bool:
        """Record how the run ended, with its last step's row when given (committed
        together: one round trip where the database allows). A run asked to stop ends
        ``CANCELLED`` only: another end is not recorded (the step's row is) and the
        answer is ``False``. ``lease``: as for :meth:`record_step`. ``then``: a worker's
        claim of its next runs, made in the same commit where the sink can (it then
        fills ``then.claimed`` and sets ``then.made``)."""
        ...

    def cancel_requested(self, run_id: str, lease: Lease | None = None) -> bool:
        """Whether the run was asked to stop (read now). With ``lease``:
        :class:`~spine.core.errors.LeaseLostError` when it no longer holds the run."""
        ...

    def release(self, run_id: str, lease: Lease, status: str | None = None) -> None:
        """Give up ``lease`` (nothing, if it no longer holds the run), setting the run's
        ``status`` in the same write when given."""
        ...


class Watch(Protocol):
    """A thread watching a store for runs to claim (:meth:`HistoryStore.watch`)."""

    def close(self) -> None: ...


class HistoryStore(JournalSink, Protocol):
    """The durable history the runner writes through. All methods commit."""

    def create_run(self, run: RunRecord, rows: Sequence[StepRecord] = ()) -> str:
        """Store a new run's row; returns its id, or the id of the run of the same
        workflow that already holds ``run.idempotency_key`` (then nothing is stored).
        ``rows``: the step rows it starts with (a fork's), stored in the same
        transaction as its row."""
        ...

    def save_items(self, items: Sequence[ItemRecord], lease: Lease | None = None) -> None:
        """Store items of one map (each run with its steps) in one transaction (see
        :meth:`save_rows`)."""
        ...

    def item_rows(self, item: ItemRecord) -> ItemRows:
        """An item's rows as :meth:`save_rows` writes them: plain values, which a map
        makes as soon as the item ends."""
        ...

    def save_rows(
        self,
        parent_run_id: str,
        parent_step: str,
        rows: Sequence[ItemRows],
        lease: Lease | None = None,
    ) -> None:
        """Store items of the map step execution ``parent_step`` of run ``parent_run_id``
        in one transaction: items that ended, and the rows of items running long enough
        to count as in flight; ``lease`` (the map's run's): as for :meth:`record_step`."""
        ...

    def load_run(self, run_id: str) -> StoredRun: ...

    def claim(self, expected: RunRecord, owner: Owner, now: float) -> Lease | None:
        """Take the run's lease if it still is as ``expected`` (compare-and-swap, the
        epoch raised); the lease, or ``None`` when the row had changed."""
        ...

    def heartbeat(self, run_ids: Sequence[str], owner: Owner, now: float) -> None: ...

    def recoverable(self, now: float, lease_seconds: float) -> list[RunRecord]:
        """``RUNNING`` and ``WAITING`` runs: the candidates for recovery."""
        ...

    def child_runs(
        self, parent_run_id: str, parent_step: str, index: int | None = None
    ) -> list[RunRecord]:
        """The item runs of map step execution ``parent_step`` (only item ``index``'s)."""
        ...

    def queue_depth(self) -> dict[str, int]:
        """How many runs wait in the queue (``PENDING``), by workflow (tried once)."""
        ...

    def latest_partitions(self, workflow_name: str) -> list[PartitionRun]:
        """The latest top-level run of each partition of ``workflow_name``."""
        ...

    def claim_pending(
        self,
        owner: Owner,
        now: float,
        workflow_names: Sequence[str],
        limit: int = 1,
        caps: Mapping[str, int] | None = None,
    ) -> list[RunRecord]:
        """Take submitted runs, oldest first; none returned had been asked to stop."""
        ...

    def record_takeover(self, run_id: str, owner: Owner, step_order: int) -> int:
        """Count a takeover from a dead owner at step execution ``step_order`` (reset
        when the run has moved on since the last one); returns the count in a row."""
        ...

    def send_signal(self, run_id: str, signal_name: str, payload_json: str, now: float) -> None:
        """Keep a signal for a live run and wake it if it waits for that signal
        (``RunNotFoundError``, ``RunEndedError``)."""
        ...

    def signals(self, run_id: str) -> list[SignalRecord]:
        """The signals sent to a run, oldest first."""
        ...

    def watch(self, wake: Callable[[str], None]) -> Watch:
        """Start a thread calling ``wake`` (with a :class:`~spine.core.status.Wakeup`)
        when a run may have become claimable; it runs until closed."""
        ...

    def cancel(self, run_id: str, now: float) -> str:
        """Cancel a run: ``"cancelled"`` (nothing executed it), ``"requested"`` (its
        runner stops at the next step boundary), or the status of a run already ended."""
        ...

    def quality_history(self, workflow_name: str, limit: int = 1000) -> list[dict[str, Any]]:
        """Quality metrics every step of ``workflow_name`` reported, oldest first."""
        ...

    def delivery_log(self) -> DeliveryLog:
        """Where the deliveries of alerts about this store's runs are recorded."""
        ...

    def close(self) -> None: ...
