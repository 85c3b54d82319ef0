"""Running one attempt of one step, whatever its type, into a ``StepResult``.

Nothing a step does escapes as an exception: a raised exception, a bad return
value or a missing pipeline becomes a failed ``StepResult`` whose error names the
workflow and the step.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from spine.core.aio import is_awaitable, run_sync
from spine.core.clock import Clock
from spine.core.errors import BadParamsError, PipelineNotFoundError
from spine.execution.context import StepLineage, enter_step, leave_step
from spine.execution.runnable import Runnable
from spine.framework.dispatcher import Dispatcher, describe_exception
from spine.framework.pipelines import PipelineStatus
from spine.orchestration.flow import ELSE, THEN
from spine.orchestration.map_step import run_map
from spine.orchestration.step_result import ErrorCategory, StepResult
from spine.orchestration.step_types import Step, StepType

if TYPE_CHECKING:
    from spine.orchestration.results import WorkflowResult
    from spine.orchestration.workflow import Workflow
    from spine.orchestration.workflow_context import WorkflowContext

logger = logging.getLogger("spine.orchestration")

ChildExecutor = Callable[["Workflow", "WorkflowContext"], "WorkflowResult"]


def category_of(exc: BaseException) -> str:
    """The error category of an exception a step raised."""
    if isinstance(exc, TimeoutError):
        return ErrorCategory.TIMEOUT.value
    if isinstance(exc, ConnectionError):
        return ErrorCategory.TRANSIENT.value
    return ErrorCategory.INTERNAL.value


def _where(workflow_name: str, step: Step) -> str:
    return f"workflow {workflow_name!r}, step {step.name!r}"


def _config_error(workflow_name: str, step: Step, text: str) -> StepResult:
    return StepResult.fail(f"{_where(workflow_name, step)}: {text}", ErrorCategory.CONFIGURATION)


class StepExecutor:
    """Runs single step attempts for a :class:`~spine.orchestration.WorkflowRunner`."""

    def __init__(
        self,
        *,
        dispatcher: Dispatcher,
        runnable: Runnable | None,
        dry_run: bool,
        clock: Clock,
        execute_child: ChildExecutor,
    ) -> None:
        self.dispatcher = dispatcher
        self.runnable = runnable
        self.dry_run = dry_run
        self.clock = clock
        self.execute_child = execute_child

    def run(self, workflow_name: str, step: Step, ctx: WorkflowContext, attempt: int) -> StepResult:
        """Run ``step`` once against ``ctx``; never raises for the step's own failure."""
        lineage = StepLineage(ctx.execution, step.name, attempt)
        token = enter_step(lineage)
        try:
            kind = step.step_type
            if kind is StepType.LAMBDA:
                handler = step.handler
                if not callable(handler):
                    return _config_error(workflow_name, step, "handler is not callable")
                return self.coerce(workflow_name, step, handler(ctx, step.config))
            if kind is StepType.PIPELINE:
                return self._pipeline(workflow_name, step, ctx, lineage)
            if kind is StepType.CHOICE:
                return self._choice(workflow_name, step, ctx)
            if kind is StepType.WAIT:
                return self._wait(workflow_name, step)
            if kind is StepType.MAP:
                return run_map(self, workflow_name, step, ctx, lineage)[0]
            return _config_error(workflow_name, step, f"unknown step type {kind!r}")
        except Exception as exc:
            logger.warning("%s raised", _where(workflow_name, step), exc_info=True)
            return StepResult.fail(describe_exception(exc), category_of(exc))
        finally:
            leave_step(token)

    def run_map(
        self, workflow_name: str, step: Step, ctx: WorkflowContext, attempt: int
    ) -> tuple[StepResult, list[WorkflowResult]]:
        """Run a map step once; also returns the item runs."""
        lineage = StepLineage(ctx.execution, step.name, attempt)
        token = enter_step(lineage)
        try:
            return run_map(self, workflow_name, step, ctx, lineage)
        except Exception as exc:
            logger.warning("%s raised", _where(workflow_name, step), exc_info=True)
            return StepResult.fail(describe_exception(exc), category_of(exc)), []
        finally:
            leave_step(token)

    def coerce(self, workflow_name: str, step: Step, value: object) -> StepResult:
        """Turn what a step function returned into a ``StepResult``."""
        if type(value) is StepResult:
            return value
        if value is None:
            return StepResult.ok()
        if isinstance(value, Mapping):
            return StepResult.ok(output=value)
        if isinstance(value, StepResult):
            return value
        if is_awaitable(value):
            return self.coerce(workflow_name, step, run_sync(value))
        return StepResult.fail(
            f"{_where(workflow_name, step)}: the step function returned "
            f"{type(value).__name__}; return a StepResult, a dict or None",
            ErrorCategory.INTERNAL,
        )

    def _pipeline(
        self, workflow_name: str, step: Step, ctx: WorkflowContext, lineage: StepLineage
    ) -> StepResult:
        name = step.pipeline_name
        if not name:
            return _config_error(workflow_name, step, "no pipeline_name given")
        if self.dry_run:
            return StepResult.ok(output={"dry_run": True, "pipeline": name})
        params: dict[str, Any] = ctx.params.to_dict()
        params.update(step.params)
        if self.runnable is not None:
            return self._via_runnable(self.runnable, name, params, ctx)
        try:
            result = self.dispatcher.run(name, params, execution=lineage.resolve())
        except PipelineNotFoundError as exc:
            return _config_error(workflow_name, step, str(exc))
        except BadParamsError as exc:
            return StepResult.fail(
                f"{_where(workflow_name, step)}: pipeline {name!r} rejected its params: {exc}",
                ErrorCategory.PIPELINE,
            )
        if result.status != PipelineStatus.COMPLETED:
            return StepResult.fail(
                f"pipeline {name!r} failed: {result.error or result.status}",
                ErrorCategory.PIPELINE,
                output=result.metrics or None,
            )
        return StepResult.ok(output=result.metrics)

    @staticmethod
    def _via_runnable(
        runnable: Runnable, name: str, params: dict[str, Any], ctx: WorkflowContext
    ) -> StepResult:
        outcome = runnable.submit_pipeline_sync(
            name, params, parent_run_id=ctx.run_id, correlation_id=ctx.run_id
        )
        if not outcome.succeeded:
            return StepResult.fail(
                f"pipeline {name!r} failed: {outcome.error or outcome.status}",
                ErrorCategory.PIPELINE,
            )
        return StepResult.ok(output=outcome.metrics or {})

    def _choice(self, workflow_name: str, step: Step, ctx: WorkflowContext) -> StepResult:
        condition = step.condition
        if not callable(condition):
            return _config_error(workflow_name, step, "condition is not callable")
        value = condition(ctx)
        if is_awaitable(value):
            value = run_sync(value)
        taken = bool(value)
        target = step.then_step if taken else step.else_step
        return StepResult.ok(
            output={
                "condition_result": taken,
                "branch": THEN if taken else ELSE,
                "next_step": target,
            },
            next_step=target,
        )

    def _wait(self, workflow_name: str, step: Step) -> StepResult:
        duration = step.duration_seconds
        if not isinstance(duration, int | float) or duration < 0:
            return _config_error(
                workflow_name, step, f"duration_seconds must be a number >= 0, got {duration!r}"
            )
        if not self.dry_run:
            self.clock.sleep(duration)
        return StepResult.ok(output={"waited_seconds": duration})
