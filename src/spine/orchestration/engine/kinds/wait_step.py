"""Wait steps: pause the run for ``duration_seconds``, until a moment (``until``), or
until a signal is sent to it (``signal_name``), through its sleeper (durably, with
history: a run that must not block is suspended as ``WAITING``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from spine.core.jsonvalue import decode
from spine.core.status import ErrorCategory
from spine.orchestration.engine.kinds.base import config_error, where
from spine.orchestration.engine.kinds.items import ItemsPathError, resolve_path
from spine.orchestration.engine.services import DurableSleeper
from spine.orchestration.moments import aware_time, is_path
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
    if step.signal_name is not None:
        return _signal(workflow_name, step, services), None
    if step.until is not None:
        return _until(workflow_name, step, ctx, services), None
    duration = step.duration_seconds
    if not isinstance(duration, int | float) or duration < 0:
        text = f"duration_seconds must be a number >= 0, got {duration!r}"
        return config_error(workflow_name, step, text), None
    if not services.dry_run:
        services.sleeper.wait(duration)
    return StepResult.ok(output={"waited_seconds": duration}), None


def _until(workflow_name: str, step: Step, ctx: WorkflowContext, services: Services) -> StepResult:
    """Wait until the step's moment, resolved now when it is a path. (A run resumed in
    the wait goes on at the deadline its row stored, as any wait does.)"""
    until = step.until
    try:
        moment = aware_time(resolve_path(ctx, until) if isinstance(until, str) and is_path(until)
                            else until)  # fmt: skip
    except (ValueError, ItemsPathError) as exc:
        return config_error(workflow_name, step, f"until={until!r}: {exc}")
    seconds = max(0.0, moment.timestamp() - services.clock.time())
    if not services.dry_run:
        services.sleeper.wait(seconds)
    return StepResult.ok(output={"waited_seconds": seconds, "until": moment.isoformat()})


def _signal(workflow_name: str, step: Step, services: Services) -> StepResult:
    """The signal's payload as the output, or a ``TIMEOUT`` failure without one."""
    sleeper, signal_name = services.sleeper, str(step.signal_name)
    if not isinstance(sleeper, DurableSleeper):
        # Nothing could send it: a signal is delivered through the run's history.
        text = f"awaits signal {signal_name!r}, which needs a runner with history (database_url)"
        return config_error(workflow_name, step, text)
    if services.dry_run:
        return StepResult.ok(output={})
    payload = sleeper.await_signal(signal_name, step.timeout_seconds)
    if payload is None:
        return StepResult.fail(
            f"{where(workflow_name, step)}: no signal {signal_name!r} within "
            f"{step.timeout_seconds}s",
            ErrorCategory.TIMEOUT,
        )
    return StepResult.ok(output=decode(payload))
