"""Pipelines (registered units of work), the dispatcher that runs them, pipeline groups
and alerts."""

from typing import TYPE_CHECKING

from spine.core.lazy import lazy_exports
from spine.framework.dispatcher import Dispatcher
from spine.framework.pipelines import Pipeline, PipelineResult, PipelineStatus
from spine.framework.registry import (
    PipelineRegistry,
    clear_registry,
    get_pipeline,
    list_pipelines,
    pipeline,
    register_pipeline,
)

if TYPE_CHECKING:
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

_GROUP_NAMES = (
    "ExecutionMode",
    "ExecutionPolicy",
    "FailurePolicy",
    "GroupExecutionResult",
    "GroupExecutionStatus",
    "GroupRunner",
    "PipelineGroup",
    "PipelineStep",
    "get_group",
    "list_groups",
    "register_group",
)
# Pipeline groups load when first asked for: running a workflow never needs them.
__getattr__ = lazy_exports(__name__, dict.fromkeys(_GROUP_NAMES, "spine.framework.groups"))

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
