"""Turning a group and a run's params into an execution plan.

The plan is the group's steps in a dependency-respecting order with their params
merged. Its order is deterministic: steps keep the order they are listed in, except
that a step is moved after the steps it depends on.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from spine.core.ids import new_id
from spine.framework.groups.group import PipelineGroup
from spine.framework.groups.model import (
    ExecutionPolicy,
    PipelineStep,
    Problem,
    group_label,
    invalid,
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
    level: int
    """0 for a step without dependencies, else one more than its deepest dependency:
    the steps of one level can all run at the same time."""


@dataclass(frozen=True, slots=True)
class ExecutionPlan:
    """A group resolved for one run: what :class:`GroupRunner` executes."""

    group_name: str
    group_version: int
    batch_id: str
    """Shared by the executions of this run's steps (their lineage's ``batch_id``)."""
    steps: tuple[PlannedStep, ...]
    """In plan order."""
    policy: ExecutionPolicy
    params: dict[str, Any] = field(default_factory=dict)
    """The run's own params, as given."""
    resolved_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def step_count(self) -> int:
        return len(self.steps)

    @property
    def levels(self) -> list[list[str]]:
        """Step names by level, each level in plan order."""
        levels: list[list[str]] = []
        for step in self.steps:
            if step.level == len(levels):
                levels.append([])
            levels[step.level].append(step.step_name)
        return levels

    def get_step(self, name: str) -> PlannedStep | None:
        return next((step for step in self.steps if step.step_name == name), None)


def topological_order(steps: Sequence[PipelineStep]) -> list[tuple[PipelineStep, int]]:
    """``steps`` in a dependency-respecting order, each with its level.

    Among the steps whose dependencies are done, the one listed first goes next
    (Kahn's algorithm with a priority queue). ``steps`` must form a valid graph, as
    in any constructed :class:`PipelineGroup`.
    """
    position = {step.name: index for index, step in enumerate(steps)}
    waiting_on = {step.name: len(set(step.depends_on)) for step in steps}
    dependents: dict[str, list[str]] = {step.name: [] for step in steps}
    for step in steps:
        for dependency in set(step.depends_on):
            dependents[dependency].append(step.name)
    ready = [index for index, step in enumerate(steps) if waiting_on[step.name] == 0]
    heapq.heapify(ready)
    level: dict[str, int] = {}
    order: list[tuple[PipelineStep, int]] = []
    while ready:
        step = steps[heapq.heappop(ready)]
        level[step.name] = max((level[d] + 1 for d in step.depends_on), default=0)
        order.append((step, level[step.name]))
        for dependent in dependents[step.name]:
            waiting_on[dependent] -= 1
            if waiting_on[dependent] == 0:
                heapq.heappush(ready, position[dependent])
    return order


class PlanResolver:
    """Resolves groups into plans, checking that every step's pipeline is registered.

    Args:
        registry: where pipelines are looked up (the default registry if omitted).
        validate_pipelines: check the pipeline names (set to false to plan groups
            whose pipelines live elsewhere, as spine-core allowed).
    """

    def __init__(
        self, registry: PipelineRegistry | None = None, *, validate_pipelines: bool = True
    ) -> None:
        self.registry = registry if registry is not None else default_registry
        self.validate_pipelines = validate_pipelines

    def resolve(
        self,
        group: PipelineGroup,
        params: Mapping[str, Any] | None = None,
        batch_id: str | None = None,
    ) -> ExecutionPlan:
        """The plan of ``group`` for a run with ``params``.

        Raises :class:`~spine.core.errors.GroupValidationError` naming every step
        whose pipeline is not registered.
        """
        if self.validate_pipelines:
            self._check_pipelines(group)
        run_params = dict(params or {})
        planned = tuple(
            PlannedStep(
                step_name=step.name,
                pipeline_name=step.pipeline,
                params={**group.defaults, **run_params, **step.params},
                depends_on=tuple(step.depends_on),
                sequence_order=order,
                level=level,
            )
            for order, (step, level) in enumerate(topological_order(group.steps))
        )
        return ExecutionPlan(
            group_name=group.name,
            group_version=group.version,
            batch_id=batch_id or new_id(),
            steps=planned,
            policy=group.policy,
            params=run_params,
        )

    def _check_pipelines(self, group: PipelineGroup) -> None:
        registry = self.registry
        known = ", ".join(registry.names()) or "none"
        missing = [
            Problem(
                ("steps", index, "pipeline"),
                f"step {step.name!r} runs pipeline {step.pipeline!r}, which is not "
                f"registered (registered: {known})",
            )
            for index, step in enumerate(group.steps)
            if step.pipeline not in registry
        ]
        if missing:
            raise invalid(missing, label=group_label(group.name), group=group.name)
