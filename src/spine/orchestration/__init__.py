"""Orchestration v2: workflows of steps passing an immutable context.

See ``docs/`` for the guide; the names below are the public API.
"""

from typing import TYPE_CHECKING

from spine.core.errors import (
    CycleDetectedError,
    DependencyError,
    GroupError,
    GroupNotFoundError,
    InvalidGroupSpecError,
    PlanResolutionError,
    StepNotFoundError,
    WorkflowDefinitionError,
    WorkflowValidationError,
)
from spine.core.lazy import lazy_exports
from spine.orchestration.registry import (
    WorkflowRegistry,
    get_workflow,
    list_workflows,
    register_workflow,
)
from spine.orchestration.results import StepExecution, StepStatus, WorkflowResult, WorkflowStatus
from spine.orchestration.retry import RetryPolicy
from spine.orchestration.step_result import ErrorCategory, QualityMetrics, StepResult
from spine.orchestration.step_types import ErrorPolicy, Step, StepType
from spine.orchestration.workflow import Workflow
from spine.orchestration.workflow_context import WorkflowContext
from spine.orchestration.workflow_runner import WorkflowRunner

if TYPE_CHECKING:
    from spine.framework.groups import (
        ExecutionMode,
        ExecutionPlan,
        ExecutionPolicy,
        FailurePolicy,
        GroupExecutionStatus,
        GroupRunner,
        GroupRunStatus,
        PipelineGroup,
        PipelineStep,
        PlannedStep,
        PlanResolver,
        clear_group_registry,
        get_group,
        group_exists,
        list_groups,
        register_group,
    )
    from spine.orchestration.definitions import load_workflow, workflow_from_dict
    from spine.orchestration.expressions import Expression, compile_condition
    from spine.orchestration.schedules import Schedule, Scheduler

_GROUP_NAMES = (
    "ExecutionMode",
    "ExecutionPlan",
    "ExecutionPolicy",
    "FailurePolicy",
    "GroupExecutionStatus",
    "GroupRunStatus",
    "GroupRunner",
    "PipelineGroup",
    "PipelineStep",
    "PlanResolver",
    "PlannedStep",
    "clear_group_registry",
    "get_group",
    "group_exists",
    "list_groups",
    "register_group",
)

# Workflows written in YAML load their reader when first asked for.
__getattr__ = lazy_exports(
    __name__,
    {
        "load_workflow": "spine.orchestration.definitions",
        "workflow_from_dict": "spine.orchestration.definitions",
        "Expression": "spine.orchestration.expressions",
        "compile_condition": "spine.orchestration.expressions",
        "Schedule": "spine.orchestration.schedules",
        "Scheduler": "spine.orchestration.schedules",
        # spine-core kept its v1 groups in its orchestration module: code importing
        # them from here keeps working (they live in spine.framework.groups).
        **dict.fromkeys(_GROUP_NAMES, "spine.framework.groups"),
    },
)

__all__ = [
    "CycleDetectedError",
    "DependencyError",
    "ErrorCategory",
    "ErrorPolicy",
    "ExecutionMode",
    "ExecutionPlan",
    "ExecutionPolicy",
    "Expression",
    "FailurePolicy",
    "GroupError",
    "GroupExecutionStatus",
    "GroupNotFoundError",
    "GroupRunStatus",
    "GroupRunner",
    "InvalidGroupSpecError",
    "PipelineGroup",
    "PipelineStep",
    "PlanResolutionError",
    "PlanResolver",
    "PlannedStep",
    "QualityMetrics",
    "RetryPolicy",
    "Schedule",
    "Scheduler",
    "Step",
    "StepExecution",
    "StepNotFoundError",
    "StepResult",
    "StepStatus",
    "StepType",
    "Workflow",
    "WorkflowContext",
    "WorkflowDefinitionError",
    "WorkflowRegistry",
    "WorkflowResult",
    "WorkflowRunner",
    "WorkflowStatus",
    "WorkflowValidationError",
    "clear_group_registry",
    "compile_condition",
    "get_group",
    "get_workflow",
    "group_exists",
    "list_groups",
    "list_workflows",
    "load_workflow",
    "register_group",
    "register_workflow",
    "workflow_from_dict",
]
