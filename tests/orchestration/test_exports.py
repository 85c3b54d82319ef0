"""The public names of spine.orchestration and its light import footprint."""

from __future__ import annotations

import json

import pytest

import spine.orchestration as orchestration
from spine.orchestration import (
    ErrorCategory,
    StepResult,
    StepType,
    WorkflowStatus,
    WorkflowValidationError,
)

PUBLIC_NAMES = [
    "Workflow",
    "Step",
    "StepResult",
    "QualityMetrics",
    "WorkflowContext",
    "WorkflowRunner",
    "WorkflowResult",
    "WorkflowStatus",
    "StepExecution",
    "ErrorPolicy",
    "RetryPolicy",
    "WorkflowValidationError",
    "StepType",
    "ErrorCategory",
    "register_workflow",
    "get_workflow",
]


@pytest.mark.parametrize("name", PUBLIC_NAMES)
def test_public_name_is_exported(name: str) -> None:
    assert name in orchestration.__all__
    assert getattr(orchestration, name) is not None


def test_every_name_in_all_exists() -> None:
    missing = [n for n in orchestration.__all__ if not hasattr(orchestration, n)]
    assert missing == []


def test_star_import_gives_the_public_names() -> None:
    namespace: dict[str, object] = {}
    exec("from spine.orchestration import *", namespace)
    assert set(PUBLIC_NAMES) <= set(namespace)


def test_error_category_importable_from_step_result_module() -> None:
    from spine.orchestration.step_result import ErrorCategory as FromModule

    assert FromModule is ErrorCategory


def test_workflow_validation_error_is_a_value_error() -> None:
    assert issubclass(WorkflowValidationError, ValueError)


def test_workflow_status_values_are_upper_case_names() -> None:
    for name in ("COMPLETED", "FAILED", "PARTIAL", "PENDING", "RUNNING", "WAITING", "CANCELLED"):
        member = WorkflowStatus[name]
        assert member.value == name
        assert member == name
        assert isinstance(member, str)
        assert str(member) == name
    for member in WorkflowStatus:
        assert member.value == member.name


def test_step_type_values() -> None:
    assert {m.name: m.value for m in StepType} == {
        "LAMBDA": "lambda",
        "PIPELINE": "pipeline",
        "CHOICE": "choice",
        "WAIT": "wait",
        "MAP": "map",
    }
    assert StepType.LAMBDA == "lambda"
    assert isinstance(StepType.MAP, str)


def test_error_category_members() -> None:
    for name in (
        "INTERNAL",
        "DATA_QUALITY",
        "TRANSIENT",
        "TIMEOUT",
        "DEPENDENCY",
        "CONFIGURATION",
        "PIPELINE",
    ):
        assert ErrorCategory[name].value == name
        assert isinstance(ErrorCategory[name], str)


@pytest.mark.parametrize("category", list(ErrorCategory))
def test_error_category_is_stored_as_a_plain_string(category: ErrorCategory) -> None:
    result = StepResult.fail("x", category=category)
    assert type(result.error_category) is str
    assert result.error_category == category.value
    assert json.dumps(result.error_category) == f'"{category.value}"'


def test_any_string_is_accepted_as_a_category() -> None:
    result = StepResult.fail("x", category="MY_OWN")
    assert result.error_category == "MY_OWN"
