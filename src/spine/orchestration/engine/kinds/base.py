"""What every step kind shares: naming the step in errors, and turning what a step
function returned into a ``StepResult``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from spine.core.aio import is_awaitable, run_sync
from spine.core.status import ErrorCategory
from spine.execution.timeouts import stoppable
from spine.orchestration.step_result import StepResult

if TYPE_CHECKING:
    from spine.orchestration.step_types import Step


def category_of(exc: BaseException) -> str:
    """The error category of an exception a step raised."""
    if isinstance(exc, TimeoutError):
        return ErrorCategory.TIMEOUT.value
    if isinstance(exc, ConnectionError):
        return ErrorCategory.TRANSIENT.value
    return ErrorCategory.INTERNAL.value


def where(workflow_name: str, step: Step) -> str:
    return f"workflow {workflow_name!r}, step {step.name!r}"


def config_error(workflow_name: str, step: Step, text: str) -> StepResult:
    return StepResult.fail(f"{where(workflow_name, step)}: {text}", ErrorCategory.CONFIGURATION)


def _malformed(result: StepResult) -> str | None:
    """What is wrong with a ``StepResult`` the runner could not use, if anything."""
    for field in ("output", "context_updates"):
        value = getattr(result, field)
        if not isinstance(value, Mapping):
            return f"StepResult.{field} must be a dict, got {type(value).__name__}"
    if result.next_step is not None and not isinstance(result.next_step, str):
        return f"StepResult.next_step must be a step name, got {type(result.next_step).__name__}"
    return None


def coerce(workflow_name: str, step: Step, value: object) -> StepResult:
    """Turn what a step function returned into a usable ``StepResult``."""
    if isinstance(value, StepResult):
        problem = _malformed(value)
        if problem is None:
            return value
        return StepResult.fail(f"{where(workflow_name, step)}: {problem}")
    if value is None:
        return StepResult.ok()
    if isinstance(value, Mapping):
        return StepResult.ok(output=value)
    if is_awaitable(value):
        return coerce(workflow_name, step, run_sync(value, stoppable))
    return StepResult.fail(
        f"{where(workflow_name, step)}: the step function returned "
        f"{type(value).__name__}; return a StepResult, a dict or None",
        ErrorCategory.INTERNAL,
    )
