"""What a step kind may use: the frozen :class:`Services` of one run.

Step kinds receive these and never the runner: a clock, the dispatcher (and a
spine-core ``Runnable``, if one runs pipelines), the executor, the run's journal and
sleeper, and :class:`ChildRuns` for map steps. A run without history shares its
runner's services; a run with history gets its own journal and sleeper.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from spine.core.status import WorkflowStatus
from spine.execution.capture import DEFAULT_LIMIT

if TYPE_CHECKING:
    from spine.core.clock import Clock
    from spine.core.records import ItemRecord, ItemRows, Lease, RunRecord, StoredRun
    from spine.execution.context import ExecutionContext
    from spine.execution.executors import Executor
    from spine.execution.runnable import Runnable
    from spine.framework.dispatcher import Dispatcher
    from spine.orchestration.engine.journal import ItemCapture, Journal
    from spine.orchestration.engine.telemetry import Tracing
    from spine.orchestration.flow import Plan
    from spine.orchestration.results import StepExecution, WorkflowResult
    from spine.orchestration.workflow import Workflow
    from spine.orchestration.workflow_context import WorkflowContext


class Suspended(Exception):
    """Raised by a sleeper when the run must wait without this process: the step loop
    leaves the run ``WAITING`` and returns."""


class Cancelled(Exception):
    """The run was asked to stop; the step loop ends it ``CANCELLED``. The argument
    says where it stood: ``"before"`` the step (a boundary) or ``"during"`` it (a
    wait cut short)."""


class OutOfTime(Exception):
    """The run's ``Workflow(timeout_seconds=)`` passed before its next attempt: the
    step loop ends it ``FAILED`` with category ``TIMEOUT``."""


class Sleeper(Protocol):
    """How a run waits: wait steps, and the delays before retries."""

    def wait(self, seconds: float) -> None:
        """A wait step of ``seconds`` (or the rest of the one the run was in)."""

    def delay(self, deadline: float) -> None:
        """The delay before the next attempt of a failed step."""

    def settle(self) -> None:
        """The step's row is committed: a wait is over for good."""


class ClockSleeper:
    """Waits of a run without history: it sleeps on its clock."""

    __slots__ = ("_clock",)

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def wait(self, seconds: float) -> None:
        self._clock.sleep(seconds)

    def delay(self, deadline: float) -> None:
        self._clock.sleep(deadline - self._clock.time())

    def settle(self) -> None:
        """Nothing was recorded."""


class DurableSleeper:
    """Waits of a run with history: the deadline is stored first, so a run whose
    process dies resumes at it; a run that does not ``block`` is suspended instead
    (left ``WAITING`` for a worker to resume when it is due). A wait slept through
    asks the store whether the run was asked to stop, between slices of it."""

    POLL_SECONDS = 0.25
    """The slices a wait is slept in: how long, at most, a cancel goes unnoticed."""

    FOREVER = 253402300799.0
    """The deadline stored for a signal awaited without a timeout (9999-12-31)."""

    __slots__ = ("_block", "_clock", "_journal", "_resume_at", "_waiting")

    def __init__(
        self,
        journal: Journal,
        clock: Clock,
        block: bool,
        resume_at: float | None = None,
    ) -> None:
        self._journal = journal
        self._clock = clock
        self._block = block
        self._resume_at = resume_at
        """The deadline of the wait the run was in when it stopped, if any."""
        self._waiting = False

    def wait(self, seconds: float) -> None:
        deadline = self._resume_at
        if deadline is None:
            deadline = self._clock.time() + seconds
        self._resume_at = None
        self._pause(deadline, waiting=True)
        # The run stays WAITING until the wait step's row is committed (settle): a crash
        # in between resumes at the deadline already passed, not a fresh wait.
        self._waiting = True

    def delay(self, deadline: float) -> None:
        self._pause(deadline, waiting=False)

    def await_signal(self, signal_name: str, timeout: float | None) -> str | None:
        """The payload (JSON) of the signal ``signal_name`` sent to the run, or ``None``
        once ``timeout`` passed without one. Waiting, the run is ``WAITING`` until the
        deadline (kept across resumes); a signal sent makes it due at once."""
        journal, clock = self._journal, self._clock
        deadline = self._resume_at
        if deadline is None:
            deadline = self.FOREVER if timeout is None else clock.time() + timeout
        self._resume_at = None

        def take() -> str | None:
            return journal.store.take_signal(
                journal.run_id, signal_name, clock.time(), journal.lease
            )

        payload = take()
        if payload is not None or deadline <= clock.time():
            return payload
        journal.store.set_status(journal.run_id, WorkflowStatus.WAITING, wake_at=deadline,
                                 lease=journal.lease, awaiting_signal=signal_name)  # fmt: skip
        self._waiting = True
        # Taken again now that the run is marked: a signal sent in between found it
        # not yet waiting, so it did not make it due.
        payload = take()
        if payload is not None:
            return payload
        if not self._block:
            raise Suspended
        # Slept through in slices, looking for the signal (and a cancel) after each.
        while payload is None and (left := deadline - clock.time()) > 0:
            clock.sleep(min(left, self.POLL_SECONDS))
            payload = take()
            if payload is None and journal.cancelled_now():
                raise Cancelled("during")
        journal.time_passed()
        return payload

    def settle(self) -> None:
        self._resume_at = None
        if self._waiting:
            self._waiting = False
            journal = self._journal
            journal.store.set_status(journal.run_id, WorkflowStatus.RUNNING, lease=journal.lease)

    def _pause(self, deadline: float, waiting: bool) -> None:
        journal = self._journal
        now = self._clock.time()
        suspend = not self._block and deadline > now
        status = WorkflowStatus.WAITING if waiting or suspend else WorkflowStatus.RUNNING
        journal.store.set_status(journal.run_id, status, wake_at=deadline, lease=journal.lease)
        if suspend:
            raise Suspended
        if waiting:
            self._sleep_until(deadline)
        else:
            # A retry delay is slept in one piece (the attempt after it checks the
            # flag first), so a fake clock records it as one sleep.
            self._clock.sleep(deadline - now)
        journal.time_passed()

    def _sleep_until(self, deadline: float) -> None:
        """Sleep on the clock in slices, asking between them (at most every
        ``POLL_SECONDS`` of real time, so a fake clock's instant sleeps ask nothing)
        whether the run was asked to stop."""
        clock, poll = self._clock, self.POLL_SECONDS
        next_look = time.monotonic() + poll
        while True:
            left = deadline - clock.time()
            clock.sleep(min(left, poll))
            if left <= poll:
                return
            if time.monotonic() >= next_look:
                if self._journal.cancelled_now():
                    raise Cancelled("during")
                next_look = time.monotonic() + poll


class ChildRuns(Protocol):
    """The runs of a map step's items: what the map kinds ask of whoever runs them
    (with history, each item is a run of its own in the store)."""

    @property
    def run_elsewhere(self) -> Callable[..., Any]:
        """The function a remote map sends to other processes to run a chunk of items."""

    def earlier(
        self, parent_run_id: str, key: str, index: int | None = None
    ) -> dict[int, RunRecord]:
        """The stored item runs of the map step execution ``key``, by item index (only
        item ``index``'s, when given)."""

    @property
    def recorded(self) -> bool:
        """Whether items are stored: the runner keeps history, and the map is not inside
        an item recorded whole (whose map's items are recorded in its output only)."""

    def run_item(self, workflow: Workflow, ctx: WorkflowContext) -> WorkflowResult:
        """Run a new item without history."""

    def run_captured(
        self, workflow: Workflow, ctx: WorkflowContext
    ) -> tuple[WorkflowResult, ItemCapture]:
        """Run a new item in this process, its rows captured for its map to store."""

    def continue_item(
        self, workflow: Workflow, record: RunRecord, base_params: Mapping[str, Any]
    ) -> WorkflowResult:
        """A stored item: its result if it completed, else the item resumed."""

    def item_record(
        self,
        workflow: Workflow,
        plan: Plan,
        ctx: WorkflowContext,
        parent: ExecutionContext,
        key: str,
        index: int,
        own_params: Mapping[str, Any],
    ) -> RunRecord:
        """The row of a new item, not stored (its map stores it when the item ends)."""

    def load(self, run_id: str) -> StoredRun | None:
        """A stored item with its step rows (``None`` without history)."""

    def rows(self, item: ItemRecord) -> ItemRows:
        """An item's rows as :meth:`save` stores them (plain values: made when the item
        ends, they are all an item waiting for its batch keeps)."""

    def save(
        self, parent_run_id: str, key: str, rows: Sequence[ItemRows], lease: Lease | None
    ) -> None:
        """Store items of the map step execution ``key`` of run ``parent_run_id``, each
        with its step rows, in one transaction (only while ``lease``, the map's run's,
        holds it)."""


StepCallback = Callable[[str, "StepExecution"], object]


@dataclass(frozen=True, slots=True)
class Services:
    """Everything a step kind may use. Frozen: a runner reconfigured after it was built
    makes a new one."""

    clock: Clock
    dispatcher: Dispatcher
    runnable: Runnable | None
    """A spine-core ``Runnable`` that runs pipeline steps instead of the dispatcher."""
    executor: Executor
    children: ChildRuns
    sleeper: Sleeper
    journal: Journal | None = None
    """Where the run's step attempts are recorded (``None``: no history)."""
    dry_run: bool = False
    max_steps: int = 10_000
    on_step: StepCallback | None = None
    log_limit: int = DEFAULT_LIMIT
    """Bytes of text each step attempt's log keeps (:mod:`spine.execution.capture`)."""
    tracing: Tracing | None = None
    """Where spans and metrics go (``None``: nowhere, see ``engine/telemetry.py``)."""
