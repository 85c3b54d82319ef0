"""Orchestration v2: workflows of steps passing an immutable context.

See ``docs/`` for the guide; the names below are the public API.
"""

from spine.core.errors import WorkflowValidationError
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

__all__ = [
    "ErrorCategory",
    "ErrorPolicy",
    "QualityMetrics",
    "RetryPolicy",
    "Step",
    "StepExecution",
    "StepResult",
    "StepStatus",
    "StepType",
    "Workflow",
    "WorkflowContext",
    "WorkflowRegistry",
    "WorkflowResult",
    "WorkflowRunner",
    "WorkflowStatus",
    "WorkflowValidationError",
    "get_workflow",
    "list_workflows",
    "register_workflow",
]
