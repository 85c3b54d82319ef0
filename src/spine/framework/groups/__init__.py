"""Pipeline groups (v1): registered pipelines with dependencies, run as one unit.

A :class:`PipelineGroup` names its steps, what each depends on, and a policy
(sequential or parallel with ``max_concurrency``, stop or continue on failure).
:class:`GroupRunner` plans and runs it; ``register_group`` also makes it the pipeline
of its name, so a workflow step ``Step.pipeline(step, group.name)`` runs the whole
group. Groups are read from and written to spine-core's ``apiVersion: spine.io/v1``,
``kind: PipelineGroup`` YAML documents. See ``docs/pipeline-groups.md``.

spine-core's modules (``spine.orchestration.models``, ``.planner``, ``.loader``,
``.exceptions``) re-export these names for code written against it.
"""

from spine.core.errors import (
    CycleDetectedError,
    DependencyError,
    GroupError,
    GroupNotFoundError,
    GroupValidationError,
    InvalidGroupSpecError,
    PlanResolutionError,
    StepNotFoundError,
)
from spine.core.status import StepStatus
from spine.framework.groups.group import (
    SUPPORTED_API_VERSIONS,
    PipelineGroup,
    group_from_dict,
    group_to_dict,
    group_to_yaml,
    load_group_from_yaml,
    load_groups_from_directory,
    parse_group_yaml,
    validate_yaml_schema,
)
from spine.framework.groups.model import (
    ExecutionMode,
    ExecutionPolicy,
    FailurePolicy,
    PipelineStep,
)
from spine.framework.groups.plan import ExecutionPlan, PlannedStep, PlanResolver
from spine.framework.groups.registry import (
    GroupRegistry,
    clear_group_registry,
    default_group_registry,
    get_group,
    group_exists,
    list_groups,
    register_group,
    unregister_group,
)
from spine.framework.groups.results import (
    GroupExecutionResult,
    GroupExecutionStatus,
    GroupRunStatus,
    GroupStepExecution,
)
from spine.framework.groups.runner import GroupPipeline, GroupRunner

__all__ = [
    "SUPPORTED_API_VERSIONS",
    "CycleDetectedError",
    "DependencyError",
    "ExecutionMode",
    "ExecutionPlan",
    "ExecutionPolicy",
    "FailurePolicy",
    "GroupError",
    "GroupExecutionResult",
    "GroupExecutionStatus",
    "GroupNotFoundError",
    "GroupPipeline",
    "GroupRegistry",
    "GroupRunStatus",
    "GroupRunner",
    "GroupStepExecution",
    "GroupValidationError",
    "InvalidGroupSpecError",
    "PipelineGroup",
    "PipelineStep",
    "PlanResolutionError",
    "PlanResolver",
    "PlannedStep",
    "StepNotFoundError",
    "StepStatus",
    "clear_group_registry",
    "default_group_registry",
    "get_group",
    "group_exists",
    "group_from_dict",
    "group_to_dict",
    "group_to_yaml",
    "list_groups",
    "load_group_from_yaml",
    "load_groups_from_directory",
    "parse_group_yaml",
    "register_group",
    "unregister_group",
    "validate_yaml_schema",
]
