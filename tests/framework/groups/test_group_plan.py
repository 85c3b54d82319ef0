"""Plans: a deterministic dependency order, levels, merged params, known pipelines."""

from __future__ import annotations

import pytest

from spine.core.errors import GroupValidationError
from spine.framework import PipelineRegistry, pipeline
from spine.framework.groups import PipelineGroup, PipelineStep, PlanResolver


def _noop(params: dict[str, object]) -> None:
    return None


def test_steps_without_dependencies_come_first_then_each_step_once_ready() -> None:
    group = PipelineGroup(
        "g",
        [
            PipelineStep("report", "p", depends_on=["load"]),
            PipelineStep("extract", "p"),
            PipelineStep("load", "p", depends_on=["extract"]),
            PipelineStep("audit", "p"),
        ],
    )

    plan = PlanResolver(validate_pipelines=False).resolve(group)

    assert [s.step_name for s in plan.steps] == ["extract", "audit", "load", "report"]
    assert [s.sequence_order for s in plan.steps] == [0, 1, 2, 3]
    assert plan.levels == [["extract", "audit"], ["load"], ["report"]]


def test_a_step_ready_early_waits_behind_steps_ready_before_it() -> None:
    # spine-core's order: "b" became ready after "c" was already queued.
    group = PipelineGroup(
        "g",
        [
            PipelineStep("a", "p"),
            PipelineStep("b", "p", depends_on="a"),
            PipelineStep("c", "p"),
            PipelineStep("d", "p", depends_on=["b", "c"]),
        ],
    )

    plan = PlanResolver(validate_pipelines=False).resolve(group)

    assert [s.step_name for s in plan.steps] == ["a", "c", "b", "d"]


def test_a_diamond_has_three_levels() -> None:
    group = PipelineGroup(
        "diamond",
        [
            PipelineStep("a", "p"),
            PipelineStep("b", "p", depends_on="a"),
            PipelineStep("c", "p", depends_on="a"),
            PipelineStep("d", "p", depends_on=["c", "b"]),
        ],
    )

    plan = PlanResolver(validate_pipelines=False).resolve(group)

    assert plan.levels == [["a"], ["b", "c"], ["d"]]
    assert plan.get_step("d") is not None
    assert plan.get_step("d").depends_on == ("c", "b")  # type: ignore[union-attr]
    assert plan.step_count == 4


def test_params_merge_defaults_then_run_params_then_step_params() -> None:
    group = PipelineGroup(
        "g",
        [
            PipelineStep("ingest", "p", params={"source": "api", "tier": "NMS_TIER_2"}),
            PipelineStep("normalize", "p", depends_on="ingest"),
        ],
        defaults={"tier": "NMS_TIER_1", "week_ending": "{{ params.week_ending }}", "force": False},
    )

    plan = PlanResolver(validate_pipelines=False).resolve(
        group, {"week_ending": "2026-01-03", "force": True}
    )

    assert plan.params == {"week_ending": "2026-01-03", "force": True}
    assert plan.steps[0].params == {
        "tier": "NMS_TIER_2",
        "week_ending": "2026-01-03",
        "force": True,
        "source": "api",
    }
    assert plan.steps[1].params == {
        "tier": "NMS_TIER_1",
        "week_ending": "2026-01-03",
        "force": True,
    }


def test_unknown_pipelines_are_all_named_when_resolving() -> None:
    pipeline("known")(_noop)
    group = PipelineGroup(
        "g",
        [
            PipelineStep("a", "missing.one"),
            PipelineStep("b", "known"),
            PipelineStep("c", "missing.two", depends_on="a"),
        ],
    )

    with pytest.raises(GroupValidationError) as caught:
        PlanResolver().resolve(group)

    assert caught.value.group == "g"
    assert caught.value.problems == [
        "steps[0].pipeline: step 'a' runs pipeline 'missing.one', which is not registered "
        "(registered: known)",
        "steps[2].pipeline: step 'c' runs pipeline 'missing.two', which is not registered "
        "(registered: known)",
    ]


def test_pipelines_are_looked_up_in_the_resolver_registry() -> None:
    registry = PipelineRegistry()
    registry.register("scoped", _noop)
    group = PipelineGroup("g", [PipelineStep("a", "scoped")])

    plan = PlanResolver(registry=registry).resolve(group, batch_id="batch-1")

    assert plan.batch_id == "batch-1"
    assert plan.group_name == "g"
    with pytest.raises(GroupValidationError, match="'scoped', which is not registered"):
        PlanResolver().resolve(group)


def test_each_plan_gets_its_own_batch_id() -> None:
    group = PipelineGroup("g", [PipelineStep("a", "p")], version=3)
    resolver = PlanResolver(validate_pipelines=False)

    first, second = resolver.resolve(group), resolver.resolve(group)

    assert first.batch_id != second.batch_id
    assert first.group_version == 3
