"""Choice steps: evaluate the condition and name the branch the flow takes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from spine.core.aio import is_awaitable, run_sync
from spine.execution.timeouts import stoppable
from spine.orchestration.engine.kinds.base import config_error
from spine.orchestration.flow import ELSE, THEN
from spine.orchestration.step_result import StepResult

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
    condition = step.condition
    if not callable(condition):
        return config_error(workflow_name, step, "condition is not callable"), None
    value = condition(ctx)
    if is_awaitable(value):
        value = run_sync(value, stoppable)
    taken = bool(value)
    target = step.then_step if taken else step.else_step
    output = {"condition_result": taken, "branch": THEN if taken else ELSE, "next_step": target}
    return StepResult.ok(output=output, next_step=target), None
