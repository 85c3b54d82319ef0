"""The journal: one run's step attempts written to the store as they finish.

Each step attempt (output, context updates, where the flow goes next) is committed
before the next step starts; the run's last row is committed with its end. To
resume, :func:`spine.orchestration.engine.state.replay` rebuilds the run from them.
"""

from __future__ import annotations

import json
import math
import threading
import time
from typing import TYPE_CHECKING, Any

from spine.core.errors import DefinitionMismatchError
from spine.core.jsonvalue import JsonValueError, encode
from spine.core.records import (
    Lease,
    NextClaim,
    RunRecord,
    StepRecord,
    StoredRun,
    UnserializableOutputError,
    log_to_json,
    to_json,
)
from spine.core.status import ErrorCategory
from spine.orchestration.step_result import StepResult

if TYPE_CHECKING:
    from spine.orchestration.flow import Plan
    from spine.orchestration.history import JournalSink
    from spine.orchestration.results import StepExecution, WorkflowResult
    from spine.orchestration.step_types import Step
    from spine.orchestration.workflow import Workflow


Encoded = tuple[str, str, "str | None"]
"""A step attempt's output, context updates and quality metrics as JSON."""

NO_DATA: Encoded = ("{}", "{}", None)

STALE_LOOK = 1.0
"""Seconds after which a look at the run (before a map item) is taken again."""

LOOK_SERVES = 0.01
"""Seconds for which a look at the run that found it going on serves the map items that
start after it: a read per item would cost more than a fast item itself (the thread
gives up Python's lock for it, and waits to get it back)."""


def definition_hash(plan: Plan) -> str:
    """A fingerprint of what resuming depends on: step names, types and routing
    (computed once per plan: every map item's row carries it)."""
    if plan.fingerprint:
        return plan.fingerprint[0]
    import hashlib  # only durable runs need it; kept off the import of spine.orchestration

    shape = [
        [s.name, str(s.step_type), s.pipeline_name, s.then_step, s.else_step, s.next]
        for s in plan.steps
    ]
    digest = hashlib.sha256(json.dumps(shape).encode()).hexdigest()[:16]
    plan.fingerprint[:] = [digest]
    return digest


class Journal:
    """Writes one run's step attempts to the store as they finish."""

    __slots__ = (
        "_asked", "_last", "_looked", "_looking", "lease", "plan", "run_id", "since", "store",
        "then", "workflow_name",
    )  # fmt: skip

    def __init__(
        self,
        store: JournalSink,
        run_id: str,
        workflow_name: str,
        plan: Plan,
        *,
        clear: bool = False,
        lease: Lease | None = None,
        since: float | None = None,
        then: NextClaim | None = None,
    ) -> None:
        """``clear``: the run's row was stored, or claimed, just now and nobody had asked
        it to stop: its first step may start without reading the flag. ``lease``: the
        hold on the run every write needs (a holder whose run was taken over writes
        nothing more). ``since``: what the run's duration counts from, when not its
        start (a resumed run's execution before it ended counts, the gap does not).
        ``then``: a worker's claim of its next runs, made with the run's end."""
        self.lease = lease
        self.then = then
        self.since = since
        self.store = store
        self.run_id = run_id
        self.workflow_name = workflow_name
        self.plan = plan
        self._asked: bool | None = False if clear else None
        """Whether the run was asked to stop, as the last statement that read its flag
        saw it; ``None`` when that is not known now (time passed since)."""
        self._last: StepRecord | None = None
        self._looked = -math.inf
        """When (``time.monotonic``) the last look that found the run going on began."""
        self._looking = threading.Lock()

    def cancelled(self) -> bool:
        """Whether the run was asked to stop, at a step boundary: as the row written
        just before saw it (the same statement reads the flag), else read now."""
        asked = self._asked
        if asked is None:
            asked = self._asked = self.store.cancel_requested(self.run_id, self.lease)
        return asked

    def cancelled_now(self) -> bool:
        """Whether the run was asked to stop, read from the store (before map items:
        ``LeaseLostError`` once another process took the run over), unless a look begun
        less than :data:`LOOK_SERVES` ago found it going on. One look at a time: the
        other threads of the map wait for it (and so leave Python's lock to it and to
        the map's writer, which a look would otherwise wait for behind them). A look
        that took longer than :data:`STALE_LOOK` (the process was frozen, or the
        database away) is taken again: what it read may no longer hold when the item
        starts."""
        arrived = time.monotonic()
        if arrived - self._looked < LOOK_SERVES:
            return False
        with self._looking:
            began = time.monotonic()
            # Another thread's look, begun after this one asked (however long it took:
            # a slow database must not make the threads look one after another, but
            # not across a freeze), or just now.
            since = began - self._looked
            if since < LOOK_SERVES or (self._looked >= arrived and since < STALE_LOOK):
                return False
            asked = self.store.cancel_requested(self.run_id, self.lease)
            if time.monotonic() - began > STALE_LOOK:
                began = time.monotonic()
                asked = self.store.cancel_requested(self.run_id, self.lease)
            if not asked:
                self._looked = began
            return asked

    def map_size(self, total: int) -> None:
        """Record how many items the map step starting now has."""
        self.store.record_map_size(self.run_id, total, self.lease)

    def time_passed(self) -> None:
        """The run slept: what the last statement saw of its flag may be stale."""
        self._asked = None

    def encode(self, step: Step, result: StepResult) -> tuple[StepResult, Encoded]:
        """The result (a failure if its data cannot be stored) and its data as JSON:
        output, context updates, quality metrics (``None``: none reported)."""
        try:
            output = to_json(
                result.output, workflow=self.workflow_name, step=step.name, field_name="output"
            )
            updates = (
                to_json(
                    result.context_updates,
                    workflow=self.workflow_name,
                    step=step.name,
                    field_name="context_updates",
                )
                if result.context_updates
                else "{}"
            )
            # Encoded here, where a failure can still fail the step: its row is written
            # later, when the run must not stop half-recorded.
            quality = (
                None
                if result.quality is None
                else to_json(result.quality.to_dict(), workflow=self.workflow_name,
                             step=step.name, field_name="quality")
            )  # fmt: skip
        except UnserializableOutputError as exc:
            return StepResult.fail(str(exc), ErrorCategory.INTERNAL), NO_DATA
        return result, (output, updates, quality)

    def _step_params(self, position: int, step: Step) -> str:
        # A step's own params belong to the definition: encode them once per plan,
        # not once per run.
        cache = self.plan.params_json
        cached = cache.get(position)
        if cached is None:
            own = step.params if step.params else step.config
            try:
                cached = encode(own, "params")
            except JsonValueError:  # definition config (a client object, say): as text
                cached = encode({str(k): repr(v) for k, v in own.items()})
            cache[position] = cached
        return cached

    def finish(self, result: WorkflowResult, completed: float) -> bool:
        """Record how the run ended, with its last step's row; ``False``: it was asked
        to stop, and only ``CANCELLED`` may end it (the row is recorded)."""
        last, self._last = self._last, None
        then, self.then = self.then, None  # (a second end, the cancel's, claims nothing)
        return self.store.finish_run(
            RunRecord(
                run_id=result.run_id,
                workflow_name=result.workflow_name,
                status=result.status,
                started_at=result.started_at.timestamp() if self.since is None else self.since,
                params={},
                partition={},
                completed_at=completed,
                outputs=result.outputs,
                error=result.error,
                error_category=result.error_category,
                error_step=result.error_step,
                completed_steps=len(result.completed_steps),
                failed_steps=len(result.failed_steps),
            ),
            last,
            self.lease,
            then,
        )

    def write(
        self,
        position: int,
        step: Step,
        order: int,
        execution: StepExecution,
        encoded: Encoded,
        next_name: str | None,
    ) -> None:
        result = execution.result
        quality = result.quality if result is not None else None
        row_count = quality.record_count if quality is not None else None
        if row_count is None and result is not None:
            count = result.output.get("row_count")
            row_count = count if isinstance(count, int) else None
        record = StepRecord(
            run_id=self.run_id,
            step_order=order,
            attempt=execution.attempt,
            step_name=step.name,
            step_type=str(step.step_type),
            status=str(execution.status),
            started_at=execution._started or 0.0,
            completed_at=execution._completed or 0.0,
            output_json=encoded[0],
            context_updates_json=encoded[1],
            next_step=next_name,
            error=execution.error,
            error_category=result.error_category if result is not None else None,
            will_retry=execution.will_retry,
            quality_json=encoded[2],
            row_count=row_count,
            params_json=self._step_params(position, step),
            log_json=log_to_json(execution.log),
        )
        if next_name is None:
            # The run ends here: this row is committed with the run's end, in finish().
            self._last = record
            return
        self._asked = self.store.record_step(record, self.lease)


class ItemCapture:
    """A journal sink that keeps one map item's rows, for its map to store with others
    (in one transaction per batch; a remote item's travel back to the runner's process
    first). Its run is not told of a cancel (its map stops starting items) and sleeps
    through its waits."""

    __slots__ = ("end", "steps")

    def __init__(self) -> None:
        self.steps: list[StepRecord] = []
        self.end: RunRecord | None = None

    def record_step(self, step: StepRecord, lease: Lease | None = None) -> bool:
        self.steps.append(step)
        return False

    def finish_run(
        self,
        run: RunRecord,
        last_step: StepRecord | None = None,
        lease: Lease | None = None,
        then: NextClaim | None = None,
    ) -> bool:
        # (``then`` stays unmade: an item's journal is never given a claim to make.)
        if last_step is not None:
            self.steps.append(last_step)
        self.end = run
        return True

    def set_status(
        self,
        run_id: str,
        status: str,
        *,
        wake_at: float | None = None,
        lease: Lease | None = None,
        awaiting_signal: str | None = None,
    ) -> None:
        """Not recorded: an item sleeps through its waits."""

    def take_signal(
        self, run_id: str, signal_name: str, now: float, lease: Lease | None = None
    ) -> str | None:
        """Never asked: a map's iterator workflow may not await a signal."""
        return None

    def record_map_size(self, run_id: str, total: int, lease: Lease | None = None) -> None:
        """A nested map's size is not recorded (nor its items: see ``kinds/map_step``)."""

    def cancel_requested(self, run_id: str, lease: Lease | None = None) -> bool:
        return False

    def release(self, run_id: str, lease: Lease, status: str | None = None) -> None:
        """Nothing holds a lease on a captured item."""


def check_definition(stored: StoredRun, workflow: Workflow, plan: Plan) -> None:
    expected = stored.run.definition_hash
    actual = definition_hash(plan)
    if expected and expected != actual:
        raise DefinitionMismatchError(
            f"run {stored.run.run_id!r} was started by workflow {stored.run.workflow_name!r} "
            f"version {stored.run.workflow_version} with steps fingerprinted {expected}; the "
            f"workflow {workflow.name!r} version {workflow.version} given now has steps "
            f"fingerprinted {actual}. Resume with the definition it started with, or pass "
            "force=True to resume anyway",
            workflow=workflow.name,
        )


def json_ready(value: Any) -> Any:
    """Run-level outputs as plain data (the context's read-only mappings thawed)."""
    from spine.core.frozen import thaw

    return thaw(value)
