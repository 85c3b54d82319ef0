"""The error hierarchy of spine.core.errors."""

from __future__ import annotations

import pytest

import spine.core
import spine.core.errors as errors_module
from spine.core.errors import (
    BadParamsError,
    PipelineError,
    PipelineNotFoundError,
    SpineError,
    WorkflowError,
    WorkflowValidationError,
)


@pytest.mark.parametrize(
    "cls", [PipelineError, PipelineNotFoundError, BadParamsError, WorkflowError]
)
def test_subclasses_of_spine_error(cls: type[Exception]) -> None:
    assert issubclass(cls, SpineError)
    assert issubclass(SpineError, Exception)


def test_pipeline_errors_are_pipeline_errors() -> None:
    assert issubclass(PipelineNotFoundError, PipelineError)
    assert issubclass(BadParamsError, PipelineError)
    assert not issubclass(WorkflowError, PipelineError)


def test_workflow_validation_error_is_workflow_error_and_value_error() -> None:
    error = WorkflowValidationError("bad", workflow="wf", step="s1")

    assert isinstance(error, WorkflowError)
    assert isinstance(error, ValueError)
    assert isinstance(error, SpineError)
    assert error.workflow == "wf"
    assert error.step == "s1"
    assert error.problems == ["bad"]
    with pytest.raises(ValueError, match="bad"):
        raise error


def test_pipeline_not_found_is_key_error_without_extra_quotes() -> None:
    error = PipelineNotFoundError("some.pipe", known=["b", "a"])

    assert isinstance(error, KeyError)
    text = str(error)
    assert text.startswith("Pipeline not found")
    assert not text.startswith(("'", '"'))
    assert "'some.pipe'" in text
    assert "registered: a, b" in text
    assert error.pipeline_name == "some.pipe"
    assert error.pipeline == "some.pipe"


def test_pipeline_not_found_with_nothing_registered_says_how_to_register() -> None:
    text = str(PipelineNotFoundError("x"))
    assert "@pipeline" in text


def test_bad_params_error_defaults() -> None:
    plain = BadParamsError("bad params")
    assert plain.missing_params == []
    assert plain.invalid_params == []
    assert str(plain) == "bad params"

    detailed = BadParamsError(
        "bad params", pipeline="p", missing_params=("week",), invalid_params=["tier"]
    )
    assert detailed.missing_params == ["week"]
    assert detailed.invalid_params == ["tier"]
    assert detailed.pipeline == "p"


@pytest.mark.parametrize(
    "name",
    [
        "SpineError",
        "PipelineError",
        "PipelineNotFoundError",
        "BadParamsError",
        "WorkflowError",
        "WorkflowValidationError",
    ],
)
def test_importable_from_core_and_core_errors(name: str) -> None:
    assert getattr(spine.core, name) is getattr(errors_module, name)
    assert name in errors_module.__all__
    assert name in spine.core.__all__


def test_workflow_validation_error_is_the_orchestration_one() -> None:
    import spine.orchestration

    assert spine.orchestration.WorkflowValidationError is WorkflowValidationError
