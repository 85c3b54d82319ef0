"""spine-core's ``spine.orchestration.models``, for code written against it: the
pipeline group definitions and plans live in :mod:`spine.framework.groups`."""

from spine.framework.groups import (
    ExecutionMode,
    ExecutionPlan,
    ExecutionPolicy,
    FailurePolicy,
    GroupRunStatus,
    PipelineGroup,
    PipelineStep,
    PlannedStep,
)

__all__ = [
    "ExecutionMode",
    "ExecutionPlan",
    "ExecutionPolicy",
    "FailurePolicy",
    "GroupRunStatus",
    "PipelineGroup",
    "PipelineStep",
    "PlannedStep",
]
