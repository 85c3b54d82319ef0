"""One run's state, and the one function that moves it on: :meth:`RunState.apply`.

The live step loop applies each step attempt as it finishes; resuming a run replays
its stored step rows through the same ``apply`` (:func:`replay`). So how a failure
sets the run's status, which choice branches are fenced off, where the run stands
next and which attempt comes next are decided in one place for both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from itertools import pairwise
from typing import Any, Final

from spine.core.errors import DefinitionMismatchError
from spine.core.records import RunRecord, StepRecord, StoredRun
from spine.core.status import StepStatus, WorkflowStatus
from spine.orchestration.flow import THEN, Plan
from spine.orchestration.results import StepExecution, WorkflowResult
from spine.orchestration.step_result import QualityMetrics, StepResult
from spine.orchestration.step_types import ErrorPolicy
from spine.orchestration.workflow_context import WorkflowContext


class InOrder(Enum):
    """Where a step with no explicit target sends the flow: the next in list order."""

    IN_ORDER = "in order"


IN_ORDER: Final = InOrder.IN_ORDER

_COMPLETED = WorkflowStatus.COMPLETED
_FAILED = StepStatus.FAILED
_CONTINUE = ErrorPolicy.CONTINUE


@dataclass(slots=True)
class RunState:
    """Where a run stands: its context, the next step and attempt, how it is doing."""

    plan: Plan
    ctx: WorkflowContext
    position: int = 0
    """Index of the next step to execute; ``len(plan.steps)`` once the run has ended."""
    attempt: int = 1
    step_order: int = 0
    """How many step executions (retries aside) came before the next one."""
    executions: list[StepExecution] = field(default_factory=list)
    status: WorkflowStatus = _COMPLETED
    error_step: str | None = None
    error: str | None = None
    error_category: str | None = None
    retry_at: float | None = None
    """Deadline of the retry delay the run is in, if any."""
    wait_until: float | None = None
    """Deadline of the wait step the run was in when it stopped, if any."""
    block: bool | None = None
    """Sleep through waits whatever the runner says (map items: their map step waits)."""
    fences: dict[str, frozenset[str]] = field(default_factory=dict)
    """The fences of the choices taken so far (see ``flow.py``), by choice."""
    fenced: frozenset[str] = frozenset()
    """Their union: the steps walking in list order may not enter."""
    fresh: bool = False
    """The run's first execution (its row new, or submitted and never run): what the
    ``spine.runs.started`` metric counts."""

    @classmethod
    def start(cls, plan: Plan, ctx: WorkflowContext, position: int = 0) -> RunState:
        """A run about to execute ``position`` with ``ctx``: the fences of the choices
        its context already took hold (``execute(context=..., start_from=...)``)."""
        if not (plan.fences and ctx.outputs):
            return cls(plan, ctx, position, fresh=True)
        fences = plan.fences_taken(ctx.outputs)
        fenced: frozenset[str] = frozenset().union(*fences.values())
        return cls(plan, ctx, position, fences=fences, fenced=fenced, fresh=True)

    @property
    def steps_run(self) -> int:
        return self.step_order

    def apply(self, execution: StepExecution, next_step: str | InOrder | None) -> str | None:
        """Fold one finished step attempt into the run; return the step the flow goes
        to next (``None``: the run ends).

        ``next_step`` is that step as the step loop chose it live or as its row
        recorded it; :data:`IN_ORDER` (live only) means the next step in list order,
        unless a choice taken so far (this one included) fenced it off. A retried
        attempt only moves on to the next attempt of the same step.
        """
        self.executions.append(execution)
        if execution.will_retry:
            self.attempt = execution.attempt + 1
            return execution.step_name
        name = execution.step_name
        plan = self.plan
        result = execution.result
        output = result.output if result is not None else {}
        if execution.status == _FAILED:
            if output:
                self.ctx = self.ctx.with_output(name, output)
            found = plan.index.get(name)
            policy = plan.steps[found].on_error if found is not None else ErrorPolicy.STOP
            if self.error_step is None or policy is not _CONTINUE:
                self.error_step, self.error = name, execution.error
                self.error_category = result.error_category if result is not None else None
            self.status = WorkflowStatus.PARTIAL if policy is _CONTINUE else WorkflowStatus.FAILED
        else:
            updates = result.context_updates if result is not None else None
            self.ctx = self.ctx.with_step_result(name, output, updates)
        fences = plan.fences
        if fences and (name, THEN) in fences:
            fence = fences.get((name, output.get("branch", "")))
            if fence:
                self.fences[name] = fence
            else:
                self.fences.pop(name, None)
            self.fenced = frozenset().union(*self.fences.values())
        steps = plan.steps
        if next_step is IN_ORDER:
            following = self.position + 1
            next_step = steps[following].name if following < len(steps) else None
            if next_step in self.fenced:
                next_step = None
        found = None if next_step is None else plan.index.get(next_step)
        self.position = len(steps) if found is None else found
        self.step_order += 1
        self.attempt = 1
        return next_step

    def step_name(self) -> str:
        """The name of the step the run is at (``"(none)"`` past its last)."""
        steps = self.plan.steps
        return steps[self.position].name if self.position < len(steps) else "(none)"

    def stop(self, step_name: str, error: str, category: str, status: WorkflowStatus) -> None:
        """End the run before ``step_name`` (cancelled, or out of step budget)."""
        self.status = status
        self.error_step, self.error, self.error_category = step_name, error, category
        self.position = len(self.plan.steps)

    def unfinished(self, workflow_name: str, status: WorkflowStatus) -> WorkflowResult:
        """The result of an execution that ends before its run does: the run waits
        (``WAITING``) or goes on in another process (``RUNNING``)."""
        ctx = self.ctx
        return WorkflowResult(
            workflow_name=workflow_name,
            run_id=ctx.run_id,
            status=status,
            context=ctx,
            started_at=ctx.started_at,
            completed_at=None,
            step_executions=self.executions,
        )

    def result(self, workflow_name: str, started_at: datetime, completed: float) -> WorkflowResult:
        return WorkflowResult(
            workflow_name=workflow_name,
            run_id=self.ctx.run_id,
            status=self.status,
            context=self.ctx,
            started_at=started_at,
            completed_at=utc(completed),
            step_executions=self.executions,
            error_step=self.error_step,
            error=self.error,
            error_category=self.error_category,
        )


def replay(stored: StoredRun, plan: Plan, base_params: Mapping[str, Any] | None = None) -> RunState:
    """Rebuild a stored run's state from its step rows, to continue it.

    A map item's row keeps only the params it adds; ``base_params`` are those of its
    map's run at the map step, beneath them. A failure that stopped the run, and every
    earlier one that a resume already tried again, counts as an attempt to be
    retried: resuming executes that step once more, and the run's status follows
    from what that attempt does, not from the failures before it.
    """
    run = stored.run
    ctx = WorkflowContext(
        run_id=run.run_id,
        workflow_name=run.workflow_name,
        params=run.params if base_params is None else {**base_params, **run.params},
        partition=run.partition,
        started_at=utc(run.started_at),
        metadata={"dry_run": run.dry_run},
    )
    state = RunState(plan, ctx)
    rows = stored.steps
    if not rows:
        # Not a step yet recorded: it starts where it started (``start_from``).
        state.position = plan.index.get(run.first_step or "", 0)
        if run.status == WorkflowStatus.WAITING:  # waiting in its first step
            state.wait_until = run.wake_at
        return state
    last = rows[-1]
    stopped = _stopped_the_run(plan, last)
    for row, following in pairwise(rows):
        # A resume executed this step again (same order): this row is an earlier attempt.
        state.apply(_execution(row, row.will_retry or following.step_order == row.step_order),
                    row.next_step)  # fmt: skip
    state.apply(_execution(last, last.will_retry or stopped), last.next_step)
    if last.will_retry or stopped:
        state.position = _position(plan, run, last.step_name)
        state.retry_at = run.wake_at if last.will_retry else None
    elif last.next_step is not None:
        _position(plan, run, last.next_step)
        # The deadline of a wait the run is in, not a stale one of a wait already done
        # (a deadline no later than the last row's end belongs to a wait already done).
        wake_at = run.wake_at
        if run.status == WorkflowStatus.WAITING and wake_at is not None:
            state.wait_until = wake_at if wake_at > last.completed_at else None
    return state


def _stopped_the_run(plan: Plan, row: StepRecord) -> bool:
    """Whether ``row`` is a failure the run stopped on (a resume tries that step again)."""
    if row.status != _FAILED or row.will_retry or row.next_step is not None:
        return False
    found = plan.index.get(row.step_name)
    return found is None or plan.steps[found].on_error is not _CONTINUE


def _execution(row: StepRecord, retried: bool) -> StepExecution:
    quality = row.quality
    failed = row.status == _FAILED
    result = StepResult(
        not failed,
        output=row.output,
        context_updates=row.context_updates,
        error=row.error,
        error_category=row.error_category,
        quality=QualityMetrics.from_dict(quality) if quality else None,
        skipped=row.status == StepStatus.SKIPPED,
    )
    return StepExecution(
        row.step_name, row.step_type, row.status, row.started_at, row.completed_at,
        result, row.error, row.attempt, retried,
    )  # fmt: skip


def _position(plan: Plan, run: RunRecord, step_name: str) -> int:
    position = plan.index.get(step_name)
    if position is not None:
        return position
    raise DefinitionMismatchError(
        f"run {run.run_id!r} of workflow {run.workflow_name!r} continues at step "
        f"{step_name!r}, which the workflow given now does not have",
        workflow=run.workflow_name,
        step=step_name,
    )


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
