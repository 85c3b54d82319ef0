"""Errors and small types shared by every layer of spine."""

from spine.core.errors import (
    BadParamsError,
    PipelineError,
    PipelineNotFoundError,
    ReadOnlyError,
    SpineError,
    WorkflowError,
    WorkflowValidationError,
)

__all__ = [
    "BadParamsError",
    "PipelineError",
    "PipelineNotFoundError",
    "ReadOnlyError",
    "SpineError",
    "WorkflowError",
    "WorkflowValidationError",
]
