"""spine.orchestration.models: the v1 group definitions, plans and enums, as spine-core's
own tests used them."""

from __future__ import annotations

import pytest

from spine.orchestration import GroupExecutionStatus, StepStatus
from spine.orchestration.models import (
    ExecutionMode,
    ExecutionPlan,
    ExecutionPolicy,
    FailurePolicy,
    GroupRunStatus,
    PipelineGroup,
    PipelineStep,
    PlannedStep,
)


def _linear() -> PipelineGroup:
    return PipelineGroup(
        name="test.simple_linear",
        domain="test",
        description="Simple linear pipeline",
        version=1,
        steps=[
            PipelineStep("step_a", "pipeline.a"),
            PipelineStep("step_b", "pipeline.b", depends_on=["step_a"]),
            PipelineStep("step_c", "pipeline.c", depends_on=["step_b"]),
        ],
    )


def test_a_step_has_v1_defaults_and_keeps_its_dependencies_as_a_tuple() -> None:
    step = PipelineStep("ingest", "finra.ingest_week")
    assert (step.name, step.pipeline, step.depends_on, step.params) == (
        "ingest",
        "finra.ingest_week",
        (),
        {},
    )
    merge = PipelineStep("merge", "pipeline.merge", depends_on=["source1", "source2"])
    assert merge.depends_on == ("source1", "source2")
    assert PipelineStep("i", "p", params={"tier": "NMS_TIER_1"}).params == {"tier": "NMS_TIER_1"}


def test_a_step_round_trips_through_its_dict() -> None:
    data = {
        "name": "aggregate",
        "pipeline": "finra.aggregate",
        "depends_on": ["normalize"],
        "params": {"force": True},
    }
    step = PipelineStep.from_dict(data)

    assert step.depends_on == ("normalize",)
    assert step.params == {"force": True}
    assert step.to_dict() == data
    assert PipelineStep("a", "p").to_dict() == {"name": "a", "pipeline": "p"}
    assert PipelineStep.from_dict({"name": "a", "pipeline": "p", "depends_on": "b"}).depends_on == (
        "b",
    )


def test_a_step_dict_with_a_missing_or_unknown_field_names_it() -> None:
    with pytest.raises(ValueError, match="pipeline step 'a': pipeline is required"):
        PipelineStep.from_dict({"name": "a"})
    with pytest.raises(ValueError, match="unknown field 'depend_on'"):
        PipelineStep.from_dict({"name": "a", "pipeline": "p", "depend_on": ["b"]})


def test_policy_defaults_factories_and_bounds() -> None:
    policy = ExecutionPolicy()
    assert policy.mode == ExecutionMode.SEQUENTIAL
    assert policy.max_concurrency == 4
    assert policy.on_failure == FailurePolicy.STOP
    assert policy.timeout_minutes is None
    assert ExecutionPolicy.sequential(on_failure=FailurePolicy.CONTINUE).on_failure == (
        FailurePolicy.CONTINUE
    )
    parallel = ExecutionPolicy.parallel(max_concurrency=8)
    assert (parallel.mode, parallel.max_concurrency) == (ExecutionMode.PARALLEL, 8)
    for bad in (0, -1):
        with pytest.raises(ValueError, match="max_concurrency"):
            ExecutionPolicy(max_concurrency=bad)


def test_a_group_has_its_step_names_and_finds_a_step() -> None:
    group = _linear()

    assert group.step_names == ["step_a", "step_b", "step_c"]
    assert group.domain == "test"
    found = group.get_step("step_b")
    assert found is not None
    assert found.name == "step_b"
    assert group.get_step("nonexistent") is None
    assert PipelineGroup.from_steps("f", [PipelineStep("a", "p")], domain="d").domain == "d"


def test_duplicate_step_names_are_a_value_error_naming_them() -> None:
    with pytest.raises(ValueError, match="Duplicate step names"):
        PipelineGroup(
            name="test.duplicate",
            steps=[PipelineStep("ingest", "pipeline.a"), PipelineStep("ingest", "pipeline.b")],
        )


def test_a_group_with_bad_dependencies_is_built_and_refused_when_planned() -> None:
    # spine-core checked dependencies in PlanResolver.resolve, not when building.
    group = PipelineGroup("test.cycle", [PipelineStep("a", "p", depends_on=["a"])])
    assert group.step_names == ["a"]


def test_a_group_reads_the_flat_and_the_yaml_forms() -> None:
    flat = PipelineGroup.from_dict(
        {
            "name": "test.flat",
            "domain": "test",
            "steps": [
                {"name": "a", "pipeline": "pipeline.a"},
                {"name": "b", "pipeline": "pipeline.b", "depends_on": ["a"]},
            ],
        }
    )
    nested = PipelineGroup.from_dict(
        {
            "apiVersion": "spine.io/v1",
            "kind": "PipelineGroup",
            "metadata": {"name": "test.yaml", "domain": "test", "version": 2},
            "spec": {
                "pipelines": [{"name": "a", "pipeline": "pipeline.a"}],
                "policy": {"execution": "parallel", "max_concurrency": 2},
            },
        }
    )

    assert (flat.name, len(flat.steps)) == ("test.flat", 2)
    assert (nested.name, nested.version) == ("test.yaml", 2)
    assert nested.policy.mode == ExecutionMode.PARALLEL
    assert nested.policy.max_concurrency == 2


def test_a_group_dict_is_spine_cores_flat_form_and_reads_back() -> None:
    group = _linear()

    data = group.to_dict()

    assert data["name"] == "test.simple_linear"
    assert data["domain"] == "test"
    assert data["steps"][1] == {
        "name": "step_b",
        "pipeline": "pipeline.b",
        "depends_on": ["step_a"],
    }
    assert data["policy"] == {
        "execution": "sequential",
        "max_concurrency": 4,
        "on_failure": "stop",
        "timeout_minutes": None,
    }
    assert (data["tags"], data["defaults"], data["version"]) == ([], {}, 1)
    assert PipelineGroup.from_dict(data) == group


def test_planned_steps_and_plans_are_built_as_spine_core_built_them() -> None:
    first = PlannedStep("a", "pipeline.a", {"key": "value"}, (), 0)
    plan = ExecutionPlan(
        group_name="test",
        group_version=1,
        batch_id="batch_123",
        steps=[first, PlannedStep("b", "pipeline.b", {}, ("a",), 1)],
        policy=ExecutionPolicy.parallel(max_concurrency=2),
        params={"tier": "OTC"},
    )

    assert plan.step_count == 2
    assert plan.get_step("a") is first
    assert plan.get_step("nonexistent") is None
    assert plan.levels == [["a"], ["b"]]
    data = plan.to_dict()
    assert data["group_name"] == "test"
    assert data["batch_id"] == "batch_123"
    assert data["steps"][0] == {
        "step_name": "a",
        "pipeline_name": "pipeline.a",
        "params": {"key": "value"},
        "depends_on": [],
        "sequence_order": 0,
    }
    assert data["policy"]["execution"] == "parallel"
    assert data["params"] == {"tier": "OTC"}
    assert data["resolved_at"] == plan.resolved_at.isoformat()


def test_the_enums_have_spine_cores_values() -> None:
    assert [s.value for s in GroupRunStatus] == [
        "pending",
        "running",
        "completed",
        "failed",
        "cancelled",
    ]
    assert [s.value for s in GroupExecutionStatus] == ["running", "completed", "failed", "partial"]
    assert (FailurePolicy.STOP.value, FailurePolicy.CONTINUE.value) == ("stop", "continue")
    assert (ExecutionMode.SEQUENTIAL.value, ExecutionMode.PARALLEL.value) == (
        "sequential",
        "parallel",
    )


def test_one_step_status_serves_workflow_steps_and_the_group_runner() -> None:
    assert {s.name for s in StepStatus} == {"PENDING", "RUNNING", "COMPLETED", "FAILED", "SKIPPED"}
    assert StepStatus.COMPLETED == "COMPLETED"  # the v2 value stored in step rows
