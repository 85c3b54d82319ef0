"""The dispatcher: runs a registered pipeline by name and reports a ``PipelineResult``."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from spine.core.aio import is_awaitable, run_sync
from spine.core.errors import PipelineError
from spine.execution.context import ExecutionContext, executing
from spine.execution.runnable import PipelineRunResult
from spine.framework.pipelines import Pipeline, PipelineResult, PipelineStatus
from spine.framework.registry import PipelineRegistry, default_registry


def describe_exception(exc: BaseException) -> str:
    """``"Type: message"``, the form in which a failure is reported."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Dispatcher:
    """Runs pipelines from a registry (the default one unless given another).

    ``run`` raises :class:`~spine.core.errors.PipelineNotFoundError` for an unknown
    name and :class:`~spine.core.errors.BadParamsError` when ``validate_params``
    rejects the params; a pipeline that raises while running yields a ``FAILED``
    result whose ``error`` names the exception.
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
        target = self.registry.get(pipeline_name)
        started = datetime.now(UTC)
        params = dict(params or {})
        with executing(execution):
            if isinstance(target, type):
                instance: Pipeline = target(params)
                instance.execution = execution
                instance.validate_params()
                call = instance.run
            else:
                call = functools.partial(target, params)
            try:
                value = call()
                if is_awaitable(value):
                    value = run_sync(value)
            except Exception as exc:
                return PipelineResult(
                    status=PipelineStatus.FAILED,
                    started_at=started,
                    completed_at=datetime.now(UTC),
                    error=describe_exception(exc),
                )
        return _as_result(pipeline_name, value, started)

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


def _as_result(name: str, value: object, started: datetime) -> PipelineResult:
    if isinstance(value, PipelineResult):
        return value
    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        raise PipelineError(
            f"pipeline {name!r} returned {type(value).__name__}; "
            "return a dict of metrics, a PipelineResult or None",
            pipeline=name,
        )
    return PipelineResult(
        status=PipelineStatus.COMPLETED,
        started_at=started,
        completed_at=datetime.now(UTC),
        metrics=dict(value),
    )
