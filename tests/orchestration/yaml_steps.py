"""Step functions and a workflow that the YAML files of the tests name by ``module:attribute``.

Tests spell the module as ``yaml_steps.__name__``: pytest decides the package name
under which it is imported.
"""

from __future__ import annotations

from typing import Any

from spine.execution import current_execution
from spine.orchestration import Step, StepResult, Workflow, WorkflowContext


def extract(ctx: WorkflowContext, config: dict[str, Any]) -> dict[str, Any]:
    return {"record_count": len(ctx.get_param("weeks", [])) * config["per_week"]}


def flaky(ctx: WorkflowContext, config: dict[str, Any]) -> StepResult | dict[str, Any]:
    """Fails its first attempt as a dropped connection would, succeeds on the next."""
    execution = current_execution()
    attempt = execution.attempt if execution is not None else 1
    if attempt == 1:
        return StepResult.fail("upstream busy", category="TRANSIENT")
    return {"attempts": attempt}


def square(ctx: WorkflowContext, config: dict[str, Any]) -> dict[str, Any]:
    week = ctx.get_param("week")
    return {"week": week, "square": week * week, "index": ctx.get_param("item_index")}


def alert(ctx: WorkflowContext, config: dict[str, Any]) -> dict[str, Any]:
    return {"alerted": True}


def publish(ctx: WorkflowContext, config: dict[str, Any]) -> StepResult:
    return StepResult.ok(output={"published": True}, context_updates={"published": "yes"})


def normalize(params: dict[str, Any]) -> dict[str, Any]:
    """A function pipeline (registered by the tests that need it)."""
    return {"mode": params["mode"], "tier": params["tier"]}


NOT_A_FUNCTION = 42

item_workflow = Workflow("yaml.items", [Step.lambda_("square", square)])
