"""Pipeline steps: run a registered pipeline with the run's params under the step's,
through a spine-core ``Runnable`` if one was given, else the dispatcher on the
executor."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

from spine.core.errors import (
    FATAL_EXCEPTIONS,
    BadParamsError,
    NotShippableError,
    PipelineNotFoundError,
    describe_exception,
)
from spine.core.records import LogLine
from spine.core.status import ErrorCategory
from spine.execution.capture import add_lines, captured
from spine.execution.executors import InlineExecutor
from spine.execution.tracing import Carrier, attached, carrier
from spine.orchestration.engine.kinds.base import config_error, where
from spine.orchestration.step_result import StepResult

if TYPE_CHECKING:
    from spine.execution.context import ExecutionContext, StepLineage
    from spine.framework.pipelines import PipelineResult
    from spine.orchestration.engine.attempt import Outcome
    from spine.orchestration.engine.services import Services
    from spine.orchestration.step_types import Step
    from spine.orchestration.workflow_context import WorkflowContext


def run(
    workflow_name: str,
    step: Step,
    ctx: WorkflowContext,
    services: Services,
    lineage: StepLineage,
) -> Outcome:
    name = step.pipeline_name
    if not name:
        return config_error(workflow_name, step, "no pipeline_name given"), None
    if services.dry_run:
        # Mock success even for a pipeline that is not registered: a dry run is how a
        # workflow is tried where its pipelines are not available.
        return StepResult.ok(output={"dry_run": True, "pipeline": name}), None
    params: dict[str, Any] = ctx.params.to_dict()
    params.update(step.params)
    runnable = services.runnable
    try:
        if runnable is not None:
            outcome = runnable.submit_pipeline_sync(
                name, params, parent_run_id=ctx.run_id, correlation_id=ctx.run_id
            )
            ok, error, metrics = outcome.succeeded, outcome.error, outcome.metrics
        else:
            result = _dispatch(workflow_name, step, name, params, services, lineage)
            if isinstance(result, StepResult):
                return result, None
            ok, error, metrics = result.succeeded, result.error, result.metrics
            if not ok:
                error = error or f"ended {result.status}"
    except FATAL_EXCEPTIONS:
        raise
    except BaseException as exc:
        return _failed_to_start(workflow_name, step, exc), None
    if not ok:
        return StepResult.fail(
            f"{where(workflow_name, step)}: pipeline {name!r} failed: {error}",
            ErrorCategory.PIPELINE,
            output=metrics or None,
        ), None
    return StepResult.ok(output=metrics or {}), None


def _dispatch(
    workflow_name: str,
    step: Step,
    name: str,
    params: dict[str, Any],
    services: Services,
    lineage: StepLineage,
) -> PipelineResult | StepResult:
    """Run the pipeline on the executor (a ``StepResult`` if it cannot go there)."""
    executor = services.executor
    execution = lineage.resolve()
    dispatcher = services.dispatcher
    if isinstance(executor, InlineExecutor):  # no future for the common case
        return dispatcher.run(name, params, execution=execution)
    if not executor.remote:
        return executor.submit(partial(dispatcher.run, execution=execution), name, params).result()
    target = dispatcher.registry.get(name)
    try:
        blob = executor.ship(target, f"{where(workflow_name, step)}: pipeline {name!r}")
    except NotShippableError as exc:
        return StepResult.fail(str(exc), ErrorCategory.CONFIGURATION)
    trace = None if services.tracing is None else carrier()
    result, lines = executor.submit(
        run_shipped, name, blob, params, execution, services.log_limit, trace
    ).result()
    add_lines(lines)  # what the pipeline wrote there, into this attempt's log
    return result


def run_shipped(
    pipeline_name: str,
    blob: bytes,
    params: Mapping[str, Any],
    execution: ExecutionContext | None,
    log_limit: int,
    trace: Carrier | None = None,
) -> tuple[PipelineResult, list[LogLine] | None]:
    """Run a shipped pipeline target (in a worker process, inside the step's trace when
    it has one), and what it wrote there."""
    import pickle

    from spine.framework.dispatcher import run_target

    target = pickle.loads(blob)
    with attached(trace):
        return captured(log_limit, run_target, pipeline_name, target, params, execution)


def _failed_to_start(workflow_name: str, step: Step, exc: BaseException) -> StepResult:
    """The failed result of a pipeline step whose pipeline could not be started."""
    if isinstance(exc, PipelineNotFoundError):
        return config_error(workflow_name, step, str(exc))
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
