"""A group checks its fields when built and its dependencies when planned or registered,
reporting every problem at once."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import pytest

from spine.core.errors import (
    CycleDetectedError,
    DependencyError,
    GroupValidationError,
    InvalidGroupSpecError,
    PlanResolutionError,
)
from spine.framework.groups import (
    ExecutionMode,
    ExecutionPolicy,
    FailurePolicy,
    PipelineGroup,
    PipelineStep,
    PlanResolver,
    group_exists,
    register_group,
)


def _plan(group: PipelineGroup) -> None:
    PlanResolver(validate_pipelines=False).resolve(group)


def test_duplicate_step_names_are_refused_when_built() -> None:
    steps = [PipelineStep("a", "p"), PipelineStep("b", "p"), PipelineStep("a", "q")]

    with pytest.raises(InvalidGroupSpecError) as caught:
        PipelineGroup("finra.weekly_refresh", steps)

    error = caught.value
    assert error.group == "finra.weekly_refresh"
    assert error.field == "steps[2].name"
    assert str(error) == (
        "pipeline group 'finra.weekly_refresh': steps[2].name: Duplicate step names: "
        "'a' is also steps[0]"
    )


def test_every_dependency_problem_is_reported_at_once_when_planned() -> None:
    group = PipelineGroup(
        "finra.weekly_refresh",
        [
            PipelineStep("a", "p", depends_on=["c"]),
            PipelineStep("b", "p", depends_on=["a"]),
            PipelineStep("c", "p", depends_on=["b"]),
            PipelineStep("d", "p", depends_on=["ghost"]),
        ],
    )

    with pytest.raises(DependencyError) as caught:
        _plan(group)

    error = caught.value
    assert error.group == error.group_name == "finra.weekly_refresh"
    assert (error.step_name, error.missing_deps) == ("d", ["ghost"])
    assert error.problems == [
        "steps[3].depends_on: step 'd' depends on unknown step 'ghost' (steps: a, b, c, d)",
        "steps[0].depends_on: dependency cycle a -> c -> b -> a (each step depends on the "
        "next); remove one of these dependencies",
    ]
    assert str(error).startswith("pipeline group 'finra.weekly_refresh' has 2 problems:\n  - ")


def test_a_bad_dependency_is_refused_when_registered() -> None:
    group = PipelineGroup("g", [PipelineStep("a", "p", depends_on="a")])

    with pytest.raises(
        CycleDetectedError, match=r"steps\[0\]\.depends_on: dependency cycle a -> a"
    ):
        register_group(group)
    assert not group_exists("g")


def test_a_step_depending_on_itself_is_a_cycle() -> None:
    group = PipelineGroup("g", [PipelineStep("a", "p"), PipelineStep("b", "p", depends_on="b")])

    with pytest.raises(CycleDetectedError) as caught:
        _plan(group)

    assert caught.value.cycle == ["b", "b"]
    assert "steps[1].depends_on: dependency cycle b -> b" in str(caught.value)


def test_two_separate_cycles_are_both_named() -> None:
    steps = [
        PipelineStep("a", "p", depends_on="b"),
        PipelineStep("b", "p", depends_on="a"),
        PipelineStep("c", "p", depends_on="d"),
        PipelineStep("d", "p", depends_on="c"),
    ]

    with pytest.raises(CycleDetectedError) as caught:
        _plan(PipelineGroup("g", steps))

    cycles = [p for p in caught.value.problems if "cycle" in p]
    assert len(cycles) == 2
    assert "a -> b -> a" in cycles[0]
    assert "c -> d -> c" in cycles[1]
    assert caught.value.cycle == ["a", "b", "a"]


def test_a_long_chain_is_checked_without_recursion() -> None:
    names = [f"s{i}" for i in range(5000)]
    chain = [PipelineStep(names[0], "p")]
    chain += [PipelineStep(name, "p", depends_on=[prev]) for prev, name in pairwise(names)]
    _plan(PipelineGroup("chain", chain))

    looped = [PipelineStep(names[0], "p", depends_on=[names[-1]]), *chain[1:]]
    with pytest.raises(PlanResolutionError, match="dependency cycle s0 -> s4999 -> s4998"):
        _plan(PipelineGroup("loop", looped))


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        (
            {"name": "", "pipeline": "p"},
            "pipeline step: name: must be a non-empty string, got str ''",
        ),
        ({"name": "s", "pipeline": None}, "pipeline step 's': pipeline is required"),
        (
            {"name": "s", "pipeline": "p", "depends_on": [1]},
            "pipeline step 's': depends_on: must be a step name or a list of step names, got "
            "list [1]",
        ),
        (
            {"name": "s", "pipeline": "p", "params": ["x"]},
            "pipeline step 's': params: must be a mapping of names to values, got list ['x']",
        ),
    ],
)
def test_a_step_names_its_bad_field(kwargs: dict[str, Any], expected: str) -> None:
    with pytest.raises(GroupValidationError) as caught:
        PipelineStep(**kwargs)

    assert str(caught.value) == expected


def test_group_fields_are_checked_together() -> None:
    with pytest.raises(GroupValidationError) as caught:
        PipelineGroup(
            "g",
            [],
            version="2",  # type: ignore[arg-type]
            tags="weekly",
            policy={"mode": "parallel"},  # type: ignore[arg-type]
        )

    assert caught.value.problems == [
        "version: must be an integer, got str '2'",
        "policy: must be an ExecutionPolicy, got dict",
        "tags: must be a list of strings, got str 'weekly'",
        "steps: a group needs at least one step",
    ]


def test_policy_reports_all_bad_fields_and_accepts_strings() -> None:
    with pytest.raises(GroupValidationError) as caught:
        ExecutionPolicy(mode="sideways", max_concurrency=0, timeout_minutes=-1)  # type: ignore[arg-type]

    assert [p.split(":")[0] for p in caught.value.problems] == [
        "mode",
        "max_concurrency",
        "timeout_minutes",
    ]
    policy = ExecutionPolicy(mode="PARALLEL", on_failure="continue")  # type: ignore[arg-type]
    assert policy.mode is ExecutionMode.PARALLEL
    assert policy.on_failure is FailurePolicy.CONTINUE
    assert ExecutionPolicy.parallel(3) == ExecutionPolicy(ExecutionMode.PARALLEL, 3)
    with pytest.raises(GroupValidationError, match="max_concurrency: must be an integer >= 1"):
        ExecutionPolicy(max_concurrency=True)


def test_validation_errors_are_value_errors_as_in_spine_core() -> None:
    with pytest.raises(ValueError, match="Duplicate step names"):
        PipelineGroup("g", [PipelineStep("a", "p"), PipelineStep("a", "q")])
    assert issubclass(InvalidGroupSpecError, GroupValidationError)
    assert issubclass(PlanResolutionError, GroupValidationError)


def test_definitions_are_copied_and_normalised() -> None:
    params = {"tier": "NMS_TIER_1"}
    defaults = {"force": False}
    step = PipelineStep("ingest", "p", depends_on="other", params=params)
    group = PipelineGroup("g", [PipelineStep("other", "p"), step], defaults=defaults, tags=["w"])
    params["tier"] = "changed"
    defaults["force"] = True

    assert step.depends_on == ("other",)
    assert step.params == {"tier": "NMS_TIER_1"}
    assert group.defaults == {"force": False}
    assert group.steps == (group.steps[0], step)
    assert group.tags == ("w",)
    assert group.step_names == ["other", "ingest"]
    assert group.get_step("ingest") is step
    assert group.get_step("missing") is None
