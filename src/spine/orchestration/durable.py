"""Durable execution: journaling a run step by step, and rebuilding it to resume.

The runner journals each step attempt (output, context updates, where the flow
goes next) and commits it before the next step starts. To resume, the context is
replayed from those rows and execution continues where the last row points: a
retried attempt continues with the next attempt, a run that stopped on a failure
re-executes that step, anything else goes on to the recorded next step.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from spine.core.errors import DefinitionMismatchError
from spine.core.records import (
    RunRecord,
    StepRecord,
    StoredRun,
    UnserializableOutputError,
    to_json,
)
from spine.orchestration.history import JournalSink
from spine.orchestration.results import (
    StepExecution,
    StepStatus,
    WorkflowResult,
    WorkflowStatus,
)
from spine.orchestration.step_result import ErrorCategory, QualityMetrics, StepResult
from spine.orchestration.step_types import ErrorPolicy, Step
from spine.orchestration.workflow_context import WorkflowContext

if TYPE_CHECKING:
    from spine.orchestration.flow import Plan
    from spine.orchestration.workflow import Workflow


def definition_hash(plan: Plan) -> str:
    """A fingerprint of what resuming depends on: step names, types and routing."""
    import hashlib  # only durable runs need it; kept off the import of spine.orchestration

    shape = [
        [s.name, str(s.step_type), s.pipeline_name, s.then_step, s.else_step, s.next]
        for s in plan.steps
    ]
    return hashlib.sha256(json.dumps(shape).encode()).hexdigest()[:16]


class Journal:
    """Writes one run's step attempts to the store as they finish."""

    __slots__ = ("_last", "_next_look", "plan", "run_id", "store", "workflow_name")

    CANCEL_LOOK_SECONDS = 0.2
    """How often, at most, a step boundary asks the store whether to stop."""

    def __init__(self, store: JournalSink, run_id: str, workflow_name: str, plan: Plan) -> None:
        self.store = store
        self.run_id = run_id
        self.workflow_name = workflow_name
        self.plan = plan
        # A run that was asked to stop before it started never starts (cancel() ends
        # pending and waiting runs itself), so the first look can wait too.
        self._next_look = time.monotonic() + self.CANCEL_LOOK_SECONDS
        self._last: StepRecord | None = None

    def cancelled(self) -> bool:
        """Whether cancellation was requested (read from the store at most every 0.2 s,
        so a run of many short steps does not pay a query per step)."""
        now = time.monotonic()
        if now < self._next_look:
            return False
        self._next_look = now + self.CANCEL_LOOK_SECONDS
        return self.store.cancel_requested(self.run_id)

    def encode(self, step: Step, result: StepResult) -> tuple[StepResult, str, str]:
        """The result (a failure if its data cannot be stored) and its data as JSON."""
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
        except UnserializableOutputError as exc:
            return StepResult.fail(str(exc), ErrorCategory.INTERNAL), "{}", "{}"
        return result, output, updates

    def _step_params(self, position: int, step: Step) -> str:
        # A step's own params belong to the definition: encode them once per plan,
        # not once per run.
        cache = self.plan.params_json
        cached = cache.get(position)
        if cached is None:
            own = step.params if step.params else step.config
            try:
                cached = json.dumps(own)
            except (TypeError, ValueError):
                cached = json.dumps({k: repr(v) for k, v in own.items()})
            cache[position] = cached
        return cached

    def finish(self, result: WorkflowResult, completed: float) -> None:
        """Record how the run ended (or that it now waits), with its last step's row."""
        last, self._last = self._last, None
        self.store.finish_run(
            RunRecord(
                run_id=result.run_id,
                workflow_name=result.workflow_name,
                status=result.status,
                started_at=result.started_at.timestamp(),
                params={},
                partition={},
                completed_at=completed,
                outputs=None if result.status == WorkflowStatus.WAITING else result.outputs,
                error=result.error,
                error_category=result.error_category,
                error_step=result.error_step,
                completed_steps=len(result.completed_steps),
                failed_steps=len(result.failed_steps),
            ),
            last,
        )

    def write(
        self,
        position: int,
        step: Step,
        order: int,
        execution: StepExecution,
        encoded: tuple[str, str],
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
            quality_json=None if quality is None else json.dumps(quality.to_dict()),
            row_count=row_count,
            params_json=self._step_params(position, step),
        )
        if next_name is None:
            # The run ends here: this row is committed with the run's end, in finish().
            self._last = record
            return
        self.store.record_step(record)


@dataclass
class Resumption:
    """Where and how a stored run continues."""

    ctx: WorkflowContext
    position: int | None
    """Index of the next step to execute; ``None`` when the run had reached its end."""
    attempt: int = 1
    step_order: int = 0
    executions: list[StepExecution] = field(default_factory=list)
    status: WorkflowStatus = WorkflowStatus.COMPLETED
    error_step: str | None = None
    error: str | None = None
    error_category: str | None = None
    steps_run: int = 0
    wake_at: float | None = None
    """Deadline of the wait or retry delay the run was in, if any."""
    block: bool | None = None
    """Sleep through waits whatever the runner says (map items: their map step waits)."""


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


def rebuild(
    stored: StoredRun, plan: Plan, base_params: Mapping[str, Any] | None = None
) -> Resumption:
    """Replay a stored run's rows into a context and the point to continue from.

    A map item's row keeps only the params it adds; ``base_params`` are those of its
    map's run at the map step, beneath them.
    """
    run = stored.run
    ctx = WorkflowContext(
        run_id=run.run_id,
        workflow_name=run.workflow_name,
        params=run.params if base_params is None else {**base_params, **run.params},
        partition=run.partition,
        started_at=datetime.fromtimestamp(run.started_at, UTC),
        metadata={"dry_run": run.dry_run},
    )
    state = Resumption(ctx=ctx, position=0)
    rows = stored.steps
    last = rows[-1] if rows else None
    # A run that stopped on a failure is resumed by trying that step again: its
    # last row becomes an earlier attempt rather than the run's failure.
    stopped = (
        last is not None
        and last.status == StepStatus.FAILED
        and not last.will_retry
        and last.next_step is None
        and _policy(plan, last.step_name) is not ErrorPolicy.CONTINUE
    )
    orders: set[int] = set()
    for row in rows:
        orders.add(row.step_order)
        quality = row.quality
        output = row.output
        updates = row.context_updates
        failed = row.status == StepStatus.FAILED
        result = StepResult(
            not failed,
            output=output,
            context_updates=updates,
            error=row.error,
            error_category=row.error_category,
            quality=QualityMetrics.from_dict(quality) if quality else None,
            skipped=row.status == StepStatus.SKIPPED,
        )
        retried = row.will_retry or (stopped and row is last)
        state.executions.append(
            StepExecution(
                row.step_name, row.step_type, row.status, row.started_at, row.completed_at,
                result, row.error, row.attempt, retried,
            )
        )  # fmt: skip
        if retried:
            continue
        if not failed:
            state.ctx = state.ctx.with_step_result(row.step_name, output, updates)
            continue
        if output:
            state.ctx = state.ctx.with_output(row.step_name, output)
        policy = _policy(plan, row.step_name)
        if state.error_step is None or policy is not ErrorPolicy.CONTINUE:
            state.error_step, state.error = row.step_name, row.error
            state.error_category = row.error_category
        state.status = (
            WorkflowStatus.PARTIAL if policy is ErrorPolicy.CONTINUE else WorkflowStatus.FAILED
        )
    state.steps_run = len(orders)
    if last is None:
        return state
    if last.will_retry or stopped:
        state.position = _position(plan, run, last.step_name)
        state.attempt = last.attempt + 1
        state.step_order = last.step_order
        state.steps_run -= 1
        state.wake_at = run.wake_at if last.will_retry else None
    elif last.next_step is None:
        state.position = None
    else:
        state.position = _position(plan, run, last.next_step)
        state.step_order = last.step_order + 1
        # The deadline of a wait the run is in, not a stale one of a wait already done.
        # (A deadline no later than the last row's end belongs to a wait already done.)
        wake_at = run.wake_at if run.status == WorkflowStatus.WAITING else None
        next_is_wait = str(plan.steps[state.position].step_type) == "wait"
        if wake_at is not None and next_is_wait and wake_at > last.completed_at:
            state.wake_at = wake_at
    return state


def _policy(plan: Plan, step_name: str) -> ErrorPolicy:
    position = plan.index.get(step_name)
    return plan.steps[position].on_error if position is not None else ErrorPolicy.STOP


def _position(plan: Plan, run: RunRecord, step_name: str) -> int:
    position = plan.index.get(step_name)
    if position is None:
        raise DefinitionMismatchError(
            f"run {run.run_id!r} of workflow {run.workflow_name!r} continues at step "
            f"{step_name!r}, which the workflow given now does not have",
            workflow=run.workflow_name,
            step=step_name,
        )
    return position


def utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def stored_result(
    run: RunRecord, ctx: WorkflowContext, executions: list[StepExecution] | None = None
) -> WorkflowResult:
    """A ``WorkflowResult`` for a run as its row records it (nothing executed now)."""
    return WorkflowResult(
        workflow_name=run.workflow_name,
        run_id=run.run_id,
        status=WorkflowStatus(run.status),
        context=ctx,
        started_at=utc(run.started_at),
        completed_at=utc(run.completed_at) if run.completed_at is not None else None,
        step_executions=executions,
        error_step=run.error_step,
        error=run.error,
        error_category=run.error_category,
    )


def json_ready(value: Any) -> Any:
    """Run-level outputs as plain data (the context's read-only mappings thawed)."""
    from spine.core.frozen import thaw

    return thaw(value)
