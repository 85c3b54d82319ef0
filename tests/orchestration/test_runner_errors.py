"""Failures inside a run: caught, reported, and governed by the step's ErrorPolicy."""

from __future__ import annotations

from typing import Any

import pytest

from spine.framework import Pipeline, PipelineResult, PipelineStatus, pipeline
from spine.orchestration import (
    ErrorPolicy,
    Step,
    StepResult,
    Workflow,
    WorkflowContext,
    WorkflowRunner,
    WorkflowStatus,
    WorkflowValidationError,
)


def raises(exc: Exception):
    def fn(ctx: WorkflowContext, config: dict) -> Any:
        raise exc

    return fn


def returns(value: Any):
    def fn(ctx: WorkflowContext, config: dict) -> Any:
        return value

    return fn


def test_exception_in_a_lambda_step_is_caught() -> None:
    ran: list[str] = []
    workflow = Workflow(
        "raising",
        [
            Step.lambda_("boom", raises(ValueError("bad row 17"))),
            Step.lambda_("after", lambda ctx, config: ran.append("after")),
        ],
    )
    result = WorkflowRunner().execute(workflow)
    assert result.status == WorkflowStatus.FAILED
    assert result.error_step == "boom"
    assert "ValueError" in (result.error or "")
    assert "bad row 17" in (result.error or "")
    assert result.failed_steps == ["boom"]
    assert ran == []
    execution = result.step_executions[0]
    assert execution.status == "FAILED"
    assert "bad row 17" in (execution.error or "")


def test_exception_in_a_pipeline_fails_the_step_with_pipeline_category() -> None:
    @pipeline("explodes")
    def explodes(params: dict) -> dict:
        raise KeyError("missing column")

    result = WorkflowRunner().execute(Workflow("p", [Step.pipeline("run", "explodes")]))
    assert result.status == WorkflowStatus.FAILED
    assert result.error_step == "run"
    assert "KeyError" in (result.error or "")
    assert "missing column" in (result.error or "")
    assert result.error_category == "PIPELINE"


def test_pipeline_returning_a_failed_result_fails_the_step() -> None:
    @pipeline("soft.fail")
    def soft_fail(params: dict) -> PipelineResult:
        return PipelineResult(status=PipelineStatus.FAILED, error="upstream empty")

    result = WorkflowRunner().execute(Workflow("p", [Step.pipeline("run", "soft.fail")]))
    assert result.status == WorkflowStatus.FAILED
    assert "upstream empty" in (result.error or "")
    assert result.error_category == "PIPELINE"


def test_pipeline_subclass_result_metrics_become_output() -> None:
    @pipeline("class.based")
    class Counter(Pipeline):
        def run(self) -> PipelineResult:
            return PipelineResult(
                status=PipelineStatus.COMPLETED, metrics={"rows": self.params["n"]}
            )

    result = WorkflowRunner().execute(
        Workflow("p", [Step.pipeline("count", "class.based")]), params={"n": 4}
    )
    assert result.status == WorkflowStatus.COMPLETED
    assert result.context.get_output("count") == {"rows": 4}


@pytest.mark.parametrize(
    "exc", [RuntimeError("x"), ZeroDivisionError("y"), TimeoutError("z"), Exception("w")]
)
def test_execute_never_raises_for_a_step_exception(exc: Exception) -> None:
    result = WorkflowRunner().execute(Workflow("w", [Step.lambda_("s", raises(exc))]))
    assert result.status == WorkflowStatus.FAILED
    assert type(exc).__name__ in (result.error or "")
    assert str(exc) in (result.error or "")


def test_continue_makes_the_run_partial_and_names_the_first_failure() -> None:
    ran: list[str] = []
    workflow = Workflow(
        "continue",
        [
            Step.lambda_("a", lambda ctx, config: ran.append("a")),
            Step.lambda_("f1", raises(RuntimeError("first")), on_error=ErrorPolicy.CONTINUE),
            Step.lambda_("b", lambda ctx, config: ran.append("b")),
            Step.lambda_("f2", returns(StepResult.fail("second")), on_error=ErrorPolicy.CONTINUE),
            Step.lambda_("c", lambda ctx, config: ran.append("c")),
        ],
    )
    result = WorkflowRunner().execute(workflow)
    assert result.status == WorkflowStatus.PARTIAL
    assert ran == ["a", "b", "c"]
    assert result.error_step == "f1"
    assert "first" in (result.error or "")
    assert result.failed_steps == ["f1", "f2"]
    assert result.completed_steps == ["a", "b", "c"]


def test_stop_fails_the_run_and_later_steps_do_not_run() -> None:
    ran: list[str] = []
    workflow = Workflow(
        "stop",
        [
            Step.lambda_("a", lambda ctx, config: ran.append("a")),
            Step.lambda_("f", returns(StepResult.fail("halt")), on_error=ErrorPolicy.STOP),
            Step.lambda_("b", lambda ctx, config: ran.append("b")),
        ],
    )
    result = WorkflowRunner().execute(workflow)
    assert result.status == WorkflowStatus.FAILED
    assert ran == ["a"]
    assert result.error_step == "f"
    assert result.error == "halt"
    assert [e.step_name for e in result.step_executions] == ["a", "f"]
    assert not result.context.has_output("b")


def test_default_error_policy_is_stop() -> None:
    ran: list[str] = []
    workflow = Workflow(
        "default",
        [
            Step.lambda_("f", returns(StepResult.fail("halt"))),
            Step.lambda_("b", lambda ctx, config: ran.append("b")),
        ],
    )
    assert WorkflowRunner().execute(workflow).status == WorkflowStatus.FAILED
    assert ran == []


@pytest.mark.parametrize(("value", "type_name"), [(42, "int"), ([1, 2], "list"), ("s", "str")])
def test_step_returning_an_unsupported_type_fails(value: Any, type_name: str) -> None:
    workflow = Workflow("typed.wf", [Step.lambda_("odd.step", returns(value))])
    result = WorkflowRunner().execute(workflow)
    assert result.status == WorkflowStatus.FAILED
    assert result.error_step == "odd.step"
    error = result.error or ""
    assert "typed.wf" in error
    assert "odd.step" in error
    assert type_name in error


def test_choice_condition_that_raises_fails_the_choice_step() -> None:
    ran: list[str] = []

    def condition(ctx: WorkflowContext) -> bool:
        raise LookupError("no such flag")

    workflow = Workflow(
        "choice.raises",
        [
            Step.choice("route", condition, then_step="yes", else_step="no"),
            Step.lambda_("yes", lambda ctx, config: ran.append("yes")),
            Step.lambda_("no", lambda ctx, config: ran.append("no")),
        ],
    )
    result = WorkflowRunner().execute(workflow)
    assert result.status == WorkflowStatus.FAILED
    assert result.error_step == "route"
    assert "LookupError" in (result.error or "")
    assert "no such flag" in (result.error or "")
    assert ran == []


def test_unknown_pipeline_fails_that_step_naming_the_pipeline() -> None:
    ran: list[str] = []
    workflow = Workflow(
        "unknown.pipeline",
        [
            Step.pipeline("ingest", "not.registered.anywhere"),
            Step.lambda_("after", lambda ctx, config: ran.append("after")),
        ],
    )
    result = WorkflowRunner().execute(workflow)
    assert result.status == WorkflowStatus.FAILED
    assert result.error_step == "ingest"
    assert "not.registered.anywhere" in (result.error or "")
    assert "not found" in (result.error or "").lower()
    assert ran == []


def test_unknown_pipeline_under_continue_lets_the_run_go_on() -> None:
    workflow = Workflow(
        "unknown.continue",
        [
            Step.pipeline("ingest", "missing.pipe", on_error=ErrorPolicy.CONTINUE),
            Step.lambda_("after", lambda ctx, config: {"ran": True}),
        ],
    )
    result = WorkflowRunner().execute(workflow)
    assert result.status == WorkflowStatus.PARTIAL
    assert result.completed_steps == ["after"]
    assert "missing.pipe" in (result.error or "")


def test_start_from_naming_no_step_raises() -> None:
    workflow = Workflow("resumable.wf", [Step.lambda_("a", lambda ctx, config: None)])
    with pytest.raises(WorkflowValidationError, match=r"resumable\.wf") as info:
        WorkflowRunner().execute(workflow, start_from="no_such_step")
    assert "no_such_step" in str(info.value)
    with pytest.raises(ValueError, match="no_such_step"):
        WorkflowRunner().execute(workflow, start_from="no_such_step")


def test_start_from_skips_earlier_steps() -> None:
    ran: list[str] = []
    workflow = Workflow(
        "start",
        [Step.lambda_(n, lambda ctx, config, n=n: ran.append(n)) for n in ("a", "b", "c")],
    )
    result = WorkflowRunner().execute(workflow, start_from="b")
    assert ran == ["b", "c"]
    assert result.completed_steps == ["b", "c"]


def test_items_path_not_resolving_to_a_list_fails_the_map_step() -> None:
    item = Workflow("item", [Step.lambda_("noop", lambda ctx, config: None)])
    for path, params in [
        ("missing", {}),
        ("items", {"items": "not-a-list"}),
        ("batch.items", {"batch": {"other": []}}),
        ("outputs.nothing.ids", {}),
    ]:
        workflow = Workflow("map.wf", [Step.map("fan", path, item)])
        result = WorkflowRunner().execute(workflow, params=params)
        assert result.status == WorkflowStatus.FAILED, path
        assert result.error_step == "fan"
        assert "items_path" in (result.error or "")
        assert path in (result.error or "")
        assert "map.wf" in (result.error or "")


@pytest.mark.parametrize("concurrency", [0, -1])
def test_max_concurrency_below_one_is_rejected_at_construction(concurrency: int) -> None:
    item = Workflow("item", [Step.lambda_("noop", lambda ctx, config: None)])
    with pytest.raises(WorkflowValidationError, match="max_concurrency") as info:
        Workflow("map.wf", [Step.map("fan", "items", item, max_concurrency=concurrency)])
    assert "map.wf" in str(info.value)
    assert "fan" in str(info.value)
