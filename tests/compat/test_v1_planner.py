"""spine.orchestration.planner: spine-core's plan resolution, order and errors."""

from __future__ import annotations

from typing import Any

import pytest

from spine.framework.registry import register_pipeline
from spine.orchestration import PipelineGroup, PipelineStep
from spine.orchestration.exceptions import (
    CycleDetectedError,
    DependencyError,
    GroupError,
    PlanResolutionError,
    StepNotFoundError,
)
from spine.orchestration.loader import load_group_from_yaml
from spine.orchestration.planner import PlanResolver

from .spine_core_files import SAMPLE_GROUP

RESOLVER = PlanResolver(validate_pipelines=False)


def _order(*steps: PipelineStep, **fields: Any) -> list[str]:
    plan = RESOLVER.resolve(PipelineGroup("test.order", list(steps), **fields))
    return [s.step_name for s in plan.steps]


def test_the_resolver_checks_pipelines_unless_told_not_to() -> None:
    assert PlanResolver().validate_pipelines is True
    assert PlanResolver(validate_pipelines=False).validate_pipelines is False
    assert PlanResolver(False).validate_pipelines is False


def test_linear_diamond_and_independent_groups_resolve_in_order() -> None:
    assert _order(
        PipelineStep("step_a", "p"),
        PipelineStep("step_b", "p", depends_on=["step_a"]),
        PipelineStep("step_c", "p", depends_on=["step_b"]),
    ) == ["step_a", "step_b", "step_c"]
    assert _order(
        PipelineStep("step_a", "p"),
        PipelineStep("step_b", "p", depends_on=["step_a"]),
        PipelineStep("step_c", "p", depends_on=["step_a"]),
        PipelineStep("step_d", "p", depends_on=["step_b", "step_c"]),
    ) == ["step_a", "step_b", "step_c", "step_d"]
    assert _order(
        PipelineStep("step_a", "p"), PipelineStep("step_b", "p"), PipelineStep("step_c", "p")
    ) == ["step_a", "step_b", "step_c"]


def test_the_order_is_kahns_with_a_queue_as_in_spine_core() -> None:
    # Steps without dependencies first, in listed order; then each once ready.
    assert _order(
        PipelineStep("ingest_a", "p"),
        PipelineStep("normalize_a", "p", depends_on="ingest_a"),
        PipelineStep("ingest_b", "p"),
        PipelineStep("normalize_b", "p", depends_on="ingest_b"),
    ) == ["ingest_a", "ingest_b", "normalize_a", "normalize_b"]
    assert _order(
        PipelineStep("end", "p", depends_on=["middle"]),
        PipelineStep("middle", "p", depends_on=["root1", "root2"]),
        PipelineStep("root2", "p"),
        PipelineStep("root1", "p"),
    ) == ["root2", "root1", "middle", "end"]
    wide = _order(
        PipelineStep("start", "p"),
        *(PipelineStep(f"branch{i}", "p", depends_on=["start"]) for i in range(1, 5)),
        PipelineStep("end", "p", depends_on=[f"branch{i}" for i in range(1, 5)]),
    )
    assert wide == ["start", "branch1", "branch2", "branch3", "branch4", "end"]


def test_batch_ids_and_sequence_orders() -> None:
    group = PipelineGroup(
        "test.simple", [PipelineStep("a", "p"), PipelineStep("b", "p", depends_on="a")]
    )

    plan = RESOLVER.resolve(group)

    assert plan.batch_id.startswith("group_test.simple_")
    assert RESOLVER.resolve(group).batch_id != plan.batch_id
    assert RESOLVER.resolve(group, batch_id="custom_batch_123").batch_id == "custom_batch_123"
    assert [s.sequence_order for s in plan.steps] == [0, 1]


@pytest.mark.parametrize(
    ("steps", "cycle"),
    [
        ([PipelineStep("a", "p", depends_on=["b"]), PipelineStep("b", "p", depends_on=["a"])],
         ["a", "b", "a"]),
        ([PipelineStep("a", "p", depends_on=["a"])], ["a", "a"]),
        (
            [
                PipelineStep("a", "p", depends_on=["c"]),
                PipelineStep("b", "p", depends_on=["a"]),
                PipelineStep("c", "p", depends_on=["b"]),
            ],
            ["a", "c", "b", "a"],
        ),
        (
            [
                PipelineStep("entry", "p"),
                PipelineStep("a", "p", depends_on=["entry", "c"]),
                PipelineStep("b", "p", depends_on=["a"]),
                PipelineStep("c", "p", depends_on=["b"]),
            ],
            ["a", "c", "b", "a"],
        ),
    ],
)  # fmt: skip
def test_cycles_are_found_when_resolving(steps: list[PipelineStep], cycle: list[str]) -> None:
    group = PipelineGroup("test.cycle", steps)

    with pytest.raises(CycleDetectedError) as caught:
        RESOLVER.resolve(group)

    assert caught.value.cycle == cycle
    assert caught.value.group_name == "test.cycle"
    assert " -> ".join(cycle) in str(caught.value)
    assert isinstance(caught.value, PlanResolutionError)
    assert isinstance(caught.value, GroupError)


def test_missing_dependencies_are_found_when_resolving() -> None:
    group = PipelineGroup(
        "test.multi_missing", [PipelineStep("a", "p", depends_on=["missing1", "missing2"])]
    )

    with pytest.raises(DependencyError) as caught:
        RESOLVER.resolve(group)

    assert caught.value.step_name == "a"
    assert caught.value.missing_deps == ["missing1", "missing2"]
    assert "depends on unknown step 'missing2'" in str(caught.value)


def test_an_unregistered_pipeline_is_found_when_validating() -> None:
    register_pipeline("known", lambda params: {})
    group = PipelineGroup(
        "test.pipelines", [PipelineStep("first", "known"), PipelineStep("second", "ghost")]
    )

    with pytest.raises(StepNotFoundError) as caught:
        PlanResolver().resolve(group)

    assert (caught.value.step_name, caught.value.pipeline_name) == ("second", "ghost")
    assert "'ghost', which is not registered (registered: known)" in str(caught.value)
    assert RESOLVER.resolve(group).step_count == 2


def test_params_merge_defaults_then_run_params_then_step_params() -> None:
    group = PipelineGroup(
        "test.precedence",
        defaults={"a": "default_a", "b": "default_b", "c": "default_c", "force": False},
        steps=[PipelineStep("s1", "pipeline.a", params={"c": "step_c"})],
    )

    plan = RESOLVER.resolve(group, params={"b": "run_b", "c": "run_c"})

    assert plan.steps[0].params == {"a": "default_a", "b": "run_b", "c": "step_c", "force": False}
    assert plan.params == {"b": "run_b", "c": "run_c"}


def test_the_plan_of_a_spine_core_file_is_the_one_spine_core_made(tmp_path: Any) -> None:
    path = tmp_path / "sample_group.yaml"
    path.write_text(SAMPLE_GROUP, encoding="utf-8")

    plan = RESOLVER.resolve(load_group_from_yaml(path), params={"week_ending": "2026-01-03"})

    data = plan.to_dict()
    del data["batch_id"], data["resolved_at"]
    params = {"tier": "NMS_TIER_1", "week_ending": "2026-01-03"}
    names = [
        ("ingest", "ingest_week"),
        ("normalize", "normalize_week"),
        ("aggregate", "aggregate_week"),
        ("rolling", "compute_rolling"),
    ]
    assert data == {
        "group_name": "finra.weekly_refresh",
        "group_version": 1,
        "steps": [
            {
                "step_name": step,
                "pipeline_name": f"finra.otc_transparency.{pipeline}",
                "params": params,
                "depends_on": [names[order - 1][0]] if order else [],
                "sequence_order": order,
            }
            for order, (step, pipeline) in enumerate(names)
        ],
        "policy": {
            "execution": "sequential",
            "max_concurrency": 4,
            "on_failure": "stop",
            "timeout_minutes": None,
        },
        "params": {"week_ending": "2026-01-03"},
    }
