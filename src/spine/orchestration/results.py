"""What a run reports: ``WorkflowResult``, one ``StepExecution`` per step attempt."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from spine.core.status import StepStatus, WorkflowStatus
from spine.orchestration.step_result import StepResult
from spine.orchestration.workflow_context import WorkflowContext


def _timestamp(value: datetime | float | None) -> float | None:
    if value is None or isinstance(value, float):
        return value
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value)


def _datetime(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


class StepExecution:
    """One attempt of one step: when it ran, how it ended, and its ``StepResult``.

    A failed attempt that is retried has ``will_retry=True``; a map step keeps its
    item runs in ``child_runs``.
    """

    __slots__ = (
        "_completed",
        "_started",
        "attempt",
        "child_runs",
        "error",
        "log",
        "result",
        "status",
        "step_name",
        "step_type",
        "will_retry",
    )

    def __init__(
        self,
        step_name: str,
        step_type: str,
        status: str,
        started_at: datetime | float | None = None,
        completed_at: datetime | float | None = None,
        result: StepResult | None = None,
        error: str | None = None,
        attempt: int = 1,
        will_retry: bool = False,
        child_runs: Sequence[WorkflowResult] | None = None,
        log: list[tuple[float, str, str]] | None = None,
    ) -> None:
        self.step_name = step_name
        self.step_type = step_type
        self.status = status
        # The runner passes floats; only callers building records by hand pay for conversion.
        self._started = started_at if type(started_at) is float else _timestamp(started_at)
        self._completed = completed_at if type(completed_at) is float else _timestamp(completed_at)
        self.result = result
        self.error = error
        self.attempt = attempt
        self.will_retry = will_retry
        self.child_runs = list(child_runs) if child_runs is not None else None
        self.log = log
        """What the attempt wrote with ``print()`` or ``logging`` (and its traceback, if
        it raised): ``(time, level, text)`` lines; ``None`` when it wrote nothing."""

    @property
    def started_at(self) -> datetime | None:
        return _datetime(self._started)

    @property
    def completed_at(self) -> datetime | None:
        return _datetime(self._completed)

    @property
    def duration_seconds(self) -> float | None:
        if self._started is None or self._completed is None:
            return None
        return self._completed - self._started

    @property
    def error_category(self) -> str | None:
        return self.result.error_category if self.result is not None else None

    @property
    def output(self) -> dict[str, Any] | None:
        return dict(self.result.output) if self.result is not None else None

    def to_dict(self) -> dict[str, Any]:
        started, completed = self.started_at, self.completed_at
        return {
            "step_name": self.step_name,
            "step_type": str(self.step_type),
            "status": str(self.status),
            "attempt": self.attempt,
            "started_at": started.isoformat() if started else None,
            "completed_at": completed.isoformat() if completed else None,
            "duration_seconds": self.duration_seconds,
            "error": self.error,
            "error_category": self.error_category,
            "output": self.output,
        }

    def __repr__(self) -> str:
        return (
            f"StepExecution({self.step_name!r}, {self.status!s}, attempt={self.attempt}, "
            f"duration={self.duration_seconds})"
        )


class WorkflowResult:
    """The outcome of ``WorkflowRunner.execute``."""

    def __init__(
        self,
        workflow_name: str,
        run_id: str,
        status: WorkflowStatus,
        context: WorkflowContext,
        started_at: datetime,
        completed_at: datetime | None = None,
        step_executions: list[StepExecution] | None = None,
        error_step: str | None = None,
        error: str | None = None,
        error_category: str | None = None,
    ) -> None:
        self.workflow_name = workflow_name
        self.run_id = run_id
        self.status = status
        self.context = context
        self.started_at = started_at
        self.completed_at = completed_at
        self.step_executions = step_executions if step_executions is not None else []
        self.error_step = error_step
        self.error = error
        self.error_category = error_category
        self.note: str | None = None
        """What happened beyond the status (e.g. a resume that found nothing to do)."""

    def _names(self, status: str) -> list[str]:
        return [
            e.step_name for e in self.step_executions if e.status == status and not e.will_retry
        ]

    @property
    def completed_steps(self) -> list[str]:
        """Steps that succeeded (skipped ones excluded), in the order they ran."""
        return self._names(StepStatus.COMPLETED)

    @property
    def failed_steps(self) -> list[str]:
        """Steps whose last attempt failed, in the order they ran."""
        return self._names(StepStatus.FAILED)

    @property
    def skipped_steps(self) -> list[str]:
        """Steps that returned ``StepResult.skip``, in the order they ran."""
        return self._names(StepStatus.SKIPPED)

    @property
    def total_steps(self) -> int:
        """Number of step executions (retried attempts not counted)."""
        return sum(1 for e in self.step_executions if not e.will_retry)

    @property
    def duration_seconds(self) -> float | None:
        if self.completed_at is None:
            return None
        return (self.completed_at - self.started_at).total_seconds()

    @property
    def outputs(self) -> dict[str, Any]:
        """Every step's output, as plain dicts."""
        return {k: dict(v) for k, v in self.context.outputs.items()}

    def to_dict(self) -> dict[str, Any]:
        return {
            "workflow_name": self.workflow_name,
            "run_id": self.run_id,
            "status": self.status.value,
            "started_at": self.started_at.isoformat(),
            "completed_at": self.completed_at.isoformat() if self.completed_at else None,
            "duration_seconds": self.duration_seconds,
            "completed_steps": self.completed_steps,
            "failed_steps": self.failed_steps,
            "skipped_steps": self.skipped_steps,
            "error_step": self.error_step,
            "error": self.error,
            "error_category": self.error_category,
            "note": self.note,
            "step_executions": [e.to_dict() for e in self.step_executions],
        }

    def __repr__(self) -> str:
        return (
            f"WorkflowResult({self.workflow_name!r}, run_id={self.run_id!r}, "
            f"status={self.status.value}, steps={len(self.step_executions)})"
        )


__all__ = ["StepExecution", "StepStatus", "WorkflowResult", "WorkflowStatus"]
