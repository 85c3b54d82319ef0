"""Orchestration v2: workflows of steps passing an immutable context.

See ``docs/`` for the guide; the names below are the public API.
"""

from typing import TYPE_CHECKING

from spine.core.errors import WorkflowDefinitionError, WorkflowValidationError
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
        ExecutionPolicy,
        FailurePolicy,
        GroupRunner,
        PipelineGroup,
        PipelineStep,
        get_group,
        register_group,
    )
    from spine.orchestration.definitions import load_workflow, workflow_from_dict
    from spine.orchestration.expressions import Expression, compile_condition
    from spine.orchestration.schedules import Schedule, Scheduler

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
        **dict.fromkeys(
            (
                "ExecutionMode",
                "ExecutionPolicy",
                "FailurePolicy",
                "GroupRunner",
                "PipelineGroup",
                "PipelineStep",
                "get_group",
                "register_group",
            ),
            "spine.framework.groups",
        ),
    },
)

__all__ = [
    "ErrorCategory",
    "ErrorPolicy",
    "ExecutionMode",
    "ExecutionPolicy",
    "Expression",
    "FailurePolicy",
    "GroupRunner",
    "PipelineGroup",
    "PipelineStep",
    "QualityMetrics",
    "RetryPolicy",
    "Schedule",
    "Scheduler",
    "Step",
    "StepExecution",
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
    "compile_condition",
    "get_group",
    "get_workflow",
    "list_workflows",
    "load_workflow",
    "register_group",
    "register_workflow",
    "workflow_from_dict",
]
