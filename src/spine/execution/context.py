"""Lineage: which execution ran which piece of work, on behalf of what.

Every run has an ``ExecutionContext``; each pipeline step and each map item gets a
child of it (``child()``), so an execution can always be traced to its parent.
Inside a pipeline the current one is available from :func:`current_execution`
(and as ``self.execution`` on a :class:`~spine.framework.Pipeline`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from spine.core.ids import new_id


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class ExecutionContext:
    """Identity and lineage of one execution."""

    execution_id: str = field(default_factory=new_id)
    """Unique id of this execution."""
    batch_id: str | None = None
    """Groups executions started together (a backfill, a schedule tick)."""
    parent_execution_id: str | None = None
    """The execution that started this one, if any."""
    started_at: datetime = field(default_factory=_utcnow)
    """When this execution started (UTC)."""
    run_id: str | None = None
    """The workflow run this execution belongs to."""
    workflow_name: str | None = None
    """Name of that workflow."""
    step_name: str | None = None
    """The step this execution runs, for a step's child context."""
    partition: Mapping[str, Any] = field(default_factory=dict)
    """Partition key of the run."""
    attempt: int = 1
    """Attempt number of the step, from 1."""

    def child(self, **fields: Any) -> ExecutionContext:
        """A new execution whose parent is this one; ``fields`` override inherited ones."""
        values: dict[str, Any] = {
            "batch_id": self.batch_id,
            "run_id": self.run_id,
            "workflow_name": self.workflow_name,
            "partition": self.partition,
        }
        values.update(fields)
        return ExecutionContext(parent_execution_id=self.execution_id, **values)

    def with_batch(self, batch_id: str) -> ExecutionContext:
        """The same execution, assigned to ``batch_id``."""
        return replace(self, batch_id=batch_id)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable data."""
        return {
            "execution_id": self.execution_id,
            "batch_id": self.batch_id,
            "parent_execution_id": self.parent_execution_id,
            "started_at": self.started_at.isoformat(),
            "run_id": self.run_id,
            "workflow_name": self.workflow_name,
            "step_name": self.step_name,
            "partition": dict(self.partition),
            "attempt": self.attempt,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExecutionContext:
        """Inverse of :meth:`to_dict`; missing keys take their defaults."""
        values = {k: data[k] for k in _FIELDS if data.get(k) is not None}
        if isinstance(values.get("started_at"), str):
            values["started_at"] = datetime.fromisoformat(values["started_at"])
        return cls(**values)


_FIELDS = tuple(ExecutionContext.__dataclass_fields__)

_current: ContextVar[ExecutionContext | None] = ContextVar("spine_execution", default=None)


def current_execution() -> ExecutionContext | None:
    """The execution of the pipeline running in this thread or task, if any."""
    return _current.get()


@contextmanager
def executing(execution: ExecutionContext | None) -> Iterator[None]:
    """Make ``execution`` the :func:`current_execution` for the duration of the block."""
    token = _current.set(execution)
    try:
        yield
    finally:
        _current.reset(token)
