"""One attempt of one step, whatever its kind, into a ``StepResult``.

Nothing a step does escapes as an exception: a raised exception, a malformed return
value or a missing pipeline becomes a failed ``StepResult`` whose error names the
workflow and the step (the traceback goes into the attempt's log). Only
``KeyboardInterrupt``, ``SystemExit`` and a run's suspension or cancellation pass
through (see ``spine.core.errors.FATAL_EXCEPTIONS``), and a lost lease (the run was
taken over: it is let go, see ``engine/runs.py``). What the attempt writes with
``print()`` or ``logging`` is captured into its log (:mod:`spine.execution.capture`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from spine.core.errors import FATAL_EXCEPTIONS, LeaseLostError, describe_exception
from spine.core.records import LogLine
from spine.core.status import ErrorCategory
from spine.execution.capture import Attempt, begin, end, record_exception
from spine.execution.context import StepLineage, enter_step, leave_step
from spine.execution.timeouts import call_within
from spine.execution.tracing import carried, current_trace
from spine.orchestration.engine.kinds import (
    choice_step,
    lambda_step,
    map_step,
    pipeline_step,
    wait_step,
)
from spine.orchestration.engine.kinds.base import category_of, config_error, where
from spine.orchestration.engine.services import Cancelled, OutOfTime, Suspended
from spine.orchestration.step_result import StepResult
from spine.orchestration.step_types import StepType

if TYPE_CHECKING:
    from spine.orchestration.engine.services import Services
    from spine.orchestration.results import WorkflowResult
    from spine.orchestration.step_types import Step
    from spine.orchestration.workflow import Workflow
    from spine.orchestration.workflow_context import WorkflowContext

Outcome = tuple[StepResult, "list[WorkflowResult] | None"]
"""A step attempt's result, and the item runs when the step is a map."""

Performed = tuple[StepResult, "list[WorkflowResult] | None", "list[LogLine] | None"]
"""An :data:`Outcome` and what the attempt wrote (``None``: nothing)."""

Kind = Callable[[str, "Step", "WorkflowContext", "Services", StepLineage], Outcome]

KINDS: dict[str, Kind] = {
    StepType.LAMBDA: lambda_step.run,
    StepType.PIPELINE: pipeline_step.run,
    StepType.CHOICE: choice_step.run,
    StepType.WAIT: wait_step.run,
    StepType.MAP: map_step.run,
}

# (A lost lease is the run's, not the step's: the run lets go, the step did not fail.)
_PASS_THROUGH: tuple[type[BaseException], ...] = (
    *FATAL_EXCEPTIONS, Suspended, Cancelled, LeaseLostError,
)  # fmt: skip


def perform(
    workflow_name: str,
    step: Step,
    ctx: WorkflowContext,
    attempt: int,
    order: int,
    services: Services,
    log: Attempt | None = None,
) -> Performed:
    """Run ``step`` once against ``ctx``; never raises for the step's own failure.

    ``order`` is the step execution's position in its run (map items are keyed by it);
    ``log``: where what the attempt writes goes (made here if not given).
    """
    lineage = StepLineage(ctx.execution, step.name, attempt, order)
    token = enter_step(lineage)
    if log is None:
        log = Attempt(services.log_limit)
    log_token = begin(log)
    children = None
    try:
        kind = KINDS.get(step.step_type)
        if kind is None:
            result = config_error(workflow_name, step, f"unknown step type {step.step_type!r}")
        else:
            result, children = kind(workflow_name, step, ctx, services, lineage)
    except _PASS_THROUGH:
        raise
    except BaseException as exc:
        record_exception(exc)
        result = StepResult.fail(describe_exception(exc), category_of(exc))
    finally:
        end(log_token)
        leave_step(token)
    lines = log.lines()
    return result, children, lines if not lines else _traced(lines, services)


def _traced(lines: list[LogLine] | None, services: Services) -> list[LogLine] | None:
    """An attempt's lines, led by the trace it ran in when its run is traced here or
    was sent with a trace (spans and logs meet there)."""
    if not lines or (services.tracing is None and not carried()):
        return lines  # (most attempts write nothing: the caller skips the call for them)
    trace = current_trace()
    return lines if trace is None else [(lines[0][0], "trace", trace), *lines]


def perform_within(
    seconds: float,
    run_limit: float | None,
    workflow_name: str,
    step: Step,
    ctx: WorkflowContext,
    attempt: int,
    order: int,
    services: Services,
) -> Performed:
    """:func:`perform` on a helper thread, waited for ``seconds`` at most; past them
    the attempt fails ``TIMEOUT`` at once and its call is stopped or abandoned
    (:mod:`spine.execution.timeouts`): what it returns later is never applied.

    ``run_limit``: the workflow's ``timeout_seconds``, when the run's deadline rather
    than the step's own limit is what ``seconds`` ends at.
    """
    label = where(workflow_name, step)
    log = Attempt(services.log_limit)
    finished, performed = call_within(
        seconds, label, perform, workflow_name, step, ctx, attempt, order, services, log
    )
    if finished and performed is not None:
        return performed
    if run_limit is None:
        text = f"{label}: exceeded timeout_seconds={step.timeout_seconds}"
    else:
        text = f"{label}: the run exceeded the workflow's timeout_seconds={run_limit}"
    # What it wrote before its time was up is kept; what an abandoned call writes later
    # is not.
    lines = log.so_far(f"[timed out after {seconds:g} s: later lines are not kept]")
    return StepResult.fail(text, ErrorCategory.TIMEOUT), None, _traced(lines, services)


def perform_timed(
    workflow: Workflow,
    step: Step,
    ctx: WorkflowContext,
    attempt: int,
    order: int,
    services: Services,
    deadline: float | None,
    now: float,
) -> Performed:
    """An attempt under the step's limit or the run's ``deadline`` (clock time),
    whichever ends first, inside its span when the run is traced; :class:`OutOfTime`
    if the run's time is up already."""
    if deadline is not None and deadline <= now:
        raise OutOfTime
    tracing = services.tracing
    if tracing is None:
        return _limited(workflow, step, ctx, attempt, order, services, deadline, now)
    return tracing.attempt(
        lambda: _limited(workflow, step, ctx, attempt, order, services, deadline, now),
        workflow.name,
        ctx.run_id,
        step,
        attempt,
    )


def _limited(
    workflow: Workflow,
    step: Step,
    ctx: WorkflowContext,
    attempt: int,
    order: int,
    services: Services,
    deadline: float | None,
    now: float,
) -> Performed:
    # A wait's own timeout (a signal's) is the wait's deadline, not an attempt limit.
    own = None if step.step_type is StepType.WAIT else step.timeout_seconds
    if deadline is not None:
        left = deadline - now
        if step.step_type is StepType.WAIT:
            # A wait is not cut short (it may be durable); the next attempt checks.
            return perform(workflow.name, step, ctx, attempt, order, services)
        if own is None or left < own:
            limit = workflow.timeout_seconds
            return perform_within(left, limit, workflow.name, step, ctx, attempt, order, services)
    if own is None:
        return perform(workflow.name, step, ctx, attempt, order, services)
    return perform_within(own, None, workflow.name, step, ctx, attempt, order, services)
