"""Pipelines: the registered units of work that pipeline steps call."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar

from spine.execution.context import ExecutionContext


class PipelineStatus(StrEnum):
    """Lifecycle of one pipeline execution."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class PipelineResult:
    """What a pipeline run produced: a status, metrics (its output) and timings."""

    status: PipelineStatus
    started_at: datetime = field(default_factory=_utcnow)
    completed_at: datetime | None = None
    error: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def succeeded(self) -> bool:
        return self.status == PipelineStatus.COMPLETED

    @property
    def duration_seconds(self) -> float | None:
        if self.completed_at is None:
            return None
        return (self.completed_at - self.started_at).total_seconds()


class Pipeline(ABC):
    """Base class of class-based pipelines.

    The dispatcher constructs the class with the step's params, sets
    :attr:`execution` (the lineage of this call), calls :meth:`validate_params`
    and then :meth:`run`. ``run`` returns a :class:`PipelineResult`, a ``dict``
    (its metrics) or ``None``; it may be ``async def``.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""

    def __init__(self, params: Mapping[str, Any] | None = None) -> None:
        self.params: dict[str, Any] = dict(params or {})
        self.execution: ExecutionContext | None = None

    def validate_params(self) -> None:  # noqa: B027 - optional hook, empty by default
        """Raise :class:`~spine.core.errors.BadParamsError` when ``params`` are unusable."""

    @abstractmethod
    def run(
        self,
    ) -> (
        PipelineResult
        | Mapping[str, Any]
        | Awaitable[PipelineResult | Mapping[str, Any] | None]
        | None
    ):
        """Do the work."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(params={self.params!r})"
