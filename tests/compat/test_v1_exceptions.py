"""spine-core's error classes: constructors, attributes, message parts and hierarchy."""

from __future__ import annotations

import pytest

from spine.core.errors import SourceError, SpineError
from spine.framework import exceptions as framework
from spine.orchestration.exceptions import (
    CycleDetectedError,
    DependencyError,
    GroupError,
    GroupNotFoundError,
    InvalidGroupSpecError,
    PlanResolutionError,
    StepNotFoundError,
)


def test_group_errors_are_built_as_spine_core_built_them() -> None:
    assert str(GroupError("base")) == "base"

    not_found = GroupNotFoundError("ingest")
    assert not_found.group_name == "ingest"
    assert "ingest" in str(not_found)

    step = StepNotFoundError("step1", "op_missing")
    assert (step.step_name, step.pipeline_name) == ("step1", "op_missing")
    assert str(step) == "Step 'step1' references unknown pipeline: op_missing"

    cycle = CycleDetectedError(["a", "b", "c", "a"])
    assert cycle.cycle == ["a", "b", "c", "a"]
    assert "a -> b -> c -> a" in str(cycle)

    plan = PlanResolutionError("can't resolve", group_name="g1")
    assert plan.group_name == "g1"
    assert str(plan) == "can't resolve"
    assert PlanResolutionError("failed").group_name is None

    spec = InvalidGroupSpecError("bad spec", field="steps")
    assert spec.field == "steps"
    assert str(spec) == "bad spec"
    assert InvalidGroupSpecError("invalid").field is None

    dependency = DependencyError("s1", ["dep_a", "dep_b"])
    assert (dependency.step_name, dependency.missing_deps) == ("s1", ["dep_a", "dep_b"])
    assert "dep_a, dep_b" in str(dependency)


@pytest.mark.parametrize(
    "error",
    [
        GroupNotFoundError("g"),
        StepNotFoundError("s", "p"),
        CycleDetectedError(["a", "a"]),
        PlanResolutionError("x"),
        InvalidGroupSpecError("x"),
        DependencyError("s", ["d"]),
    ],
)
def test_every_group_error_is_caught_as_a_group_error_and_a_spine_error(error: Exception) -> None:
    with pytest.raises(GroupError):
        raise error
    assert isinstance(error, SpineError)


def test_framework_exceptions_are_spine_cores() -> None:
    assert str(framework.SpineError("Test error message")) == "Test error message"

    missing = framework.PipelineNotFoundError("my.missing.pipeline")
    assert missing.pipeline_name == "my.missing.pipeline"
    assert "my.missing.pipeline" in str(missing)
    assert isinstance(missing, KeyError)

    bad = framework.BadParamsError("Invalid parameters")
    assert (str(bad), bad.missing_params, bad.invalid_params) == ("Invalid parameters", [], [])
    both = framework.BadParamsError("x", missing_params=["p1"], invalid_params=["p3"])
    assert (both.missing_params, both.invalid_params) == (["p1"], ["p3"])

    invalid = framework.ValidationError("Data validation failed: missing column 'id'", field="id")
    assert "validation failed" in str(invalid).lower()
    assert (invalid.field, invalid.value, invalid.constraint) == ("id", None, None)

    assert "execution failed" in str(framework.PipelineError("Pipeline execution failed"))
    for kind in (
        framework.PipelineNotFoundError,
        framework.BadParamsError,
        framework.ValidationError,
        framework.PipelineError,
    ):
        assert issubclass(kind, framework.SpineError)


def test_a_source_error_says_whether_a_retry_may_help() -> None:
    error = SourceError("API returned 500")
    assert isinstance(error, SpineError)
    assert (str(error), error.retryable, error.retry_after) == ("API returned 500", False, None)
    busy = SourceError("rate limited", retryable=True, retry_after=30)
    assert (busy.retryable, busy.retry_after) == (True, 30)
