"""How control moves between steps: a workflow compiled for the runner.

Choice branches are exclusive: after a choice sends the flow to one branch's
target, walking *in list order* into the target of one of its other branches ends
the run instead (the "fence"). Explicit jumps (a choice, ``next=``, or a result's
``next_step``) are never fenced, which is how ``next=`` joins branches.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from spine.orchestration.step_types import Step, StepType
from spine.orchestration.workflow import Workflow

THEN = "then"
ELSE = "else"


@dataclass(frozen=True, slots=True)
class Plan:
    """A workflow's steps with the lookups the runner needs, built once per definition."""

    steps: tuple[Step, ...]
    index: dict[str, int]
    fences: dict[tuple[str, str], frozenset[str]]
    """(choice name, branch) -> step names the branch may not walk into."""
    params_json: dict[int, str] = field(default_factory=dict)
    """Each step's own params as JSON, by step position, filled in as history needs them."""
    fingerprint: list[str] = field(default_factory=list)
    """The definition's fingerprint for history, once computed (see ``definition_hash``)."""

    def fences_taken(self, outputs: Mapping[str, Mapping[str, Any]]) -> dict[str, frozenset[str]]:
        """The fences of the choices recorded in ``outputs`` (a resumed run's context)."""
        taken: dict[str, frozenset[str]] = {}
        for choice, branch in self.fences:
            output = outputs.get(choice)
            if output is not None and output.get("branch") == branch:
                taken[choice] = self.fences[(choice, branch)]
        return taken


def compile_plan(steps: tuple[Step, ...]) -> Plan:
    index: dict[str, int] = {}
    fences: dict[tuple[str, str], frozenset[str]] = {}
    for position, step in enumerate(steps):
        index.setdefault(step.name, position)
        # With no else_step, a false condition continues in list order and the
        # then-branch has no sibling to fence off.
        if step.step_type is StepType.CHOICE and step.then_step and step.else_step:
            fences[(step.name, THEN)] = frozenset({step.else_step} - {step.then_step})
            fences[(step.name, ELSE)] = frozenset({step.then_step} - {step.else_step})
    return Plan(steps=steps, index=index, fences=fences)


def plan_for(workflow: Workflow) -> Plan:
    """The cached plan of ``workflow``, rebuilt if its steps were replaced."""
    steps = tuple(workflow.steps)
    cached: Plan | None = getattr(workflow, "_spine_plan", None)
    if cached is not None and cached.steps == steps:
        return cached
    plan = compile_plan(steps)
    # Workflow has no __slots__: the plan rides along on the instance.
    workflow._spine_plan = plan  # type: ignore[attr-defined]
    return plan
