"""The step loop: executes a run from its state until it ends or must wait.

It owns what every step shares (the step budget, cancellation, time limits, retries and their
delays, routing) and knows no step kind: each attempt goes through
:func:`~spine.orchestration.engine.attempt.perform`, and its outcome through
:meth:`RunState.apply <spine.orchestration.engine.state.RunState.apply>`, the
function that also replays stored runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from spine.core.frozen import freeze_dict
from spine.core.status import ErrorCategory, StepStatus, WorkflowStatus
from spine.orchestration.engine.attempt import perform, perform_timed
from spine.orchestration.engine.journal import NO_DATA
from spine.orchestration.engine.services import Cancelled, OutOfTime, Suspended
from spine.orchestration.engine.state import IN_ORDER, InOrder, utc
from spine.orchestration.results import StepExecution, WorkflowResult
from spine.orchestration.retry import RetryPolicy
from spine.orchestration.step_result import StepResult
from spine.orchestration.step_types import ErrorPolicy

if TYPE_CHECKING:
    from spine.orchestration.engine.services import Services
    from spine.orchestration.engine.state import RunState
    from spine.orchestration.step_types import Step
    from spine.orchestration.workflow import Workflow

_DEFAULT_RETRY = RetryPolicy()
_FAILED = StepStatus.FAILED
_CONTINUE = ErrorPolicy.CONTINUE
_TIMEOUT = ErrorCategory.TIMEOUT.value


def retry_policy(step: Step) -> RetryPolicy | None:
    if step.retry is not None:
        return step.retry
    return _DEFAULT_RETRY if step.on_error is ErrorPolicy.RETRY else None


def run_steps(services: Services, workflow: Workflow, state: RunState) -> WorkflowResult:
    """Execute ``workflow`` from ``state`` until the run ends (or, with history and
    a sleeper that does not block, until it must wait: then it is left ``WAITING``).

    Each step is attempted until it succeeds or its retries are spent; every attempt
    is applied to the state and journaled. (One function: this loop is the engine's
    hottest code, and a call per step would cost a measurable share of it.)
    """
    now = services.clock.time
    journal = services.journal
    started = now()
    steps = state.plan.steps
    index = state.plan.index
    total = len(steps)
    name = workflow.name
    observe = services.on_step
    budget = services.max_steps - state.steps_run
    encoded = NO_DATA
    deadline = _deadline(workflow, state, started if journal is None else journal.since)
    untraced = services.tracing is None
    try:
        while (position := state.position) < total:
            step = steps[position]
            if budget == 0:
                text = _out_of_steps(workflow, step, services.max_steps)
                state.stop(step.name, text, ErrorCategory.CONFIGURATION.value,
                           WorkflowStatus.FAILED)  # fmt: skip
                break
            budget -= 1
            order = state.step_order
            while True:
                # Before every attempt, and again after a retry's delay: no step starts
                # once a cancel was accepted.
                if journal is not None and journal.cancelled():
                    raise Cancelled("before")
                if state.retry_at is not None:
                    if deadline is not None and state.retry_at >= deadline:
                        raise OutOfTime
                    services.sleeper.delay(state.retry_at)
                    state.retry_at = None
                    continue
                attempt = state.attempt
                t0 = now()
                if deadline is None and step.timeout_seconds is None and untraced:
                    result, children, log = perform(name, step, state.ctx, attempt, order, services)
                else:
                    result, children, log = perform_timed(
                        workflow, step, state.ctx, attempt, order, services, deadline, t0
                    )
                t1 = now()
                jump = result.next_step or step.next
                if jump is not None and jump not in index:
                    result = _bad_jump(name, step, jump)
                if journal is not None:
                    result, encoded = journal.encode(step, result)
                if result.success:
                    result.output = freeze_dict(result.output)
                    status = StepStatus.SKIPPED if result.skipped else StepStatus.COMPLETED
                    break
                status = _FAILED
                policy = retry_policy(step)
                if policy is None or not policy.should_retry(attempt, result.error_category):
                    break
                if deadline is not None and now() >= deadline:
                    break  # the run's time is up: no attempt follows
                retried = StepExecution(
                    step.name, step.step_type, _FAILED, t0, t1, result, result.error, attempt,
                    True, children, log,
                )  # fmt: skip
                state.apply(retried, step.name)
                if observe is not None:
                    observe(state.ctx.run_id, retried)
                if journal is not None:
                    journal.write(position, step, order, retried, encoded, step.name)
                state.retry_at = now() + policy.delay_seconds(attempt)
            execution = StepExecution(
                step.name, step.step_type, status, t0, t1, result, result.error, attempt, False,
                children, log,
            )  # fmt: skip
            # Where the flow goes: a failure that stops the run ends it; an explicit
            # jump (next=, a choice, a result's next_step) is taken; otherwise the next
            # step in list order, unless a choice fenced it off (apply decides, once
            # this step's own fence is in). Only a failed step whose next= names no
            # step finds no target here (its failure says why): nothing valid follows.
            target: str | InOrder | None = None
            if result.success or step.on_error is _CONTINUE:
                target = result.next_step or step.next or IN_ORDER
                if target is not IN_ORDER and target not in index:
                    target = None
            following = state.apply(execution, target)
            if observe is not None:
                observe(state.ctx.run_id, execution)
            if journal is not None:
                journal.write(position, step, order, execution, encoded, following)
                if following is not None:
                    # A last step's row is committed with the run's end (finish):
                    # until then the run stays as it was (WAITING for a wait).
                    services.sleeper.settle()
    except Suspended:
        return state.unfinished(workflow.name, WorkflowStatus.WAITING)
    except Cancelled as where:
        _cancelled(state, step.name, str(where))
    except OutOfTime:
        limit = workflow.timeout_seconds
        text = f"workflow {name!r} exceeded timeout_seconds={limit} before step {step.name!r}"
        state.stop(step.name, text, _TIMEOUT, WorkflowStatus.FAILED)
    completed = now()
    result_ = state.result(name, state.ctx.started_at if journal else utc(started), completed)
    if journal is not None and not journal.finish(result_, completed):
        # Asked to stop while its last step ran: that step is recorded, and the run
        # ends CANCELLED rather than as the step left it.
        last = state.executions[-1].step_name if state.executions else steps[-1].name
        _cancelled(state, last, "during")
        result_ = state.result(name, state.ctx.started_at, completed)
        journal.finish(result_, completed)
    return result_


def _deadline(workflow: Workflow, state: RunState, started: float | None) -> float | None:
    """When the run's time is up (clock time), if its workflow has a ``timeout_seconds``:
    counted as its duration is (``started``: this execution's start for a run without
    history; with history, the journal's ``since``, else the run's first start), so a
    run resumed after it ended has what its execution so far left of the limit, however
    long it lay ended, whichever way it was resumed."""
    limit = workflow.timeout_seconds
    if limit is None:
        return None
    return (state.ctx.started_at.timestamp() if started is None else started) + limit


def _cancelled(state: RunState, step_name: str, where: str) -> None:
    text = f"cancelled by request {where} step {step_name!r}"
    state.stop(step_name, text, ErrorCategory.CANCELLED.value, WorkflowStatus.CANCELLED)


def _bad_jump(name: str, step: Step, jump: str) -> StepResult:
    return StepResult.fail(
        f"workflow {name!r}, step {step.name!r}: next step {jump!r} names no step of this workflow",
        ErrorCategory.CONFIGURATION,
    )


def _out_of_steps(workflow: Workflow, step: Step, max_steps: int) -> str:
    return (
        f"workflow {workflow.name!r} reached max_steps={max_steps} before step "
        f"{step.name!r}; a choice loop that never exits? Raise "
        "WorkflowRunner(max_steps=...) if the run really needs more steps"
    )
