"""Pipelines (registered units of work), the dispatcher that runs them, pipeline groups
and alerts."""

from spine.framework.dispatcher import Dispatcher
from spine.framework.groups import (
    ExecutionMode,
    ExecutionPolicy,
    FailurePolicy,
    GroupExecutionResult,
    GroupExecutionStatus,
    GroupRunner,
    PipelineGroup,
    PipelineStep,
    get_group,
    list_groups,
    register_group,
)
from spine.framework.pipelines import Pipeline, PipelineResult, PipelineStatus
from spine.framework.registry import (
    PipelineRegistry,
    clear_registry,
    get_pipeline,
    list_pipelines,
    pipeline,
    register_pipeline,
)

__all__ = [
    "Dispatcher",
    "ExecutionMode",
    "ExecutionPolicy",
    "FailurePolicy",
    "GroupExecutionResult",
    "GroupExecutionStatus",
    "GroupRunner",
    "Pipeline",
    "PipelineGroup",
    "PipelineRegistry",
    "PipelineResult",
    "PipelineStatus",
    "PipelineStep",
    "clear_registry",
    "get_group",
    "get_pipeline",
    "list_groups",
    "list_pipelines",
    "pipeline",
    "register_group",
    "register_pipeline",
]
