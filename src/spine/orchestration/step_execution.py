"""Running one attempt of one step, whatever its type, into a ``StepResult``.

Nothing a step does escapes as an exception: a raised exception, a malformed
return value or a missing pipeline becomes a failed ``StepResult`` whose error
names the workflow and the step. Only ``KeyboardInterrupt`` and ``SystemExit``
pass through (see ``spine.core.errors.FATAL_EXCEPTIONS``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

from spine.core.aio import is_awaitable, run_sync
from spine.core.errors import (
    FATAL_EXCEPTIONS,
    BadParamsError,
    NotShippableError,
    PipelineNotFoundError,
    describe_exception,
)
from spine.execution.context import StepLineage, enter_step, leave_step
from spine.execution.executors import InlineExecutor
from spine.framework.pipelines import PipelineResult
from spine.orchestration.flow import ELSE, THEN
from spine.orchestration.map_step import run_map
from spine.orchestration.step_result import ErrorCategory, StepResult
from spine.orchestration.step_types import Step, StepType

if TYPE_CHECKING:
    from spine.orchestration.results import WorkflowResult
    from spine.orchestration.workflow_context import WorkflowContext
    from spine.orchestration.workflow_runner import WorkflowRunner

logger = logging.getLogger("spine.orchestration")

Outcome = tuple[StepResult, "list[WorkflowResult] | None"]
"""A step attempt's result, and the item runs when the step is a map."""


def category_of(exc: BaseException) -> str:
    """The error category of an exception a step raised."""
    if isinstance(exc, TimeoutError):
        return ErrorCategory.TIMEOUT.value
    if isinstance(exc, ConnectionError):
        return ErrorCategory.TRANSIENT.value
    return ErrorCategory.INTERNAL.value


def where(workflow_name: str, step: Step) -> str:
    return f"workflow {workflow_name!r}, step {step.name!r}"


def _config_error(workflow_name: str, step: Step, text: str) -> StepResult:
    return StepResult.fail(f"{where(workflow_name, step)}: {text}", ErrorCategory.CONFIGURATION)


def _malformed(workflow_name: str, step: Step, result: StepResult) -> str | None:
    """What is wrong with a ``StepResult`` the runner could not use, if anything."""
    for field in ("output", "context_updates"):
        value = getattr(result, field)
        if not isinstance(value, Mapping):
            return f"StepResult.{field} must be a dict, got {type(value).__name__}"
    if result.next_step is not None and not isinstance(result.next_step, str):
        return f"StepResult.next_step must be a step name, got {type(result.next_step).__name__}"
    return None


def _pipeline_error(workflow_name: str, step: Step, exc: BaseException) -> StepResult:
    """The failed result of a pipeline step whose pipeline could not be started."""
    if isinstance(exc, PipelineNotFoundError):
        return _config_error(workflow_name, step, str(exc))
    if isinstance(exc, BadParamsError):
        return StepResult.fail(
            f"{where(workflow_name, step)}: pipeline {step.pipeline_name!r} rejected its "
            f"params: {exc}",
            ErrorCategory.PIPELINE,
        )
    return StepResult.fail(
        f"{where(workflow_name, step)}: pipeline {step.pipeline_name!r} failed: "
        f"{describe_exception(exc)}",
        ErrorCategory.PIPELINE,
    )


class StepExecutor:
    """Runs single step attempts for a :class:`~spine.orchestration.WorkflowRunner`.

    It reads ``dry_run``, ``clock``, ``dispatcher`` and ``runnable`` from the runner
    at each step, so a runner reconfigured after construction behaves as it says.
    """

    def __init__(self, runner: WorkflowRunner) -> None:
        self.runner = runner

    def run(
        self, workflow_name: str, step: Step, ctx: WorkflowContext, attempt: int, order: int = 0
    ) -> Outcome:
        """Run ``step`` once against ``ctx``; never raises for the step's own failure.

        ``order`` is the step execution's position in its run (map items are keyed by it).
        """
        lineage = StepLineage(ctx.execution, step.name, attempt, order)
        token = enter_step(lineage)
        try:
            kind = step.step_type
            if kind is StepType.LAMBDA:
                handler = step.handler
                if not callable(handler):
                    return _config_error(workflow_name, step, "handler is not callable"), None
                return self.coerce(workflow_name, step, handler(ctx, step.config)), None
            if kind is StepType.PIPELINE:
                return self._pipeline(workflow_name, step, ctx, lineage), None
            if kind is StepType.CHOICE:
                return self._choice(workflow_name, step, ctx), None
            if kind is StepType.WAIT:
                return self._wait(workflow_name, step), None
            if kind is StepType.MAP:
                return run_map(self, workflow_name, step, ctx, lineage)
            return _config_error(workflow_name, step, f"unknown step type {kind!r}"), None
        except FATAL_EXCEPTIONS:
            raise
        except BaseException as exc:
            logger.warning("%s raised", where(workflow_name, step), exc_info=True)
            return StepResult.fail(describe_exception(exc), category_of(exc)), None
        finally:
            leave_step(token)

    @property
    def dry_run(self) -> bool:
        return self.runner.dry_run

    def coerce(self, workflow_name: str, step: Step, value: object) -> StepResult:
        """Turn what a step function returned into a usable ``StepResult``."""
        if isinstance(value, StepResult):
            problem = _malformed(workflow_name, step, value)
            if problem is None:
                return value
            return StepResult.fail(f"{where(workflow_name, step)}: {problem}")
        if value is None:
            return StepResult.ok()
        if isinstance(value, Mapping):
            return StepResult.ok(output=value)
        if is_awaitable(value):
            return self.coerce(workflow_name, step, run_sync(value))
        return StepResult.fail(
            f"{where(workflow_name, step)}: the step function returned "
            f"{type(value).__name__}; return a StepResult, a dict or None",
            ErrorCategory.INTERNAL,
        )

    def _pipeline(
        self, workflow_name: str, step: Step, ctx: WorkflowContext, lineage: StepLineage
    ) -> StepResult:
        name = step.pipeline_name
        if not name:
            return _config_error(workflow_name, step, "no pipeline_name given")
        runner = self.runner
        runnable = runner.foreign_runnable
        if runner.dry_run:
            # Mock success even for a pipeline that is not registered: a dry run is
            # how a workflow is tried where its pipelines are not available.
            return StepResult.ok(output={"dry_run": True, "pipeline": name})
        params: dict[str, Any] = ctx.params.to_dict()
        params.update(step.params)
        try:
            if runnable is not None:
                outcome = runnable.submit_pipeline_sync(
                    name, params, parent_run_id=ctx.run_id, correlation_id=ctx.run_id
                )
                ok, error, metrics = outcome.succeeded, outcome.error, outcome.metrics
            else:
                result = self._run_pipeline(workflow_name, step, name, params, lineage)
                if isinstance(result, StepResult):
                    return result
                ok, error, metrics = result.succeeded, result.error, result.metrics
                if not ok:
                    error = error or f"ended {result.status}"
        except FATAL_EXCEPTIONS:
            raise
        except BaseException as exc:
            return _pipeline_error(workflow_name, step, exc)
        if not ok:
            return StepResult.fail(
                f"{where(workflow_name, step)}: pipeline {name!r} failed: {error}",
                ErrorCategory.PIPELINE,
                output=metrics or None,
            )
        return StepResult.ok(output=metrics or {})

    def _run_pipeline(
        self,
        workflow_name: str,
        step: Step,
        name: str,
        params: dict[str, Any],
        lineage: StepLineage,
    ) -> PipelineResult | StepResult:
        """Run the pipeline on the runner's executor (a ``StepResult`` if it cannot go)."""
        runner = self.runner
        executor = runner.executor
        execution = lineage.resolve()
        dispatcher = runner.dispatcher
        if isinstance(executor, InlineExecutor):  # no future for the common case
            return dispatcher.run(name, params, execution=execution)
        if not executor.remote:
            return executor.submit(
                partial(dispatcher.run, execution=execution), name, params
            ).result()
        target = dispatcher.registry.get(name)
        try:
            blob = executor.ship(target, f"{where(workflow_name, step)}: pipeline {name!r}")
        except NotShippableError as exc:
            return StepResult.fail(str(exc), ErrorCategory.CONFIGURATION)
        from spine.orchestration.remote import run_pipeline

        return executor.submit(run_pipeline, name, blob, params, execution).result()

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
        if not self.runner.dry_run:
            self.runner.clock.sleep(duration)
        return StepResult.ok(output={"waited_seconds": duration})
