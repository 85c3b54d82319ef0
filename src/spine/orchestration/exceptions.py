"""spine-core's ``spine.orchestration.exceptions``, for code written against it: the
pipeline group errors live in :mod:`spine.core.errors`, spine's one error hierarchy."""

from spine.core.errors import (
    CycleDetectedError,
    DependencyError,
    GroupError,
    GroupNotFoundError,
    InvalidGroupSpecError,
    PlanResolutionError,
    StepNotFoundError,
)

__all__ = [
    "CycleDetectedError",
    "DependencyError",
    "GroupError",
    "GroupNotFoundError",
    "InvalidGroupSpecError",
    "PlanResolutionError",
    "StepNotFoundError",
]
