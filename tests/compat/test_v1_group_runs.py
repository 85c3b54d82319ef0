"""spine-core's group registry and GroupRunner: define, register, resolve and execute."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from spine.framework.pipelines import Pipeline, PipelineResult, PipelineStatus
from spine.framework.registry import register_pipeline
from spine.orchestration import (
    ExecutionPolicy,
    FailurePolicy,
    GroupExecutionStatus,
    GroupNotFoundError,
    GroupRunner,
    PipelineGroup,
    PipelineStep,
    PlanResolver,
    StepStatus,
    clear_group_registry,
    get_group,
    group_exists,
    list_groups,
    register_group,
)


def _group(name: str, domain: str = "test") -> PipelineGroup:
    return PipelineGroup(name=name, domain=domain, steps=[PipelineStep("a", "pipeline.a")])


def test_groups_are_registered_found_listed_and_cleared() -> None:
    simple = register_group(_group("test.simple", domain="domain1"))
    register_group(_group("test.diamond", domain="domain2"))

    assert group_exists("test.simple")
    assert get_group("test.simple") is simple
    assert list_groups() == ["test.diamond", "test.simple"]
    assert list_groups(domain="domain1") == ["test.simple"]

    clear_group_registry()

    assert not group_exists("test.simple")
    assert list_groups() == []


def test_register_group_decorates_a_factory() -> None:
    @register_group
    def my_group() -> PipelineGroup:
        return _group("test.decorated")

    assert group_exists("test.decorated")


def test_an_unknown_group_is_a_group_not_found_error_naming_it() -> None:
    with pytest.raises(GroupNotFoundError) as caught:
        get_group("nonexistent.group")

    assert caught.value.group_name == "nonexistent.group"
    assert "nonexistent.group" in str(caught.value)
    assert isinstance(caught.value, KeyError)


def test_a_different_group_under_a_registered_name_is_a_value_error() -> None:
    register_group(_group("test.simple"))

    with pytest.raises(ValueError, match="already registered"):
        register_group(PipelineGroup("test.simple", [PipelineStep("b", "pipeline.b")]))


def test_the_full_v1_workflow_define_register_resolve_execute() -> None:
    seen: dict[str, dict[str, object]] = {}

    @register_pipeline("test.ingest")
    def ingest(params: dict[str, object]) -> dict[str, object]:
        seen["ingest"] = dict(params)
        return {"rows": 10}

    @register_pipeline("test.normalize")
    class Normalize(Pipeline):
        def run(self) -> PipelineResult:
            seen["normalize"] = dict(self.params)
            now = datetime.now(UTC)
            return PipelineResult(PipelineStatus.COMPLETED, now, now, metrics={"ok": True})

    register_group(
        PipelineGroup(
            name="integration.full_workflow",
            domain="integration_test",
            defaults={"week_ending": "2026-01-03"},
            steps=[
                PipelineStep("ingest", "test.ingest"),
                PipelineStep(
                    "normalize", "test.normalize", depends_on=["ingest"], params={"force": True}
                ),
            ],
            policy=ExecutionPolicy.sequential(on_failure=FailurePolicy.STOP),
        )
    )

    plan = PlanResolver().resolve(get_group("integration.full_workflow"), {"tier": "NMS_TIER_1"})
    result = GroupRunner().execute(plan)

    assert result.status == GroupExecutionStatus.COMPLETED
    assert (result.successful_steps, result.completed_steps, result.failed_steps) == (2, 2, 0)
    assert [s.status for s in result.step_results] == [StepStatus.COMPLETED] * 2
    assert result.batch_id == plan.batch_id
    assert seen["ingest"] == {"week_ending": "2026-01-03", "tier": "NMS_TIER_1"}
    assert seen["normalize"] == {"week_ending": "2026-01-03", "tier": "NMS_TIER_1", "force": True}
    normalize = result.get_step_execution("normalize")
    assert normalize is not None
    assert normalize.result is not None
    assert normalize.result.metrics == {"ok": True}


@pytest.mark.parametrize(
    ("on_failure", "group_status", "statuses"),
    [
        (FailurePolicy.STOP, GroupExecutionStatus.FAILED, ["FAILED", "SKIPPED", "SKIPPED"]),
        (FailurePolicy.CONTINUE, GroupExecutionStatus.PARTIAL, ["FAILED", "SKIPPED", "COMPLETED"]),
    ],
)
def test_a_failed_step_stops_or_skips_its_dependents(
    on_failure: FailurePolicy, group_status: GroupExecutionStatus, statuses: list[str]
) -> None:
    @register_pipeline("test.broken")
    def broken(params: dict[str, object]) -> dict[str, object]:
        raise RuntimeError("feed unavailable")

    register_pipeline("test.ok", lambda params: {})
    group = PipelineGroup(
        "test.failing",
        [
            PipelineStep("ingest", "test.broken"),
            PipelineStep("normalize", "test.ok", depends_on="ingest"),
            PipelineStep("reference", "test.ok"),
        ],
        policy=ExecutionPolicy.sequential(on_failure),
    )

    result = GroupRunner().run(group)

    assert result.status == group_status
    # The plan order is spine-core's: reference (no dependencies) before normalize.
    assert [s.step_name for s in result.step_executions] == ["ingest", "reference", "normalize"]
    by_name = {s.step_name: s.status for s in result.step_executions}
    assert [by_name[n] for n in ("ingest", "normalize", "reference")] == statuses
    ingest = result.get_step_execution("ingest")
    assert ingest is not None
    assert ingest.error == "RuntimeError: feed unavailable"
