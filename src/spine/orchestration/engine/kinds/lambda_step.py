"""Lambda steps: call the step's function with the context and its config."""

from __future__ import annotations

from typing import TYPE_CHECKING

from spine.orchestration.engine.kinds.base import coerce, config_error

if TYPE_CHECKING:
    from spine.execution.context import StepLineage
    from spine.orchestration.engine.attempt import Outcome
    from spine.orchestration.engine.services import Services
    from spine.orchestration.step_types import Step
    from spine.orchestration.workflow_context import WorkflowContext


def run(
    workflow_name: str,
    step: Step,
    ctx: WorkflowContext,
    services: Services,
    lineage: StepLineage,
) -> Outcome:
    handler = step.handler
    if not callable(handler):
        return config_error(workflow_name, step, "handler is not callable"), None
    return coerce(workflow_name, step, handler(ctx, step.config)), None
