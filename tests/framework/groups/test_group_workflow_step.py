"""A registered group runs as one pipeline step of a workflow, with durable history."""

from __future__ import annotations

from group_recorder import Recorder

from spine.framework.groups import (
    ExecutionPolicy,
    FailurePolicy,
    PipelineGroup,
    PipelineStep,
    register_group,
)
from spine.orchestration import Step, Workflow, WorkflowRunner, WorkflowStatus


def _weekly_refresh(on_failure: FailurePolicy = FailurePolicy.STOP) -> PipelineGroup:
    return PipelineGroup(
        "finra.weekly_refresh",
        [
            PipelineStep("ingest", "finra.ingest", params={"source": "api"}),
            PipelineStep("normalize", "finra.normalize", depends_on="ingest"),
            PipelineStep("reference", "finra.reference"),
        ],
        defaults={"tier": "NMS_TIER_1"},
        policy=ExecutionPolicy.parallel(max_concurrency=2, on_failure=on_failure),
    )


def test_a_group_step_summarises_its_members_in_stored_json(
    recorder: Recorder, sqlite_url: str
) -> None:
    for name in ("finra.ingest", "finra.normalize", "finra.reference"):
        recorder.add(name)
    register_group(_weekly_refresh())
    workflow = Workflow(
        "weekly",
        [
            Step.pipeline("refresh", "finra.weekly_refresh", params={"week": "2026-01-03"}),
            Step.lambda_("count", lambda ctx, cfg: {"n": len(ctx.get_output("refresh", "steps"))}),
        ],
    )

    with WorkflowRunner(database_url=sqlite_url) as runner:
        result = runner.execute(workflow, params={"tier": "NMS_TIER_2"})
        assert runner.store is not None
        stored = runner.store.load_run(result.run_id)

    assert result.status is WorkflowStatus.COMPLETED
    output = result.context.get_output("refresh")
    assert output["status"] == "completed"
    assert {name: step["status"] for name, step in output["steps"].items()} == {
        "ingest": "COMPLETED",
        "normalize": "COMPLETED",
        "reference": "COMPLETED",
    }
    assert output["steps"]["ingest"]["metrics"] == {"ran": "finra.ingest"}
    assert stored.steps[0].step_name == "refresh"
    assert stored.steps[0].output == output
    assert result.context.get_output("count") == {"n": 3}
    # The run's params override the group's defaults; the workflow step's params reach
    # every member, and a member's own params win.
    assert recorder.params["finra.ingest"] == {
        "tier": "NMS_TIER_2",
        "week": "2026-01-03",
        "source": "api",
    }
    lineage = recorder.lineage["finra.normalize"]
    assert lineage is not None
    assert lineage.run_id == result.run_id
    assert lineage.workflow_name == "weekly"
    assert lineage.step_name == "normalize"


def test_a_failed_member_fails_the_step_naming_the_member(recorder: Recorder) -> None:
    recorder.add("finra.ingest")
    recorder.add("finra.normalize", fail=True)
    recorder.add("finra.reference")
    register_group(_weekly_refresh(FailurePolicy.CONTINUE))
    workflow = Workflow(
        "weekly",
        [Step.pipeline("refresh", "finra.weekly_refresh"), Step.lambda_("after", lambda c, k: {})],
    )

    with WorkflowRunner() as runner:
        result = runner.execute(workflow)

    assert result.status is WorkflowStatus.FAILED
    assert result.error_step == "refresh"
    assert result.error_category == "PIPELINE"
    assert result.error == (
        "workflow 'weekly', step 'refresh': pipeline 'finra.weekly_refresh' failed: "
        "pipeline group 'finra.weekly_refresh': step 'normalize' (pipeline 'finra.normalize') "
        "failed: RuntimeError: finra.normalize broke"
    )
    assert "after" not in result.completed_steps
    step = result.step_executions[0]
    assert step.result is not None
    assert step.result.output["status"] == "partial"
    assert step.result.output["steps"]["reference"]["status"] == "COMPLETED"


def test_an_unregistered_member_fails_the_step_with_the_missing_pipeline(
    recorder: Recorder,
) -> None:
    recorder.add("finra.ingest")
    register_group(_weekly_refresh())
    workflow = Workflow("weekly", [Step.pipeline("refresh", "finra.weekly_refresh")])

    with WorkflowRunner() as runner:
        result = runner.execute(workflow)

    assert result.status is WorkflowStatus.FAILED
    assert result.error is not None
    assert "StepNotFoundError: pipeline group 'finra.weekly_refresh' has 2 problems" in (
        result.error
    )
    assert "step 'normalize' runs pipeline 'finra.normalize', which is not registered" in (
        result.error
    )
    assert recorder.calls == []
