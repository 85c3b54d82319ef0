"""What a group run reports: one ``GroupStepExecution`` per step, and the group's status.

A step's status is the :class:`~spine.core.status.StepStatus` of workflow steps: a
group step ends ``COMPLETED``, ``FAILED`` or ``SKIPPED``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from spine.core.status import StepStatus
from spine.framework.pipelines import PipelineResult


class GroupExecutionStatus(StrEnum):
    """How a group run ended."""

    RUNNING = "running"
    """Never in a result (a result exists once the run has ended); spine-core's
    runner held it while running."""
    COMPLETED = "completed"
    """Every step completed."""
    FAILED = "failed"
    """A step failed under ``FailurePolicy.STOP``, no step completed, or the group
    timed out."""
    PARTIAL = "partial"
    """Under ``FailurePolicy.CONTINUE``, some steps failed and others completed."""


class GroupRunStatus(StrEnum):
    """The status of a group run as spine-core kept it in a run's history.

    No spine code sets it: group runs are not stored on their own (a group run as a
    workflow step is stored as that step).
    """

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return (end - start).total_seconds()


@dataclass(frozen=True, slots=True)
class GroupStepExecution:
    """One step of a group run."""

    step_name: str
    pipeline_name: str
    status: StepStatus
    started_at: datetime | None = None
    """``None`` for a skipped step, as is ``completed_at``."""
    completed_at: datetime | None = None
    result: PipelineResult | None = None
    """What the dispatcher returned (``None`` if the pipeline could not be started)."""
    error: str | None = None
    """Why the step failed."""
    skip_reason: str | None = None
    """Why the step did not run."""

    @property
    def duration_seconds(self) -> float | None:
        return _seconds(self.started_at, self.completed_at)

    @property
    def metrics(self) -> dict[str, Any]:
        """The pipeline's metrics (its output); empty if it did not run."""
        return dict(self.result.metrics) if self.result is not None else {}

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (the metrics as the pipeline returned them)."""
        return {
            "pipeline": self.pipeline_name,
            "status": self.status.value,
            "started_at": _iso(self.started_at),
            "completed_at": _iso(self.completed_at),
            "duration_seconds": self.duration_seconds,
            "error": self.error,
            "skip_reason": self.skip_reason,
            "metrics": self.metrics,
        }


@dataclass(frozen=True, slots=True)
class GroupExecutionResult:
    """The outcome of one run of a group."""

    group_name: str
    batch_id: str
    status: GroupExecutionStatus
    started_at: datetime
    completed_at: datetime
    step_executions: list[GroupStepExecution] = field(default_factory=list)
    """One per step of the plan, in plan order (skipped steps included)."""
    error: str | None = None
    """What went wrong, naming the group, the failed steps with their errors and the
    steps that did not run; ``None`` when the run completed."""

    @property
    def succeeded(self) -> bool:
        return self.status is GroupExecutionStatus.COMPLETED

    @property
    def duration_seconds(self) -> float:
        return (self.completed_at - self.started_at).total_seconds()

    def _count(self, status: StepStatus) -> int:
        return sum(1 for step in self.step_executions if step.status is status)

    @property
    def successful_steps(self) -> int:
        """How many steps completed (a count, as in spine-core)."""
        return self._count(StepStatus.COMPLETED)

    @property
    def failed_steps(self) -> int:
        return self._count(StepStatus.FAILED)

    @property
    def skipped_steps(self) -> int:
        return self._count(StepStatus.SKIPPED)

    @property
    def total_steps(self) -> int:
        return len(self.step_executions)

    @property
    def completed_steps(self) -> int:
        """The same count as :attr:`successful_steps` (spine-core had both names)."""
        return self.successful_steps

    @property
    def step_results(self) -> list[GroupStepExecution]:
        """:attr:`step_executions` under spine-core's other name."""
        return self.step_executions

    def get_step_execution(self, step_name: str) -> GroupStepExecution | None:
        return next((s for s in self.step_executions if s.step_name == step_name), None)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data: the output of a workflow step that runs the group.

        ``steps`` maps each step name (in plan order) to its status, timings, error,
        skip reason and metrics.
        """
        return {
            "group_name": self.group_name,
            "batch_id": self.batch_id,
            "status": self.status.value,
            "started_at": _iso(self.started_at),
            "completed_at": _iso(self.completed_at),
            "duration_seconds": self.duration_seconds,
            "error": self.error,
            "successful_steps": self.successful_steps,
            "failed_steps": self.failed_steps,
            "skipped_steps": self.skipped_steps,
            "steps": {step.step_name: step.to_dict() for step in self.step_executions},
        }
