"""``WorkflowRunner``: executes a workflow's steps, in one process, and reports the run."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from spine.core.clock import SYSTEM_CLOCK, Clock
from spine.core.errors import WorkflowValidationError
from spine.core.frozen import freeze_dict
from spine.execution.runnable import Runnable
from spine.framework.dispatcher import Dispatcher
from spine.orchestration.flow import Plan, plan_for
from spine.orchestration.results import (
    StepExecution,
    StepStatus,
    WorkflowResult,
    WorkflowStatus,
)
from spine.orchestration.retry import RetryPolicy
from spine.orchestration.step_execution import StepExecutor
from spine.orchestration.step_result import ErrorCategory, StepResult
from spine.orchestration.step_types import ErrorPolicy, Step, StepType
from spine.orchestration.workflow import Workflow
from spine.orchestration.workflow_context import WorkflowContext

DEFAULT_MAX_STEPS = 10_000
_DEFAULT_RETRY = RetryPolicy()


class WorkflowRunner:
    """Executes workflows.

    ``execute`` never raises for a step's failure: the returned
    :class:`WorkflowResult` says which step failed and why. It raises
    :class:`~spine.core.errors.WorkflowValidationError` only for an invalid request
    (``start_from`` naming no step).

    Args:
        runnable: an object with ``submit_pipeline_sync`` (spine-core's
            ``Runnable``) to run pipeline steps; by default they run through
            ``dispatcher``.
        dry_run: never call pipelines (their output is
            ``{"dry_run": True, "pipeline": name}``) and never sleep in waits.
        dispatcher: runs pipeline steps; ``Dispatcher()`` (the default registry)
            if omitted.
        max_steps: most steps one run executes, so a loop of choices ends.
        clock: where time is read and retry delays and waits sleep.
    """

    def __init__(
        self,
        runnable: Runnable | None = None,
        *,
        dry_run: bool = False,
        dispatcher: Dispatcher | None = None,
        max_steps: int = DEFAULT_MAX_STEPS,
        clock: Clock | None = None,
    ) -> None:
        if not isinstance(max_steps, int) or max_steps < 1:
            raise ValueError(f"max_steps must be an integer >= 1, got {max_steps!r}")
        if isinstance(runnable, Dispatcher):
            dispatcher, runnable = runnable, None
        self.dry_run = dry_run
        self.max_steps = max_steps
        self.clock: Clock = clock or SYSTEM_CLOCK
        self.dispatcher = dispatcher or Dispatcher()
        self.foreign_runnable = runnable
        """A spine-core ``Runnable`` that runs pipeline steps instead of the dispatcher."""
        self._executor = StepExecutor(self)

    @property
    def runnable(self) -> Runnable:
        """What runs pipeline steps (spine-core's name for it)."""
        return self.foreign_runnable if self.foreign_runnable is not None else self.dispatcher

    def execute(
        self,
        workflow: Workflow,
        params: Mapping[str, Any] | None = None,
        partition: Mapping[str, Any] | None = None,
        context: WorkflowContext | None = None,
        start_from: str | None = None,
    ) -> WorkflowResult:
        """Run ``workflow`` and return its result.

        With ``context`` (a saved ``WorkflowContext``) the run keeps that context's
        run id, params and outputs; ``start_from`` names the first step to execute,
        so steps before it are not run again.
        """
        plan = plan_for(workflow)
        start = 0
        if start_from is not None:
            found = plan.index.get(start_from)
            if found is None:
                raise WorkflowValidationError(
                    f"workflow {workflow.name!r}: Start step not found: "
                    f"start_from={start_from!r} names no step (steps: "
                    f"{', '.join(s.name for s in plan.steps) or 'none'})",
                    workflow=workflow.name,
                    step=start_from,
                )
            start = found
        ctx = self._initial_context(workflow, params, partition, context)
        return self._run(workflow, plan, ctx, start)

    def _initial_context(
        self,
        workflow: Workflow,
        params: Mapping[str, Any] | None,
        partition: Mapping[str, Any] | None,
        context: WorkflowContext | None,
    ) -> WorkflowContext:
        defaults = workflow.defaults
        if context is None:
            merged = {**defaults, **params} if defaults and params else params or defaults
            return WorkflowContext.create(
                workflow.name, params=merged, partition=partition, dry_run=self.dry_run
            )
        missing = {k: v for k, v in defaults.items() if k not in context.params}
        if missing or params:
            context = context.with_params({**missing, **(params or {})})
        if context.is_dry_run != self.dry_run:
            context = context.with_metadata({"dry_run": self.dry_run})
        if (partition is not None and partition != context.partition) or not context.workflow_name:
            context = context.rebased(
                workflow_name=context.workflow_name or workflow.name,
                partition=context.partition if partition is None else partition,
            )
        return context

    def run_child(self, workflow: Workflow, context: WorkflowContext) -> WorkflowResult:
        """Run a map item's workflow from its first step (used by map steps)."""
        return self._run(workflow, plan_for(workflow), context, 0)

    def _retry_policy(self, step: Step) -> RetryPolicy | None:
        if step.retry is not None:
            return step.retry
        return _DEFAULT_RETRY if step.on_error is ErrorPolicy.RETRY else None

    def _run(
        self, workflow: Workflow, plan: Plan, ctx: WorkflowContext, start: int
    ) -> WorkflowResult:
        now = self.clock.time
        started = now()
        steps = plan.steps
        index = plan.index
        total = len(steps)
        executions: list[StepExecution] = []
        record = executions.append
        run_step = self._executor.run
        name = workflow.name
        # Fences of the choices taken so far (see flow.py), and their union. A
        # resumed run starts with those of the choices its context already took.
        fences = plan.fences_taken(ctx.outputs) if start else {}
        fenced: frozenset[str] = frozenset().union(*fences.values())
        status = WorkflowStatus.COMPLETED
        error_step: str | None = None
        error: str | None = None
        category: str | None = None
        budget = self.max_steps
        position = start
        while position < total:
            step = steps[position]
            if budget == 0:
                status = WorkflowStatus.FAILED
                error_step = step.name
                error = (
                    f"workflow {name!r} reached max_steps={self.max_steps} before step "
                    f"{step.name!r}; a choice loop that never exits? Raise "
                    "WorkflowRunner(max_steps=...) if the run really needs more steps"
                )
                category = ErrorCategory.CONFIGURATION.value
                break
            budget -= 1
            attempt = 1
            while True:
                t0 = now()
                result, children = run_step(name, step, ctx, attempt)
                t1 = now()
                jump = result.next_step or step.next
                if jump is not None and jump not in index:
                    result = StepResult.fail(
                        f"workflow {name!r}, step {step.name!r}: next step {jump!r} "
                        "names no step of this workflow",
                        ErrorCategory.CONFIGURATION,
                    )
                if result.success:
                    break
                policy = self._retry_policy(step)
                if policy is None or not policy.should_retry(attempt, result.error_category):
                    break
                record(
                    StepExecution(
                        step.name, step.step_type, StepStatus.FAILED, t0, t1, result,
                        result.error, attempt, True, children,
                    )
                )  # fmt: skip
                self.clock.sleep(policy.delay_seconds(attempt))
                attempt += 1
            if result.success:
                output = result.output = freeze_dict(result.output)
                ctx = ctx.with_step_result(step.name, output, result.context_updates)
                outcome = StepStatus.SKIPPED if result.skipped else StepStatus.COMPLETED
            else:
                if result.output:
                    ctx = ctx.with_output(step.name, result.output)
                outcome = StepStatus.FAILED
            record(
                StepExecution(
                    step.name, step.step_type, outcome, t0, t1, result, result.error, attempt,
                    False, children,
                )
            )  # fmt: skip
            if not result.success:
                if error_step is None or step.on_error is not ErrorPolicy.CONTINUE:
                    error_step, error, category = step.name, result.error, result.error_category
                if step.on_error is ErrorPolicy.CONTINUE:
                    status = WorkflowStatus.PARTIAL
                else:
                    status = WorkflowStatus.FAILED
                    break
            if step.step_type is StepType.CHOICE:
                fence = plan.fences.get((step.name, result.output.get("branch", "")))
                if fence:
                    fences[step.name] = fence
                else:
                    fences.pop(step.name, None)
                fenced = frozenset().union(*fences.values())
            target = result.next_step or step.next
            if target is None:
                position += 1
                if fenced and position < total and steps[position].name in fenced:
                    break
                continue
            found = index.get(target)
            if found is None:
                # Only a failed step whose next= names no step gets here (the
                # failure above recorded why): nothing valid follows it.
                status = WorkflowStatus.FAILED
                break
            position = found
        return WorkflowResult(
            workflow_name=name,
            run_id=ctx.run_id,
            status=status,
            context=ctx,
            started_at=datetime.fromtimestamp(started, UTC),
            completed_at=datetime.fromtimestamp(now(), UTC),
            step_executions=executions,
            error_step=error_step,
            error=error,
            error_category=category,
        )


def get_workflow_runner(runnable: Runnable | None = None, dry_run: bool = False) -> WorkflowRunner:
    """A new runner (spine-core's factory)."""
    return WorkflowRunner(runnable, dry_run=dry_run)


__all__ = [
    "StepExecution",
    "StepResult",
    "WorkflowResult",
    "WorkflowRunner",
    "WorkflowStatus",
    "get_workflow_runner",
]
