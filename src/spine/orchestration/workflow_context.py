"""``WorkflowContext``: the immutable state passed from step to step.

Adding a step's output shares structure with the previous context (a HAMT under
``ctx.outputs``) instead of copying it, so each step costs the same whether the
run has 100 steps behind it or 100,000. Values inside params and outputs are not
deep-copied: treat what you read from the context as read-only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, NoReturn

from spine.core.errors import ReadOnlyError
from spine.core.frozen import FrozenDict, FrozenMap, freeze_dict, thaw
from spine.core.ids import new_id
from spine.execution.context import ExecutionContext

_EMPTY_MAP: FrozenMap[str, Any] = FrozenMap()


class WorkflowContext:
    """Run id, params, step outputs, partition and lineage of one workflow run.

    Immutable: ``with_output``, ``with_params`` and ``with_metadata`` return new
    contexts; ``params`` and ``outputs`` are read-only mappings that compare equal
    to dicts. ``to_dict`` gives plain JSON-ready data and ``from_dict`` restores it.
    """

    __slots__ = (
        "_execution",
        "_metadata",
        "_outputs",
        "_params",
        "_partition",
        "_run_id",
        "_started_at",
        "_workflow_name",
    )

    def __init__(
        self,
        run_id: str | None = None,
        workflow_name: str = "",
        params: Mapping[str, Any] | None = None,
        outputs: Mapping[str, Mapping[str, Any]] | None = None,
        partition: Mapping[str, Any] | None = None,
        execution: ExecutionContext | None = None,
        started_at: datetime | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        self._run_id = run_id or new_id()
        self._workflow_name = workflow_name
        self._params = _as_map(params)
        self._outputs: FrozenMap[str, FrozenDict] = (
            FrozenMap({k: freeze_dict(v) for k, v in outputs.items()}) if outputs else _EMPTY_MAP
        )
        self._partition = freeze_dict(partition)
        self._execution = execution or ExecutionContext(
            execution_id=self._run_id,
            run_id=self._run_id,
            workflow_name=workflow_name,
            partition=self._partition,
        )
        self._started_at = started_at or datetime.now(UTC)
        self._metadata = freeze_dict(metadata)

    @classmethod
    def create(
        cls,
        workflow_name: str,
        params: Mapping[str, Any] | None = None,
        partition: Mapping[str, Any] | None = None,
        batch_id: str | None = None,
        run_id: str | None = None,
        dry_run: bool = False,
        parent: ExecutionContext | None = None,
        started_at: datetime | None = None,
    ) -> WorkflowContext:
        """A fresh context for a new run of ``workflow_name``.

        ``parent`` links the run's lineage to an enclosing execution (a map step);
        ``started_at`` defaults to now.
        """
        run_id = run_id or new_id()
        frozen_partition = freeze_dict(partition)
        # A run's own execution id is its run id: one id to follow, one less to make.
        if parent is not None:
            execution = parent.child(
                execution_id=run_id,
                run_id=run_id,
                workflow_name=workflow_name,
                partition=frozen_partition,
                batch_id=batch_id,
            )
        else:
            execution = ExecutionContext(
                execution_id=run_id,
                batch_id=batch_id,
                run_id=run_id,
                workflow_name=workflow_name,
                partition=frozen_partition,
            )
        return cls(
            run_id=run_id,
            workflow_name=workflow_name,
            params=params,
            partition=frozen_partition,
            execution=execution,
            started_at=started_at,
            metadata={"dry_run": dry_run},
        )

    # -- read-only attributes -------------------------------------------------

    @property
    def run_id(self) -> str:
        return self._run_id

    @property
    def workflow_name(self) -> str:
        return self._workflow_name

    @property
    def params(self) -> FrozenMap[str, Any]:
        """Run params plus every step's ``context_updates`` so far."""
        return self._params

    @property
    def outputs(self) -> FrozenMap[str, FrozenDict]:
        """Each completed step's output, by step name."""
        return self._outputs

    @property
    def partition(self) -> FrozenDict:
        return self._partition

    @property
    def execution(self) -> ExecutionContext:
        return self._execution

    @property
    def started_at(self) -> datetime:
        return self._started_at

    @property
    def metadata(self) -> FrozenDict:
        return self._metadata

    @property
    def execution_id(self) -> str:
        return self._execution.execution_id

    @property
    def batch_id(self) -> str | None:
        return self._execution.batch_id

    @property
    def is_dry_run(self) -> bool:
        return bool(self._metadata.get("dry_run", False))

    # -- reading ----------------------------------------------------------------

    def get_param(self, name: str, default: Any = None) -> Any:
        return self._params.get(name, default)

    def get_output(self, step_name: str, key: str | None = None, default: Any = None) -> Any:
        """A value of ``step_name``'s output, or (with no key) the whole output dict.

        Returns ``default`` when the step has no output (or no such key).
        """
        output = self._outputs.get(step_name)
        if not output:
            return default
        if key is None:
            return output
        return output.get(key, default)

    def has_output(self, step_name: str) -> bool:
        return step_name in self._outputs

    # -- deriving ---------------------------------------------------------------

    def _derive(
        self, params: FrozenMap[str, Any], outputs: FrozenMap[str, FrozenDict]
    ) -> WorkflowContext:
        new = object.__new__(WorkflowContext)
        new._run_id = self._run_id
        new._workflow_name = self._workflow_name
        new._params = params
        new._outputs = outputs
        new._partition = self._partition
        new._execution = self._execution
        new._started_at = self._started_at
        new._metadata = self._metadata
        return new

    def with_output(self, step_name: str, output: Mapping[str, Any] | None) -> WorkflowContext:
        """A new context in which ``step_name``'s whole output is ``output``."""
        return self._derive(self._params, self._outputs.set(step_name, freeze_dict(output)))

    def with_params(self, updates: Mapping[str, Any]) -> WorkflowContext:
        """A new context with ``updates`` merged into ``params``."""
        return self._derive(self._params.merged(updates), self._outputs)

    def with_base_params(self, base: Mapping[str, Any]) -> WorkflowContext:
        """A new context whose params are ``base`` overridden by this context's own
        (a map item's params over those of its map's run)."""
        return self._derive(_as_map(base).merged(self._params), self._outputs)

    def with_metadata(self, updates: Mapping[str, Any]) -> WorkflowContext:
        """A new context with ``updates`` merged into ``metadata``."""
        new = self._derive(self._params, self._outputs)
        new._metadata = FrozenDict({**self._metadata, **updates})
        return new

    def with_step_result(
        self,
        step_name: str,
        output: Mapping[str, Any] | None,
        context_updates: Mapping[str, Any] | None,
    ) -> WorkflowContext:
        """``with_output`` and ``with_params`` in one step (one new context, not two)."""
        params = self._params.merged(context_updates) if context_updates else self._params
        return self._derive(params, self._outputs.set(step_name, freeze_dict(output)))

    def rebased(self, workflow_name: str, partition: Mapping[str, Any]) -> WorkflowContext:
        """The same run's context under another workflow name and partition."""
        frozen = freeze_dict(partition)
        new = self._derive(self._params, self._outputs)
        new._workflow_name = workflow_name
        new._partition = frozen
        new._execution = replace(self._execution, workflow_name=workflow_name, partition=frozen)
        return new

    # -- serialisation ----------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-serialisable data (when the values themselves are)."""
        return {
            "run_id": self._run_id,
            "workflow_name": self._workflow_name,
            "params": thaw(self._params),
            "outputs": thaw(self._outputs),
            "partition": thaw(self._partition),
            "execution": self._execution.to_dict(),
            "started_at": self._started_at.isoformat(),
            "metadata": dict(self._metadata),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WorkflowContext:
        """Rebuild a context from :meth:`to_dict` output."""
        started = data.get("started_at")
        execution = data.get("execution")
        return cls(
            run_id=data.get("run_id"),
            workflow_name=data.get("workflow_name", ""),
            params=data.get("params"),
            outputs=data.get("outputs"),
            partition=data.get("partition"),
            execution=ExecutionContext.from_dict(execution) if execution else None,
            started_at=datetime.fromisoformat(started) if isinstance(started, str) else started,
            metadata=data.get("metadata"),
        )

    def __eq__(self, other: object) -> bool:
        # The identity and data of a run; lineage, timestamps and metadata are
        # bookkeeping that a context rebuilt from fewer fields need not match.
        if not isinstance(other, WorkflowContext):
            return NotImplemented
        return (
            self._run_id == other._run_id
            and self._workflow_name == other._workflow_name
            and self._params == other._params
            and self._outputs == other._outputs
            and self._partition == other._partition
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"WorkflowContext(workflow_name={self._workflow_name!r}, run_id={self._run_id!r}, "
            f"params={sorted(self._params)!r}, outputs={list(self._outputs)!r})"
        )


def _refuse(name: str) -> Callable[[WorkflowContext, object], NoReturn]:
    def refuse(self: WorkflowContext, value: object) -> NoReturn:
        raise ReadOnlyError(
            f"WorkflowContext is immutable: cannot set {name!r}; derive a new context "
            "with with_params(), with_output() or with_metadata()"
        )

    return refuse


# Assigning to a context attribute raises ReadOnlyError (a TypeError and an
# AttributeError) rather than a bare "can't set attribute".
for _name in (
    "run_id", "workflow_name", "params", "outputs", "partition",
    "execution", "started_at", "metadata",
):  # fmt: skip
    setattr(WorkflowContext, _name, vars(WorkflowContext)[_name].setter(_refuse(_name)))


def _as_map(values: Mapping[str, Any] | None) -> FrozenMap[str, Any]:
    if not values:
        return _EMPTY_MAP
    if isinstance(values, FrozenMap):
        return values
    return FrozenMap(values)


__all__ = ["WorkflowContext"]
