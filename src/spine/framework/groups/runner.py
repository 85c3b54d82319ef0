"""Running a group's plan: sequentially, or on a bounded thread pool.

Both modes share one scheduling loop on the calling thread, which alone keeps the
books (what is waiting, what completed, what to skip). Sequential mode hands each
step to an executor that runs it at once on that same thread; parallel mode to a
``ThreadPoolExecutor`` of ``max_concurrency`` workers.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ThreadPoolExecutor, wait
from contextvars import copy_context
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar

from spine.core.clock import SYSTEM_CLOCK, Clock
from spine.core.errors import PipelineError, describe_exception
from spine.core.status import StepStatus
from spine.execution.context import ExecutionContext, current_execution
from spine.framework.dispatcher import Dispatcher
from spine.framework.groups.group import PipelineGroup
from spine.framework.groups.model import ExecutionMode, FailurePolicy
from spine.framework.groups.plan import ExecutionPlan, PlannedStep, PlanResolver
from spine.framework.groups.results import (
    GroupExecutionResult,
    GroupExecutionStatus,
    GroupStepExecution,
)
from spine.framework.pipelines import PipelineResult, PipelineStatus

logger = logging.getLogger("spine.framework.groups")

P = ParamSpec("P")
T = TypeVar("T")


class _Inline(Executor):
    """Runs each submitted call at once on the calling thread (sequential mode)."""

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        future: Future[T] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # re-raised by future.result(), as a pool would
            future.set_exception(exc)
        return future


class _Progress:
    """The books of one run: waiting steps, finished steps, and why the rest never ran."""

    def __init__(self, plan: ExecutionPlan) -> None:
        self.plan = plan
        self.waiting: dict[str, PlannedStep] = {step.step_name: step for step in plan.steps}
        self.finished: dict[str, GroupStepExecution] = {}
        self.failures: list[GroupStepExecution] = []
        """Failed steps in the order they failed."""
        self.stop_reason: str | None = None
        self.timed_out = False
        self.dependents: dict[str, list[str]] = {step.step_name: [] for step in plan.steps}
        self.unmet: dict[str, int] = {}
        """How many of a step's dependencies have not completed yet."""
        for step in plan.steps:
            self.unmet[step.step_name] = len(set(step.depends_on))
            for dependency in set(step.depends_on):
                self.dependents[dependency].append(step.step_name)
        self.ready = [s.sequence_order for s in plan.steps if self.unmet[s.step_name] == 0]
        """Plan positions of the steps that may start, as a heap: plan order first."""

    def take(self, limit: int) -> list[PlannedStep]:
        """Up to ``limit`` steps that may start now, in plan order; they stop waiting."""
        taken: list[PlannedStep] = []
        while self.stop_reason is None and self.ready and len(taken) < limit:
            step = self.plan.steps[heapq.heappop(self.ready)]
            del self.waiting[step.step_name]
            taken.append(step)
        return taken

    def stop(self, reason: str) -> None:
        if self.stop_reason is None:
            self.stop_reason = reason

    def time_out(self) -> None:
        self.timed_out = True
        minutes = self.plan.policy.timeout_minutes
        self.stop(f"the group timed out after {minutes:g} minute{'' if minutes == 1 else 's'}")

    def record(self, execution: GroupStepExecution) -> None:
        name = execution.step_name
        self.finished[name] = execution
        if execution.status is StepStatus.COMPLETED:
            for dependent in self.dependents[name]:
                self.unmet[dependent] -= 1
                if self.unmet[dependent] == 0:
                    heapq.heappush(self.ready, self.waiting[dependent].sequence_order)
            return
        self.failures.append(execution)
        if self.plan.policy.on_failure is FailurePolicy.STOP:
            self.stop(f"the group stopped after step {name!r} failed")
            return
        # CONTINUE: everything downstream of the failure is skipped, nothing else.
        downstream = list(self.dependents[name])
        while downstream:
            dependent = downstream.pop()
            step = self.waiting.pop(dependent, None)
            if step is not None:
                self.finished[dependent] = _skipped(step, f"upstream step {name!r} failed")
                downstream.extend(self.dependents[dependent])

    def executions(self) -> list[GroupStepExecution]:
        """Every step in plan order; steps still waiting were stopped from running."""
        for step in self.waiting.values():
            self.finished[step.step_name] = _skipped(step, self.stop_reason)
        return [self.finished[step.step_name] for step in self.plan.steps]


def _skipped(step: PlannedStep, reason: str | None) -> GroupStepExecution:
    return GroupStepExecution(
        step.step_name, step.pipeline_name, StepStatus.SKIPPED, skip_reason=reason
    )


class GroupRunner:
    """Runs pipeline groups: ``GroupRunner().run(group, params)``.

    A step's failure never raises: the returned :class:`GroupExecutionResult` says
    which steps failed and why. ``run`` raises a
    :class:`~spine.core.errors.PlanResolutionError` only when the group cannot be
    planned (a step's pipeline is not registered, a dependency is unknown or cyclic).

    Args:
        dispatcher: runs each step's pipeline, and its registry is where pipelines are
            looked up (``Dispatcher()``, the default registry, if omitted).
        clock: where the time is read, for timestamps and the group's timeout.
    """

    def __init__(self, dispatcher: Dispatcher | None = None, *, clock: Clock | None = None) -> None:
        self.dispatcher = dispatcher or Dispatcher()
        self.clock: Clock = clock or SYSTEM_CLOCK

    def plan(self, group: PipelineGroup, params: Mapping[str, Any] | None = None) -> ExecutionPlan:
        """The plan of ``group`` for a run with ``params``, without running it."""
        return PlanResolver(registry=self.dispatcher.registry).resolve(group, params)

    def run(
        self,
        group: PipelineGroup,
        params: Mapping[str, Any] | None = None,
        *,
        execution: ExecutionContext | None = None,
    ) -> GroupExecutionResult:
        """Plan ``group`` for ``params`` and execute the plan."""
        return self.execute(self.plan(group, params), execution=execution)

    def execute(
        self, plan: ExecutionPlan, *, execution: ExecutionContext | None = None
    ) -> GroupExecutionResult:
        """Run ``plan``. Each step's lineage is a child of ``execution`` (or of a new
        root execution) carrying the plan's ``batch_id``."""
        started = self._now()
        parent = execution or ExecutionContext(batch_id=plan.batch_id)
        policy = plan.policy
        timeout = policy.timeout_minutes
        deadline = self.clock.time() + timeout * 60 if timeout is not None else None
        progress = _Progress(plan)
        pool: Executor
        if policy.mode is ExecutionMode.PARALLEL:
            pool = ThreadPoolExecutor(
                max_workers=policy.max_concurrency,
                thread_name_prefix=f"spine-group-{plan.group_name}",
            )
            slots = policy.max_concurrency
        else:
            pool, slots = _Inline(), 1
        with pool:
            running: dict[Future[GroupStepExecution], PlannedStep] = {}
            while True:
                if deadline is not None and progress.waiting and self.clock.time() >= deadline:
                    progress.time_out()
                for step in progress.take(slots - len(running)):
                    # Each step sees the caller's context variables, as on one thread.
                    future = pool.submit(copy_context().run, self._run_step, plan, step, parent)
                    running[future] = step
                if not running:
                    break
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in sorted(done, key=lambda f: running[f].sequence_order):
                    del running[future]
                    progress.record(future.result())
        return self._result(plan, progress, started)

    def _run_step(
        self, plan: ExecutionPlan, step: PlannedStep, parent: ExecutionContext
    ) -> GroupStepExecution:
        started = self._now()
        lineage = parent.child(step_name=step.step_name, batch_id=plan.batch_id)
        try:
            result = self.dispatcher.run(step.pipeline_name, step.params, execution=lineage)
        except PipelineError as exc:  # unregistered since planning, or params rejected
            return self._finished(plan, step, started, None, describe_exception(exc))
        error = None if result.succeeded else result.error or f"ended {result.status}"
        return self._finished(plan, step, started, result, error)

    def _finished(
        self,
        plan: ExecutionPlan,
        step: PlannedStep,
        started: datetime,
        result: PipelineResult | None,
        error: str | None,
    ) -> GroupStepExecution:
        if error is not None:
            logger.warning(
                "pipeline group %r: step %r (pipeline %r) failed: %s",
                plan.group_name,
                step.step_name,
                step.pipeline_name,
                error,
            )
        return GroupStepExecution(
            step.step_name,
            step.pipeline_name,
            StepStatus.FAILED if error is not None else StepStatus.COMPLETED,
            started_at=started,
            completed_at=self._now(),
            result=result,
            error=error,
        )

    def _result(
        self, plan: ExecutionPlan, progress: _Progress, started: datetime
    ) -> GroupExecutionResult:
        executions = progress.executions()
        error: str | None = None
        if not progress.failures and not progress.timed_out:
            status = GroupExecutionStatus.COMPLETED
        else:
            partial = (
                plan.policy.on_failure is FailurePolicy.CONTINUE
                and not progress.timed_out
                and any(e.status is StepStatus.COMPLETED for e in executions)
            )
            status = GroupExecutionStatus.PARTIAL if partial else GroupExecutionStatus.FAILED
            error = _describe_failure(plan, progress, executions)
        return GroupExecutionResult(
            group_name=plan.group_name,
            batch_id=plan.batch_id,
            status=status,
            started_at=started,
            completed_at=self._now(),
            step_executions=executions,
            error=error,
        )

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.time(), UTC)


def _describe_failure(
    plan: ExecutionPlan, progress: _Progress, executions: list[GroupStepExecution]
) -> str:
    parts = []
    if progress.failures:
        first, *others = progress.failures
        parts.append(
            f"step {first.step_name!r} (pipeline {first.pipeline_name!r}) failed: {first.error}"
        )
        if others:
            parts.append(f"also failed: {', '.join(e.step_name for e in others)}")
    if progress.timed_out:
        parts.append(str(progress.stop_reason))
    skipped = [e.step_name for e in executions if e.status is StepStatus.SKIPPED]
    if skipped:
        parts.append(f"not run: {', '.join(skipped)}")
    return f"pipeline group {plan.group_name!r}: {'; '.join(parts)}"


class GroupPipeline:
    """A group packaged as a pipeline function ``fn(params) -> PipelineResult``.

    Registered under the group's name (``register_group`` does it), it lets a
    workflow run the whole group as one step: ``Step.pipeline("refresh",
    "finra.weekly_refresh")``. The step's params are the group run's params; the
    step's output is :meth:`GroupExecutionResult.to_dict` (each member's status,
    error and metrics). Any member failing fails the step, with an error naming the
    member and its error.
    """

    def __init__(self, group: PipelineGroup, runner: GroupRunner | None = None) -> None:
        self.group = group
        self.runner = runner or GroupRunner()

    def __call__(self, params: Mapping[str, Any]) -> PipelineResult:
        # The dispatcher made the calling step's lineage current: members become its
        # children, so they carry the workflow's run id.
        result = self.runner.run(self.group, params, execution=current_execution())
        return PipelineResult(
            status=PipelineStatus.COMPLETED if result.succeeded else PipelineStatus.FAILED,
            started_at=result.started_at,
            completed_at=result.completed_at,
            error=result.error,
            metrics=result.to_dict(),
        )

    def __repr__(self) -> str:
        return f"GroupPipeline({self.group.name!r})"
