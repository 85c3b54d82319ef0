"""The dispatcher: runs a registered pipeline by name and reports a ``PipelineResult``.

``Dispatcher.submit`` is spine-core's form of the same call: it records each call as
an :class:`Execution` (lane, trigger, status, result), kept in that dispatcher's
memory for ``get_execution`` and ``list_executions``.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from spine.core.aio import is_awaitable, run_sync
from spine.core.errors import (
    FATAL_EXCEPTIONS,
    BadParamsError,
    PipelineError,
    describe_exception,
)
from spine.execution.capture import record_exception
from spine.execution.context import ExecutionContext, executing
from spine.execution.runnable import PipelineRunResult
from spine.framework.pipelines import Pipeline, PipelineResult, PipelineStatus
from spine.framework.registry import PipelineRegistry, PipelineTarget, default_registry


class TriggerSource(StrEnum):
    """What started a submitted execution (recorded, not acted on)."""

    CLI = "cli"
    API = "api"
    SCHEDULER = "scheduler"
    RETRY = "retry"
    MANUAL = "manual"


class Lane(StrEnum):
    """The queue a submitted execution belongs to (recorded, not acted on: ``submit``
    runs at once)."""

    NORMAL = "normal"
    BACKFILL = "backfill"
    SLOW = "slow"


@dataclass
class Execution:
    """One ``Dispatcher.submit`` call: what was run, why, and how it ended."""

    id: str
    """The execution id of the pipeline's lineage (``current_execution()``)."""
    pipeline: str
    params: dict[str, Any]
    lane: Lane
    trigger_source: TriggerSource
    logical_key: str | None
    """The caller's key for this piece of work (recorded, not enforced)."""
    status: PipelineStatus
    created_at: datetime
    started_at: datetime | None = None
    completed_at: datetime | None = None
    error: str | None = None
    result: PipelineResult | None = None
    """``None`` when the pipeline could not be started."""


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
        self._executions: dict[str, Execution] = {}
        self._lock = threading.Lock()

    def run(
        self,
        pipeline_name: str,
        params: Mapping[str, Any] | None = None,
        *,
        execution: ExecutionContext | None = None,
    ) -> PipelineResult:
        """Run ``pipeline_name`` with ``params``; ``execution`` is its lineage."""
        return run_target(pipeline_name, self.registry.get(pipeline_name), params, execution)

    def submit(
        self,
        pipeline: str,
        params: Mapping[str, Any] | None = None,
        lane: Lane = Lane.NORMAL,
        trigger_source: TriggerSource = TriggerSource.CLI,
        logical_key: str | None = None,
    ) -> Execution:
        """Run ``pipeline`` now and return its :class:`Execution` (spine-core's API).

        As with ``run``, an unknown pipeline raises
        :class:`~spine.core.errors.PipelineNotFoundError` and rejected params raise
        :class:`~spine.core.errors.BadParamsError`; the execution is recorded as
        ``FAILED`` with that error first.
        """
        lineage = ExecutionContext()
        execution = Execution(
            id=lineage.execution_id,
            pipeline=pipeline,
            params=dict(params or {}),
            lane=Lane(lane),
            trigger_source=TriggerSource(trigger_source),
            logical_key=logical_key,
            status=PipelineStatus.RUNNING,
            created_at=lineage.started_at,
            started_at=lineage.started_at,
        )
        with self._lock:
            self._executions[execution.id] = execution
        try:
            result = self.run(pipeline, execution.params, execution=lineage)
        except PipelineError as exc:
            execution.status = PipelineStatus.FAILED
            execution.completed_at = datetime.now(UTC)
            execution.error = str(exc)
            raise
        execution.status = result.status
        execution.completed_at = result.completed_at
        execution.error = result.error
        execution.result = result
        return execution

    def get_execution(self, execution_id: str) -> Execution | None:
        """The execution ``submit`` returned with that id, if this dispatcher made it."""
        return self._executions.get(execution_id)

    def list_executions(
        self,
        pipeline: str | None = None,
        status: PipelineStatus | None = None,
        limit: int = 100,
    ) -> list[Execution]:
        """Executions this dispatcher submitted, newest first, filtered by pipeline
        name and status."""
        with self._lock:
            found = [
                e
                for e in self._executions.values()
                if (pipeline is None or e.pipeline == pipeline)
                and (status is None or e.status == status)
            ]
        found.sort(key=lambda e: e.created_at, reverse=True)
        return found[:limit]

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


_default: Dispatcher | None = None
_default_lock = threading.Lock()


def get_dispatcher() -> Dispatcher:
    """The process's shared dispatcher (over the default registry), made when first
    asked for."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Dispatcher()
        return _default


def reset_dispatcher() -> None:
    """Forget the shared dispatcher and its executions (for tests)."""
    global _default
    with _default_lock:
        _default = None


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
