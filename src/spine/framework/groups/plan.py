"""Turning a group and a run's params into an execution plan.

The plan is the group's steps in a dependency-respecting order with their params
merged. Its order is spine-core's, and deterministic: first the steps that depend on
nothing, in the order they are listed; then each step as soon as the last of its
dependencies has been placed (Kahn's algorithm with a first-in, first-out queue).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from spine.core.errors import (
    CycleDetectedError,
    DependencyError,
    PlanResolutionError,
    StepNotFoundError,
)
from spine.core.ids import new_id
from spine.framework.groups.group import PipelineGroup
from spine.framework.groups.model import (
    ExecutionPolicy,
    PipelineStep,
    Problem,
    check_dependencies,
    describe,
    group_label,
)
from spine.framework.registry import PipelineRegistry, default_registry


@dataclass(frozen=True, slots=True)
class PlannedStep:
    """A step of a plan: its pipeline, its merged params and its place in the order."""

    step_name: str
    pipeline_name: str
    params: dict[str, Any]
    """Group defaults, overridden by the run's params, overridden by the step's params."""
    depends_on: tuple[str, ...]
    sequence_order: int
    """Position in the plan, from 0."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "step_name": self.step_name,
            "pipeline_name": self.pipeline_name,
            "params": dict(self.params),
            "depends_on": list(self.depends_on),
            "sequence_order": self.sequence_order,
        }


@dataclass(frozen=True, slots=True)
class ExecutionPlan:
    """A group resolved for one run: what :class:`GroupRunner` executes."""

    group_name: str
    group_version: int
    batch_id: str
    """Shared by the executions of this run's steps (their lineage's ``batch_id``)."""
    steps: Sequence[PlannedStep]
    """In plan order (stored as a tuple)."""
    policy: ExecutionPolicy
    params: dict[str, Any] = field(default_factory=dict)
    """The run's own params, as given."""
    resolved_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", tuple(self.steps))

    @property
    def step_count(self) -> int:
        return len(self.steps)

    @property
    def levels(self) -> list[list[str]]:
        """Step names by level, each level in plan order: level 0 holds the steps that
        depend on nothing, each other step is one level below its deepest dependency,
        so the steps of one level could all run at the same time."""
        level: dict[str, int] = {}
        levels: list[list[str]] = []
        for step in self.steps:
            depth = max((level[d] + 1 for d in step.depends_on if d in level), default=0)
            level[step.step_name] = depth
            if depth == len(levels):
                levels.append([])
            levels[depth].append(step.step_name)
        return levels

    def get_step(self, name: str) -> PlannedStep | None:
        return next((step for step in self.steps if step.step_name == name), None)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data, as spine-core wrote a plan."""
        policy = self.policy
        return {
            "group_name": self.group_name,
            "group_version": self.group_version,
            "batch_id": self.batch_id,
            "steps": [step.to_dict() for step in self.steps],
            "policy": {
                "execution": policy.mode.value,
                "max_concurrency": policy.max_concurrency,
                "on_failure": policy.on_failure.value,
                "timeout_minutes": policy.timeout_minutes,
            },
            "params": dict(self.params),
            "resolved_at": self.resolved_at.isoformat(),
        }


def topological_order(steps: Sequence[PipelineStep]) -> list[PipelineStep]:
    """``steps`` in plan order (see the module's docstring).

    ``steps`` must have unique names, known dependencies and no cycle
    (:func:`~spine.framework.groups.model.check_dependencies` finds none).
    """
    waiting_on = {step.name: len(set(step.depends_on)) for step in steps}
    dependents: dict[str, list[PipelineStep]] = {step.name: [] for step in steps}
    for step in steps:
        for dependency in dict.fromkeys(step.depends_on):
            dependents[dependency].append(step)
    ready = deque(step for step in steps if waiting_on[step.name] == 0)
    order: list[PipelineStep] = []
    while ready:
        step = ready.popleft()
        order.append(step)
        for dependent in dependents[step.name]:
            waiting_on[dependent.name] -= 1
            if waiting_on[dependent.name] == 0:
                ready.append(dependent)
    return order


class PlanResolver:
    """Resolves groups into plans, checking their dependencies and that every step's
    pipeline is registered.

    Args:
        validate_pipelines: check the pipeline names (set to false to plan groups
            whose pipelines live elsewhere, as spine-core allowed).
        registry: where pipelines are looked up (the default registry if omitted).
    """

    def __init__(
        self, validate_pipelines: bool = True, *, registry: PipelineRegistry | None = None
    ) -> None:
        self.validate_pipelines = validate_pipelines
        self.registry = registry if registry is not None else default_registry

    def resolve(
        self,
        group: PipelineGroup,
        params: Mapping[str, Any] | None = None,
        batch_id: str | None = None,
    ) -> ExecutionPlan:
        """The plan of ``group`` for a run with ``params``.

        Raises a :class:`~spine.core.errors.PlanResolutionError` listing every
        problem at once: :class:`~spine.core.errors.StepNotFoundError` when a step's
        pipeline is not registered, else :class:`~spine.core.errors.DependencyError`
        when a step depends on an unknown step, else
        :class:`~spine.core.errors.CycleDetectedError` (spine-core's order).
        """
        missing = self._unregistered(group) if self.validate_pipelines else []
        check_plannable(group, missing)
        run_params = dict(params or {})
        planned = tuple(
            PlannedStep(
                step_name=step.name,
                pipeline_name=step.pipeline,
                params={**group.defaults, **run_params, **step.params},
                depends_on=tuple(step.depends_on),
                sequence_order=order,
            )
            for order, step in enumerate(topological_order(group.steps))
        )
        return ExecutionPlan(
            group_name=group.name,
            group_version=group.version,
            batch_id=batch_id or f"group_{group.name}_{new_id()}",
            steps=planned,
            policy=group.policy,
            params=run_params,
        )

    def _unregistered(self, group: PipelineGroup) -> list[tuple[PipelineStep, Problem]]:
        registry = self.registry
        known = ", ".join(registry.names()) or "none"
        return [
            (
                step,
                Problem(
                    ("steps", index, "pipeline"),
                    f"step {step.name!r} runs pipeline {step.pipeline!r}, which is not "
                    f"registered (registered: {known})",
                ),
            )
            for index, step in enumerate(group.steps)
            if step.pipeline not in registry
        ]


def check_plannable(
    group: PipelineGroup, unregistered: Sequence[tuple[PipelineStep, Problem]] = ()
) -> None:
    """Raise the :class:`~spine.core.errors.PlanResolutionError` reporting the
    ``unregistered`` pipelines and the dependency problems of ``group``, if any."""
    check = check_dependencies(group.steps)
    problems = [problem for _, problem in unregistered] + check.problems
    if not problems:
        return
    message, rendered = describe(problems, label=group_label(group.name))
    error: PlanResolutionError
    if unregistered:
        step = unregistered[0][0]
        error = StepNotFoundError(
            step.name, step.pipeline, message=message, group_name=group.name, problems=rendered
        )
    elif check.missing:
        step_name, missing = next(iter(check.missing.items()))
        error = DependencyError(
            step_name, missing, message=message, group_name=group.name, problems=rendered
        )
    else:
        error = CycleDetectedError(
            check.cycles[0], message=message, group_name=group.name, problems=rendered
        )
    raise error
