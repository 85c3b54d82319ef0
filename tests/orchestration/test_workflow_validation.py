"""Workflow(...) validates the whole definition when it is built."""

from __future__ import annotations

import pytest

from spine.core.errors import WorkflowError
from spine.framework import pipeline
from spine.orchestration import (
    Step,
    Workflow,
    WorkflowRunner,
    WorkflowStatus,
    WorkflowValidationError,
    get_workflow,
    register_workflow,
)


def noop(ctx, config) -> None:
    return None


def test_validation_error_is_a_value_error() -> None:
    assert issubclass(WorkflowValidationError, ValueError)


def test_duplicate_step_names() -> None:
    with pytest.raises(WorkflowValidationError, match="Duplicate step name") as info:
        Workflow("dup.wf", [Step.lambda_("same", noop), Step.lambda_("same", noop)])
    message = str(info.value)
    assert "dup.wf" in message
    assert "same" in message


def test_duplicate_names_across_step_types() -> None:
    with pytest.raises(ValueError, match="Duplicate step name"):
        Workflow("dup.types", [Step.pipeline("x", "p.one"), Step.wait("x", 1)])


@pytest.mark.parametrize("name", ["", "   "])
def test_empty_step_name(name: str) -> None:
    with pytest.raises(WorkflowValidationError, match="empty") as info:
        Workflow("empty.wf", [Step.lambda_("ok", noop), Step.lambda_(name, noop)])
    assert "empty.wf" in str(info.value)


@pytest.mark.parametrize("field", ["then_step", "else_step"])
def test_choice_naming_an_unknown_step(field: str) -> None:
    targets = {"then_step": "a", "else_step": "a", field: "ghost"}
    with pytest.raises(WorkflowValidationError, match="ghost") as info:
        Workflow(
            "choice.wf",
            [Step.choice("route", lambda ctx: True, **targets), Step.lambda_("a", noop)],
        )
    message = str(info.value)
    assert "choice.wf" in message
    assert "route" in message


def test_next_naming_an_unknown_step() -> None:
    with pytest.raises(WorkflowValidationError, match="phantom") as info:
        Workflow("next.wf", [Step.lambda_("a", noop, next="phantom"), Step.lambda_("b", noop)])
    message = str(info.value)
    assert "next.wf" in message
    assert "'a'" in message


def test_map_iterator_workflow_not_a_workflow() -> None:
    with pytest.raises(WorkflowValidationError, match="iterator_workflow") as info:
        Workflow("map.wf", [Step.map("fan", "items", iterator_workflow={"steps": []})])  # type: ignore[arg-type]
    message = str(info.value)
    assert "map.wf" in message
    assert "fan" in message


@pytest.mark.parametrize("handler", [None, "noop", 42])
def test_lambda_handler_not_callable(handler: object) -> None:
    with pytest.raises(WorkflowValidationError, match="callable") as info:
        Workflow("lambda.wf", [Step.lambda_("calc", handler)])  # type: ignore[arg-type]
    message = str(info.value)
    assert "lambda.wf" in message
    assert "calc" in message


def test_error_carries_workflow_and_step() -> None:
    with pytest.raises(WorkflowValidationError) as info:
        Workflow("attrs.wf", [Step.lambda_("calc", None)])  # type: ignore[arg-type]
    assert isinstance(info.value, WorkflowError)
    assert info.value.workflow == "attrs.wf"
    assert info.value.step == "calc"


def test_several_problems_are_reported_at_once() -> None:
    with pytest.raises(WorkflowValidationError) as info:
        Workflow(
            "many.wf",
            [
                Step.lambda_("dup", noop),
                Step.lambda_("dup", noop),
                Step.lambda_("bad_handler", "not callable"),  # type: ignore[arg-type]
                Step.choice("route", lambda ctx: True, then_step="nowhere"),
                Step.lambda_("jumper", noop, next="elsewhere"),
            ],
        )
    message = str(info.value)
    assert "many.wf" in message
    assert "Duplicate step name" in message
    assert "bad_handler" in message
    assert "nowhere" in message
    assert "elsewhere" in message


def test_valid_workflow_of_every_step_type_builds() -> None:
    item = Workflow("item", [Step.lambda_("noop", noop)])
    workflow = Workflow(
        "all.types",
        [
            Step.pipeline("p", "some.pipeline"),
            Step.lambda_("l", noop),
            Step.choice("c", lambda ctx: True, then_step="w", else_step="m"),
            Step.wait("w", 0, next="end"),
            Step.map("m", "items", item, max_concurrency=1),
            Step.lambda_("end", noop),
        ],
    )
    assert [s.name for s in workflow.steps] == ["p", "l", "c", "w", "m", "end"]


def test_pipelines_are_resolved_at_run_time() -> None:
    # Defined before the pipeline exists: no error at construction.
    workflow = Workflow("late.binding", [Step.pipeline("ingest", "registered.later")])

    before = WorkflowRunner().execute(workflow)
    assert before.status == WorkflowStatus.FAILED
    assert "registered.later" in (before.error or "")

    @pipeline("registered.later")
    def later(params: dict) -> dict:
        return {"rows": 3}

    after = WorkflowRunner().execute(workflow)
    assert after.status == WorkflowStatus.COMPLETED
    assert after.context.get_output("ingest") == {"rows": 3}


def test_workflow_signature_and_attributes() -> None:
    steps = [Step.lambda_("a", noop)]
    workflow = Workflow(
        "sig.wf",
        steps,
        domain="finra",
        description="desc",
        version=3,
        defaults={"tier": "T1"},
        tags=["weekly", "finra"],
    )
    assert workflow.name == "sig.wf"
    assert [s.name for s in workflow.steps] == ["a"]
    assert workflow.domain == "finra"
    assert workflow.description == "desc"
    assert workflow.version == 3
    assert workflow.defaults == {"tier": "T1"}
    assert list(workflow.tags) == ["weekly", "finra"]

    plain = Workflow("plain.wf", steps)
    assert plain.domain == ""
    assert plain.description == ""
    assert plain.version == 1
    assert not plain.defaults
    assert not plain.tags


def test_defaults_are_overridden_by_run_params() -> None:
    seen: list[dict] = []

    def capture(ctx, config) -> None:
        seen.append(dict(ctx.params))

    workflow = Workflow(
        "defaults.wf",
        [Step.lambda_("capture", capture)],
        defaults={"tier": "T1", "limit": 10},
    )
    WorkflowRunner().execute(workflow)
    WorkflowRunner().execute(workflow, params={"limit": 99, "extra": True})
    assert seen == [
        {"tier": "T1", "limit": 10},
        {"tier": "T1", "limit": 99, "extra": True},
    ]


def test_defaults_reach_pipelines() -> None:
    received: list[dict] = []

    @pipeline("defaults.pipe")
    def pipe(params: dict) -> dict:
        received.append(dict(params))
        return {}

    workflow = Workflow(
        "defaults.pipe.wf", [Step.pipeline("p", "defaults.pipe")], defaults={"a": 1, "b": 2}
    )
    WorkflowRunner().execute(workflow, params={"b": 3})
    assert received == [{"a": 1, "b": 3}]


def test_constructing_does_not_register_and_register_workflow_does() -> None:
    workflow = Workflow("registry.wf", [Step.lambda_("a", noop)])
    with pytest.raises(WorkflowError, match=r"registry\.wf"):
        get_workflow("registry.wf")
    assert register_workflow(workflow) is workflow
    assert get_workflow("registry.wf") is workflow


@pytest.mark.parametrize(
    "seconds", [float("inf"), float("nan"), -1, 366 * 86400 + 1, 10**23, True, "5"]
)
def test_a_wait_must_be_a_finite_number_of_seconds_up_to_366_days(seconds: object) -> None:
    with pytest.raises(WorkflowValidationError) as info:
        Workflow("wait.wf", [Step.wait("pause", seconds)])  # type: ignore[arg-type]
    assert str(info.value).startswith(
        "workflow 'wait.wf', step 'pause': duration_seconds must be a number of seconds "
        "from 0 to 31622400 (366 days), got "
    )
    assert (info.value.workflow, info.value.step) == ("wait.wf", "pause")


def test_a_wait_of_366_days_is_allowed() -> None:
    Workflow("wait.wf", [Step.wait("zero", 0), Step.wait("longest", 366 * 86400)])


def test_a_recovery_limit_must_be_a_positive_integer() -> None:
    from spine.core.errors import WorkflowValidationError

    with pytest.raises(WorkflowValidationError, match="recovery_limit must be an integer >= 1"):
        Workflow("limits", [Step.lambda_("s", lambda c, k: None)], recovery_limit=0)
    with pytest.raises(ValueError, match="recovery_limit"):
        WorkflowRunner(recovery_limit=-1)
    assert (
        Workflow("ok", [Step.lambda_("s", lambda c, k: None)], recovery_limit=2).recovery_limit == 2
    )
