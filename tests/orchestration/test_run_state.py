"""``RunState.apply``: one rule for a live run and for its replay from stored rows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from spine.core.status import ErrorCategory
from spine.orchestration import (
    ErrorPolicy,
    RetryPolicy,
    Step,
    StepResult,
    Workflow,
    WorkflowContext,
    WorkflowRunner,
    WorkflowStatus,
    register_workflow,
)
from spine.orchestration.engine.state import replay
from spine.orchestration.flow import plan_for

MakeRunner = Callable[..., WorkflowRunner]


def _branchy() -> Workflow:
    """A choice whose fence ends the run, a failure that continues, a retried step."""
    attempts = {"retried": 0}

    def retried(ctx: WorkflowContext, config: dict[str, Any]) -> StepResult:
        attempts["retried"] += 1
        if attempts["retried"] == 1:
            return StepResult.fail("once", category="TRANSIENT")
        return StepResult.ok(output={"n": attempts["retried"]}, context_updates={"seen": True})

    def broken(ctx: WorkflowContext, config: dict[str, Any]) -> StepResult:
        return StepResult.fail("always", category="DATA_QUALITY", output={"partial": 1})

    return Workflow(
        "state.branchy",
        [
            Step.lambda_(
                "retried", retried, retry=RetryPolicy(max_attempts=2, initial_delay_seconds=0)
            ),
            Step.lambda_("soft", broken, on_error=ErrorPolicy.CONTINUE),
            Step.choice(
                "route", lambda ctx: ctx.params.get("seen", False), then_step="yes", else_step="no"
            ),
            Step.lambda_("yes", lambda ctx, cfg: {"took": "yes"}),
            Step.lambda_("no", lambda ctx, cfg: {"took": "no"}),
        ],
    )


def test_replaying_a_runs_rows_gives_the_state_the_live_run_ended_in(
    database_url: str, make_runner: MakeRunner
) -> None:
    workflow = register_workflow(_branchy())
    runner = make_runner(database_url=database_url)
    live = runner.execute(workflow)
    assert live.status == WorkflowStatus.PARTIAL
    assert [e.step_name for e in live.step_executions] == [
        "retried",
        "retried",
        "soft",
        "route",
        "yes",
    ]

    state = replay(runner.store.load_run(live.run_id), plan_for(workflow))  # type: ignore[union-attr]

    assert state.status == live.status
    assert (state.error_step, state.error, state.error_category) == (
        live.error_step,
        live.error,
        live.error_category,
    )
    assert state.ctx.outputs == live.context.outputs
    assert state.ctx.params == live.context.params
    assert state.position == len(workflow.steps)  # the fence ended it after "yes"
    assert state.step_order == 4
    assert [(e.step_name, e.attempt, e.will_retry) for e in state.executions] == [
        (e.step_name, e.attempt, e.will_retry) for e in live.step_executions
    ]


def test_a_run_can_fail_and_be_resumed_any_number_of_times(
    database_url: str, make_runner: MakeRunner
) -> None:
    fixed = {"now": False}
    calls = {"middle": 0, "last": 0}

    def middle(ctx: WorkflowContext, config: dict[str, Any]) -> StepResult:
        calls["middle"] += 1
        if not fixed["now"]:
            return StepResult.fail(f"broken {calls['middle']}", category="DEPENDENCY")
        return StepResult.ok(output={"v": 1})

    def last(ctx: WorkflowContext, config: dict[str, Any]) -> dict[str, Any]:
        calls["last"] += 1
        return {"v": ctx.get_output("middle", "v")}

    workflow = register_workflow(
        Workflow(
            "state.again",
            [
                Step.lambda_("first", lambda ctx, cfg: {"a": 1}),
                Step.lambda_("middle", middle),
                Step.lambda_("last", last),
            ],
        )
    )
    runner = make_runner(database_url=database_url)
    run_id = runner.execute(workflow).run_id
    again = runner.resume(run_id)
    assert again.status == WorkflowStatus.FAILED
    assert again.error == "broken 2"
    fixed["now"] = True

    done = runner.resume(run_id)

    assert done.status == WorkflowStatus.COMPLETED
    assert done.run_id == run_id
    assert done.error is None
    assert calls == {"middle": 3, "last": 1}
    stored = runner.store.load_run(run_id)  # type: ignore[union-attr]
    assert stored.run.status == WorkflowStatus.COMPLETED
    assert stored.run.error is None
    assert [(s.step_name, s.attempt, s.status) for s in stored.steps] == [
        ("first", 1, "COMPLETED"),
        ("middle", 1, "FAILED"),
        ("middle", 2, "FAILED"),
        ("middle", 3, "COMPLETED"),
        ("last", 1, "COMPLETED"),
    ]


def test_a_map_item_can_fail_and_be_resumed_any_number_of_times(
    database_url: str, make_runner: MakeRunner
) -> None:
    fixed = {"now": False}

    def square(ctx: WorkflowContext, config: dict[str, Any]) -> StepResult:
        item = ctx.get_param("item")
        if item == 2 and not fixed["now"]:
            return StepResult.fail("item 2 broken")
        return StepResult.ok(output={"v": item * item})

    item = Workflow("state.item", [Step.lambda_("sq", square)])
    workflow = register_workflow(Workflow("state.map", [Step.map("m", "items", item)]))
    runner = make_runner(database_url=database_url)
    run_id = runner.execute(workflow, params={"items": [1, 2, 3]}).run_id
    assert runner.resume(run_id).status == WorkflowStatus.FAILED
    fixed["now"] = True

    done = runner.resume(run_id)

    assert done.status == WorkflowStatus.COMPLETED
    assert [r["sq"]["v"] for r in done.context.get_output("m", "results")] == [1, 4, 9]
    items = runner.store.child_runs(run_id, "m#0")  # type: ignore[union-attr]
    assert {i.status for i in items} == {"COMPLETED"}


def test_a_cancelled_run_records_the_cancelled_category(
    database_url: str, make_runner: MakeRunner
) -> None:
    runner = make_runner(database_url=database_url)
    holder: dict[str, str] = {}

    def ask_to_stop(ctx: WorkflowContext, config: dict[str, Any]) -> None:
        holder["outcome"] = runner.cancel(ctx.run_id)

    workflow = Workflow(
        "state.cancel",
        [Step.lambda_("stop", ask_to_stop), Step.lambda_("never", lambda ctx, cfg: None)],
    )
    result = runner.execute(workflow)

    assert holder["outcome"] == "requested"
    assert result.status == WorkflowStatus.CANCELLED
    assert result.error_category == ErrorCategory.CANCELLED
    stored = runner.store.load_run(result.run_id).run  # type: ignore[union-attr]
    assert stored.error_category == "CANCELLED"
    assert stored.error_step == "never"


def test_a_failed_choice_in_a_loop_drops_its_earlier_fence() -> None:
    """The second time round, the choice fails (on_error=CONTINUE): the branch it took
    the first time no longer fences off its other branch."""
    count = {"n": 0}

    def first(ctx: WorkflowContext, config: dict[str, Any]) -> dict[str, Any]:
        count["n"] += 1
        return {"n": count["n"]}

    def condition(ctx: WorkflowContext) -> bool:
        if count["n"] == 2:
            raise RuntimeError("no answer the second time")
        return True

    def then(ctx: WorkflowContext, config: dict[str, Any]) -> StepResult:
        return StepResult.ok(output={"a": 1}, next_step="s0" if count["n"] < 2 else None)

    workflow = Workflow(
        "state.refence",
        [
            Step.lambda_("s0", first),
            Step.choice(
                "c", condition, then_step="a", else_step="b", on_error=ErrorPolicy.CONTINUE
            ),
            Step.lambda_("b", lambda ctx, cfg: {"b": 1}),
            Step.lambda_("a", then),
        ],
    )
    result = WorkflowRunner().execute(workflow)

    assert result.status == WorkflowStatus.PARTIAL
    assert [e.step_name for e in result.step_executions] == ["s0", "c", "a", "s0", "c", "b", "a"]


def test_a_run_whose_last_step_is_a_wait_stays_waiting_until_its_end_is_committed(
    sqlite_url: str, clock: Any
) -> None:
    """A crash between the wait and the commit of the run's end resumes at the same
    deadline, not a fresh wait."""
    workflow = register_workflow(
        Workflow("state.lastwait", [Step.lambda_("a", lambda c, f: None), Step.wait("w", 3600)])
    )
    runner = WorkflowRunner(database_url=sqlite_url, clock=clock)
    store = runner.store
    assert store is not None

    def die(*args: object, **kwargs: object) -> None:
        raise SystemExit("the process died before the run's end was committed")

    real_finish = store.finish_run
    store.finish_run = die  # type: ignore[method-assign]
    started = clock.time()
    with pytest.raises(SystemExit):
        runner.execute(workflow)
    store.finish_run = real_finish  # type: ignore[method-assign]
    [run] = store.list_runs()
    assert run.status == WorkflowStatus.WAITING
    assert run.wake_at == pytest.approx(started + 3600)

    runner.close()
    with WorkflowRunner(database_url=sqlite_url, clock=clock, lease_seconds=0.001) as again:
        clock.advance(1)
        done = again.resume(run.run_id)
    assert done.status == WorkflowStatus.COMPLETED
    assert clock.time() == pytest.approx(started + 3600)  # no second hour
