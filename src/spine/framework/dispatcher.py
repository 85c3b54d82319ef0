"""The dispatcher: runs a registered pipeline by name and reports a ``PipelineResult``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from spine.core.aio import is_awaitable, run_sync
from spine.core.errors import FATAL_EXCEPTIONS, BadParamsError, describe_exception
from spine.execution.capture import record_exception
from spine.execution.context import ExecutionContext, executing
from spine.execution.runnable import PipelineRunResult
from spine.framework.pipelines import Pipeline, PipelineResult, PipelineStatus
from spine.framework.registry import PipelineRegistry, PipelineTarget, default_registry


class Dispatcher:
    """Runs pipelines from a registry (the default one unless given another).

    ``run`` raises :class:`~spine.core.errors.PipelineNotFoundError` for an unknown
    name and :class:`~spine.core.errors.BadParamsError` when ``validate_params``
    rejects the params. Anything else going wrong (the pipeline raising, or
    returning something that is not a dict, a ``PipelineResult`` or ``None``)
    yields a ``FAILED`` result whose ``error`` says what happened.
    """

    def __init__(self, registry: PipelineRegistry | None = None) -> None:
        self.registry = registry if registry is not None else default_registry

    def run(
        self,
        pipeline_name: str,
        params: Mapping[str, Any] | None = None,
        *,
        execution: ExecutionContext | None = None,
    ) -> PipelineResult:
        """Run ``pipeline_name`` with ``params``; ``execution`` is its lineage."""
        return run_target(pipeline_name, self.registry.get(pipeline_name), params, execution)

    def submit_pipeline_sync(
        self,
        pipeline_name: str,
        params: Mapping[str, Any] | None = None,
        *,
        parent_run_id: str | None = None,
        correlation_id: str | None = None,
    ) -> PipelineRunResult:
        """The ``Runnable`` protocol of spine-core, for code written against it."""
        execution = ExecutionContext(parent_execution_id=parent_run_id, run_id=correlation_id)
        result = self.run(pipeline_name, params, execution=execution)
        return PipelineRunResult(
            status=str(result.status),
            error=result.error,
            metrics=result.metrics,
            run_id=execution.execution_id,
            started_at=result.started_at,
            completed_at=result.completed_at,
        )


def run_target(
    pipeline_name: str,
    target: PipelineTarget,
    params: Mapping[str, Any] | None,
    execution: ExecutionContext | None,
) -> PipelineResult:
    """Run a pipeline function or class already looked up, as ``Dispatcher.run`` does.

    Module-level so that executors can run it in another process with the target
    itself, whether or not that process registered the pipeline.
    """
    started = datetime.now(UTC)
    params = dict(params or {})
    with executing(execution):
        try:
            if isinstance(target, type):
                instance: Pipeline = target(params)
                instance.execution = execution
                instance.validate_params()
                value = instance.run()
            else:
                value = target(params)
            if is_awaitable(value):
                value = run_sync(value)
        except BadParamsError:
            raise
        except FATAL_EXCEPTIONS:
            raise
        except BaseException as exc:
            record_exception(exc)  # into the log of the step that called the pipeline
            return _failed(started, describe_exception(exc))
    return _as_result(pipeline_name, value, started)


def _failed(started: datetime, error: str) -> PipelineResult:
    return PipelineResult(
        status=PipelineStatus.FAILED,
        started_at=started,
        completed_at=datetime.now(UTC),
        error=error,
    )


def _as_result(name: str, value: object, started: datetime) -> PipelineResult:
    if isinstance(value, PipelineResult):
        if not isinstance(value.metrics, Mapping):
            return _failed(
                started,
                f"pipeline {name!r} returned a PipelineResult whose metrics are a "
                f"{type(value.metrics).__name__}, not a dict",
            )
        # Accept "COMPLETED" as well as PipelineStatus.COMPLETED ("completed").
        status = str(value.status).lower()
        if status in _STATUSES and value.status is not PipelineStatus(status):
            value.status = PipelineStatus(status)
        return value
    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        return _failed(
            started,
            f"pipeline {name!r} returned a {type(value).__name__}; "
            "return a dict of metrics, a PipelineResult or None",
        )
    return PipelineResult(
        status=PipelineStatus.COMPLETED,
        started_at=started,
        completed_at=datetime.now(UTC),
        metrics=dict(value),
    )


_STATUSES = {s.value for s in PipelineStatus}
