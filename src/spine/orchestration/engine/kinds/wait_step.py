"""Wait steps: pause the run for ``duration_seconds`` through its sleeper (durably,
with history: a run that must not block is suspended as ``WAITING``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from spine.orchestration.engine.kinds.base import config_error
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
    duration = step.duration_seconds
    if not isinstance(duration, int | float) or duration < 0:
        text = f"duration_seconds must be a number >= 0, got {duration!r}"
        return config_error(workflow_name, step, text), None
    if not services.dry_run:
        services.sleeper.wait(duration)
    return StepResult.ok(output={"waited_seconds": duration}), None
