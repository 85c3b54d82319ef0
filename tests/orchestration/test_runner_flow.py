"""The contract's Flow rules: list order, jumps, exclusive branches, joins, max_steps."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from spine.orchestration import (
    ErrorPolicy,
    Step,
    StepResult,
    Workflow,
    WorkflowContext,
    WorkflowRunner,
    WorkflowStatus,
)


def recorder() -> tuple[list[str], Callable[..., Step]]:
    """A list of step names in the order they ran, and a factory of recording steps."""
    calls: list[str] = []

    def step(name: str, result: Any = None, **kwargs: Any) -> Step:
        def fn(ctx: WorkflowContext, config: dict) -> Any:
            calls.append(name)
            return result

        return Step.lambda_(name, fn, **kwargs)

    return calls, step


def choose(value: bool) -> Callable[[WorkflowContext], bool]:
    return lambda ctx: value


def test_steps_run_in_list_order() -> None:
    calls, step = recorder()
    names = ["c", "a", "d", "b"]
    result = WorkflowRunner().execute(Workflow("order", [step(n) for n in names]))
    assert result.status == WorkflowStatus.COMPLETED
    assert calls == names
    assert result.completed_steps == names
    assert [e.step_name for e in result.step_executions] == names
    assert list(result.context.outputs) == names


def test_choice_jumps_forward_over_steps() -> None:
    calls, step = recorder()
    workflow = Workflow(
        "jump",
        [step("a"), Step.choice("route", choose(True), then_step="d"), step("b"), step("d")],
    )
    result = WorkflowRunner().execute(workflow)
    assert calls == ["a", "d"]
    assert result.completed_steps == ["a", "route", "d"]
    assert result.skipped_steps == []
    assert result.failed_steps == []


@pytest.mark.parametrize(
    ("taken", "expected"),
    [
        (True, ["route", "x"]),
        (False, ["route", "y", "z"]),
    ],
)
def test_choice_branches_are_exclusive(taken: bool, expected: list[str]) -> None:
    calls, step = recorder()
    workflow = Workflow(
        "exclusive",
        [
            Step.choice("route", choose(taken), then_step="x", else_step="y"),
            step("x"),
            step("y"),
            step("z"),
        ],
    )
    result = WorkflowRunner().execute(workflow)
    assert result.status == WorkflowStatus.COMPLETED
    # The then-branch stops where it would walk into the else target.
    assert result.completed_steps == expected
    assert calls == [n for n in expected if n != "route"]


def test_branch_may_walk_through_several_steps_before_the_fence() -> None:
    calls, step = recorder()
    workflow = Workflow(
        "long.branch",
        [
            Step.choice("route", choose(True), then_step="t1", else_step="e1"),
            step("t1"),
            step("t2"),
            step("t3"),
            step("e1"),
            step("e2"),
        ],
    )
    result = WorkflowRunner().execute(workflow)
    assert calls == ["t1", "t2", "t3"]
    assert result.status == WorkflowStatus.COMPLETED


@pytest.mark.parametrize(
    ("taken", "expected"),
    [
        (True, ["route", "x", "join", "end"]),
        (False, ["route", "y", "join", "end"]),
    ],
)
def test_next_makes_a_join(taken: bool, expected: list[str]) -> None:
    calls, step = recorder()
    workflow = Workflow(
        "join",
        [
            Step.choice("route", choose(taken), then_step="x", else_step="y"),
            step("x", next="join"),
            step("y"),
            step("join"),
            step("end"),
        ],
    )
    result = WorkflowRunner().execute(workflow)
    assert result.status == WorkflowStatus.COMPLETED
    assert result.completed_steps == expected
    assert calls == expected[1:]


def test_next_jumps_without_a_choice() -> None:
    calls, step = recorder()
    workflow = Workflow("next", [step("a", next="c"), step("b"), step("c")])
    result = WorkflowRunner().execute(workflow)
    assert calls == ["a", "c"]
    assert result.completed_steps == ["a", "c"]


def test_step_result_next_step_routes() -> None:
    calls, step = recorder()
    workflow = Workflow(
        "routed",
        [step("a", StepResult.ok(output={"x": 1}, next_step="c")), step("b"), step("c")],
    )
    result = WorkflowRunner().execute(workflow)
    assert result.status == WorkflowStatus.COMPLETED
    assert calls == ["a", "c"]
    assert result.context.get_output("a") == {"x": 1}


def test_step_result_next_step_overrides_step_next() -> None:
    calls, step = recorder()
    workflow = Workflow(
        "override",
        [step("a", StepResult.ok(next_step="c"), next="b"), step("b"), step("c")],
    )
    WorkflowRunner().execute(workflow)
    assert calls == ["a", "c"]


def test_step_result_next_step_naming_no_step_fails_the_run() -> None:
    calls, step = recorder()
    workflow = Workflow("bad.route", [step("a", StepResult.ok(next_step="nowhere")), step("b")])
    result = WorkflowRunner().execute(workflow)
    assert result.status == WorkflowStatus.FAILED
    assert calls == ["a"]
    assert result.error_step == "a"
    assert "nowhere" in (result.error or "")


@pytest.mark.parametrize(
    ("taken", "expected"),
    [(True, ["c"]), (False, ["b", "c"])],
)
def test_choice_without_else_continues_in_list_when_false(taken: bool, expected: list[str]) -> None:
    calls, step = recorder()
    workflow = Workflow(
        "no.else",
        [Step.choice("route", choose(taken), then_step="c"), step("b"), step("c")],
    )
    result = WorkflowRunner().execute(workflow)
    assert result.status == WorkflowStatus.COMPLETED
    assert calls == expected
    assert result.completed_steps == ["route", *expected]


def test_choice_loop_runs_until_condition_changes() -> None:
    def count(ctx: WorkflowContext, config: dict) -> StepResult:
        n = ctx.get_param("n", 0) + 1
        return StepResult.ok(output={"n": n}, context_updates={"n": n})

    workflow = Workflow(
        "loop",
        [
            Step.lambda_("count", count),
            Step.choice("again", lambda ctx: ctx.get_param("n") < 3, then_step="count"),
            Step.lambda_("done", lambda ctx, config: {"final": ctx.get_param("n")}),
        ],
    )
    result = WorkflowRunner().execute(workflow)
    assert result.status == WorkflowStatus.COMPLETED
    assert result.completed_steps == ["count", "again"] * 3 + ["done"]
    assert result.context.get_output("done") == {"final": 3}
    assert result.context.get_output("count") == {"n": 3}


def test_max_steps_bounds_an_endless_choice_loop() -> None:
    calls, step = recorder()
    workflow = Workflow(
        "endless",
        [step("tick"), Step.choice("again", choose(True), then_step="tick"), step("never")],
    )
    result = WorkflowRunner(max_steps=7).execute(workflow)
    assert result.status == WorkflowStatus.FAILED
    assert "max_steps" in (result.error or "")
    assert "7" in (result.error or "")
    assert len(result.step_executions) == 7
    assert "never" not in calls
    assert result.error_step in {"tick", "again"}


def test_default_max_steps_ends_an_endless_loop() -> None:
    workflow = Workflow(
        "endless.default",
        [
            Step.lambda_("tick", lambda ctx, config: None),
            Step.choice("again", choose(True), then_step="tick"),
        ],
    )
    result = WorkflowRunner().execute(workflow)
    assert result.status == WorkflowStatus.FAILED
    assert "max_steps" in (result.error or "")
    assert len(result.step_executions) == 10_000


def test_max_steps_counts_executed_steps() -> None:
    _, step = recorder()
    workflow = Workflow("three", [step("a"), step("b"), step("c")])
    assert WorkflowRunner(max_steps=3).execute(workflow).status == WorkflowStatus.COMPLETED
    result = WorkflowRunner(max_steps=2).execute(workflow)
    assert result.status == WorkflowStatus.FAILED
    assert result.completed_steps == ["a", "b"]
    assert result.error_step == "c"
    assert "max_steps" in (result.error or "")


def test_completed_failed_and_skipped_steps() -> None:
    _, step = recorder()
    workflow = Workflow(
        "lists",
        [
            step("a"),
            step("s1", StepResult.skip("nothing to do")),
            step("f1", StepResult.fail("bad"), on_error=ErrorPolicy.CONTINUE),
            step("b", {"ok": True}),
            step("s2", StepResult.skip(reason="again nothing")),
            step("f2", StepResult.fail("worse"), on_error=ErrorPolicy.CONTINUE),
            step("c"),
        ],
    )
    result = WorkflowRunner().execute(workflow)
    assert result.status == WorkflowStatus.PARTIAL
    assert result.completed_steps == ["a", "b", "c"]
    assert result.skipped_steps == ["s1", "s2"]
    assert result.failed_steps == ["f1", "f2"]
    assert [e.step_name for e in result.step_executions] == [s.name for s in workflow.steps]


def test_skip_is_a_success_and_its_context_updates_apply() -> None:
    _, step = recorder()
    workflow = Workflow("skip", [step("s", StepResult.skip("done already")), step("after")])
    result = WorkflowRunner().execute(workflow)
    assert result.status == WorkflowStatus.COMPLETED
    assert result.skipped_steps == ["s"]
    assert "s" not in result.completed_steps
    execution = result.step_executions[0]
    assert execution.result is not None
    assert execution.result.skip_reason == "done already"


def test_steps_a_choice_did_not_take_are_in_no_list() -> None:
    _, step = recorder()
    workflow = Workflow(
        "untaken",
        [
            Step.choice("route", choose(False), then_step="yes", else_step="no"),
            step("yes"),
            step("no"),
        ],
    )
    result = WorkflowRunner().execute(workflow)
    for names in (result.completed_steps, result.failed_steps, result.skipped_steps):
        assert "yes" not in names
    assert result.completed_steps == ["route", "no"]
    assert [e.step_name for e in result.step_executions] == ["route", "no"]


def test_repeated_steps_appear_once_per_run_in_order() -> None:
    passes: list[int] = []

    def count(ctx: WorkflowContext, config: dict) -> StepResult:
        passes.append(len(passes) + 1)
        if len(passes) == 2:
            return StepResult.skip("second pass")
        return StepResult.ok()

    workflow = Workflow(
        "repeat",
        [
            Step.lambda_("count", count),
            Step.choice("again", lambda ctx: len(passes) < 3, then_step="count"),
        ],
    )
    result = WorkflowRunner().execute(workflow)
    assert result.status == WorkflowStatus.COMPLETED
    assert passes == [1, 2, 3]
    assert result.completed_steps == ["count", "again", "again", "count", "again"]
    assert result.skipped_steps == ["count"]


def test_context_flows_between_steps() -> None:
    def first(ctx: WorkflowContext, config: dict) -> StepResult:
        return StepResult.ok(output={"rows": 5}, context_updates={"stage": "one"})

    def second(ctx: WorkflowContext, config: dict) -> dict:
        return {"rows_seen": ctx.get_output("first", "rows"), "stage": ctx.get_param("stage")}

    result = WorkflowRunner().execute(
        Workflow("flow", [Step.lambda_("first", first), Step.lambda_("second", second)]),
        params={"week": 1},
    )
    assert result.context.get_output("second") == {"rows_seen": 5, "stage": "one"}
    assert result.context.params == {"week": 1, "stage": "one"}
    assert "rows" not in result.context.params


def test_none_and_dict_returns_are_successes() -> None:
    _, step = recorder()
    result = WorkflowRunner().execute(Workflow("plain", [step("n"), step("d", {"k": 1})]))
    assert result.completed_steps == ["n", "d"]
    assert result.context.get_output("d") == {"k": 1}
    assert result.context.has_output("n")
