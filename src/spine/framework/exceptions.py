"""spine-core's ``spine.framework.exceptions``, for code written against it: the errors
live in :mod:`spine.core.errors`, spine's one error hierarchy."""

from spine.core.errors import (
    BadParamsError,
    PipelineError,
    PipelineNotFoundError,
    SpineError,
    ValidationError,
)

__all__ = [
    "BadParamsError",
    "PipelineError",
    "PipelineNotFoundError",
    "SpineError",
    "ValidationError",
]
