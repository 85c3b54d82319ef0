"""Pipelines run through the workflow runner: params, lineage and failures."""

from __future__ import annotations

from typing import Any

from spine.execution import ExecutionContext, current_execution
from spine.framework import pipeline
from spine.orchestration import Step, Workflow, WorkflowRunner, WorkflowStatus


def test_pipeline_step_params_and_lineage() -> None:
    calls: list[tuple[dict[str, Any], ExecutionContext | None]] = []

    @pipeline("p")
    def p(params: dict[str, Any]) -> dict[str, Any]:
        calls.append((dict(params), current_execution()))
        return {"sum": params["x"] + params["y"]}

    workflow = Workflow("w", [Step.pipeline("s", "p", params={"x": 2})])
    result = WorkflowRunner().execute(workflow, params={"x": 1, "y": 3}, partition={"region": "eu"})

    assert result.status is WorkflowStatus.COMPLETED
    assert result.context.get_output("s") == {"sum": 5}
    [(params, execution)] = calls
    assert params == {"x": 2, "y": 3}
    assert execution is not None
    assert execution.run_id == result.run_id
    assert execution.step_name == "s"
    assert execution.workflow_name == "w"
    assert dict(execution.partition) == {"region": "eu"}
    assert dict(execution.partition) == dict(result.context.partition)
    assert execution.parent_execution_id == result.context.execution.execution_id
    assert execution.execution_id != result.context.execution.execution_id
    assert current_execution() is None


def test_class_pipeline_step_sees_step_execution() -> None:
    from spine.framework import Pipeline

    seen: list[ExecutionContext | None] = []

    @pipeline("cls.p")
    class ClsPipe(Pipeline):
        def run(self) -> dict[str, Any]:
            seen.append(self.execution)
            return {}

    result = WorkflowRunner().execute(Workflow("w2", [Step.pipeline("only", "cls.p")]))

    assert result.status is WorkflowStatus.COMPLETED
    [execution] = seen
    assert execution is not None
    assert execution.step_name == "only"
    assert execution.run_id == result.run_id


def test_failing_pipeline_fails_step_with_pipeline_category() -> None:
    @pipeline("broken")
    def broken(params: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("upstream unavailable")

    workflow = Workflow("w", [Step.pipeline("s", "broken"), Step.lambda_("after", lambda c, k: {})])
    result = WorkflowRunner().execute(workflow)

    assert result.status is WorkflowStatus.FAILED
    assert result.error_step == "s"
    assert result.error_category == "PIPELINE"
    assert result.error is not None
    assert "upstream unavailable" in result.error
    assert result.failed_steps == ["s"]
    assert "after" not in result.completed_steps


def test_pipeline_registered_after_workflow_construction() -> None:
    workflow = Workflow("late", [Step.pipeline("s", "late.pipeline")])

    @pipeline("late.pipeline")
    def late(params: dict[str, Any]) -> dict[str, Any]:
        return {"late": True}

    result = WorkflowRunner().execute(workflow)

    assert result.status is WorkflowStatus.COMPLETED
    assert result.context.get_output("s", "late") is True


def test_unknown_pipeline_fails_the_step_with_a_clear_error() -> None:
    result = WorkflowRunner().execute(Workflow("w", [Step.pipeline("s", "never.registered")]))

    assert result.status is WorkflowStatus.FAILED
    assert result.error_step == "s"
    assert result.error is not None
    assert "never.registered" in result.error
