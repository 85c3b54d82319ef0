"""The ``Runnable`` protocol of spine-core: something that runs a pipeline by name.

``WorkflowRunner(runnable)`` accepts any object with ``submit_pipeline_sync``; the
:class:`~spine.framework.Dispatcher` implements it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable


@dataclass
class PipelineRunResult:
    """Outcome of ``Runnable.submit_pipeline_sync``."""

    status: str
    error: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    run_id: str | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None

    @property
    def succeeded(self) -> bool:
        return self.status.lower() == "completed"

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None or self.completed_at is None:
            return None
        return (self.completed_at - self.started_at).total_seconds()


@runtime_checkable
class Runnable(Protocol):
    """Runs a pipeline by name and waits for it."""

    def submit_pipeline_sync(
        self,
        pipeline_name: str,
        params: Mapping[str, Any] | None = None,
        *,
        parent_run_id: str | None = None,
        correlation_id: str | None = None,
    ) -> PipelineRunResult: ...
