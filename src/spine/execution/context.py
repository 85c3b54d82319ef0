"""Lineage: which execution ran which piece of work, on behalf of what.

Every run has an ``ExecutionContext``; each pipeline step and each map item gets a
child of it (``child()``), so an execution can always be traced to its parent.
Inside a pipeline the current one is available from :func:`current_execution`
(and as ``self.execution`` on a :class:`~spine.framework.Pipeline`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
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

    def child(
        self,
        *,
        execution_id: str | None = None,
        run_id: str | None = None,
        workflow_name: str | None = None,
        step_name: str | None = None,
        partition: Mapping[str, Any] | None = None,
        attempt: int = 1,
        batch_id: str | None = None,
    ) -> ExecutionContext:
        """A new execution whose parent is this one.

        It inherits ``batch_id``, ``run_id``, ``workflow_name`` and ``partition``
        unless given; ``step_name`` and ``attempt`` are its own.
        """
        # Built field by field: this runs for every map item and pipeline step, and
        # the generated __init__ of a frozen dataclass costs about twice as much.
        new = object.__new__(ExecutionContext)
        _set(new, "execution_id", execution_id or new_id())
        _set(new, "batch_id", batch_id if batch_id is not None else self.batch_id)
        _set(new, "parent_execution_id", self.execution_id)
        _set(new, "started_at", datetime.now(UTC))
        _set(new, "run_id", run_id if run_id is not None else self.run_id)
        _set(
            new, "workflow_name", workflow_name if workflow_name is not None else self.workflow_name
        )
        _set(new, "step_name", step_name)
        _set(new, "partition", partition if partition is not None else self.partition)
        _set(new, "attempt", attempt)
        return new

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
_set = object.__setattr__


class StepLineage:
    """The child execution of one step attempt, built only when someone asks for it.

    Every step gets one, but most steps never look at their lineage, and building an
    ``ExecutionContext`` (a fresh id, a timestamp) would be a good share of the
    engine's per-step cost.
    """

    __slots__ = ("_built", "attempt", "order", "parent", "step_name")

    def __init__(
        self, parent: ExecutionContext, step_name: str, attempt: int, order: int = 0
    ) -> None:
        self.parent = parent
        self.step_name = step_name
        self.attempt = attempt
        self.order = order
        """Position of this step execution in its run (0 for the first step run)."""
        self._built: ExecutionContext | None = None

    def resolve(self) -> ExecutionContext:
        """The step's ``ExecutionContext`` (the same object on every call)."""
        built = self._built
        if built is None:
            built = self._built = self.parent.child(step_name=self.step_name, attempt=self.attempt)
        return built


_current: ContextVar[ExecutionContext | StepLineage | None] = ContextVar(
    "spine_execution", default=None
)


def current_execution() -> ExecutionContext | None:
    """The execution of the step or pipeline running in this thread or task, if any.

    Inside a step it is the step's own child of the run's execution (``step_name``,
    ``attempt``, ``run_id``, ``parent_execution_id`` set); inside a pipeline called
    by a step, the pipeline's.
    """
    value = _current.get()
    if type(value) is StepLineage:
        return value.resolve()
    return value  # type: ignore[return-value]


@contextmanager
def executing(execution: ExecutionContext | StepLineage | None) -> Iterator[None]:
    """Make ``execution`` the :func:`current_execution` for the duration of the block."""
    token = _current.set(execution)
    try:
        yield
    finally:
        _current.reset(token)


def enter_step(lineage: StepLineage) -> Token[ExecutionContext | StepLineage | None]:
    """Make ``lineage`` current; the runner's cheaper form of :func:`executing`."""
    return _current.set(lineage)


def leave_step(token: Token[ExecutionContext | StepLineage | None]) -> None:
    _current.reset(token)
