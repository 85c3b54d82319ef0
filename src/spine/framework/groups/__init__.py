"""Pipeline groups (v1): registered pipelines with dependencies, run as one unit.

A :class:`PipelineGroup` names its steps, what each depends on, and a policy
(sequential or parallel with ``max_concurrency``, stop or continue on failure).
:class:`GroupRunner` plans and runs it; ``register_group`` also makes it the pipeline
of its name, so a workflow step ``Step.pipeline(step, group.name)`` runs the whole
group. Groups are read from and written to spine-core's ``apiVersion: spine.io/v1``,
``kind: PipelineGroup`` YAML documents. See ``docs/pipeline-groups.md``.
"""

from spine.core.errors import GroupError, GroupNotFoundError, GroupValidationError
from spine.framework.groups.group import (
    PipelineGroup,
    group_from_dict,
    group_to_dict,
    group_to_yaml,
    load_group_from_yaml,
    parse_group_yaml,
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
    GroupStepExecution,
    GroupStepStatus,
)
from spine.framework.groups.runner import GroupPipeline, GroupRunner

__all__ = [
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
    "GroupRunner",
    "GroupStepExecution",
    "GroupStepStatus",
    "GroupValidationError",
    "PipelineGroup",
    "PipelineStep",
    "PlanResolver",
    "PlannedStep",
    "clear_group_registry",
    "default_group_registry",
    "get_group",
    "group_exists",
    "group_from_dict",
    "group_to_dict",
    "group_to_yaml",
    "list_groups",
    "load_group_from_yaml",
    "parse_group_yaml",
    "register_group",
    "unregister_group",
]
