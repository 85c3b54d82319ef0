"""The public names of each layer package stay exported."""

from __future__ import annotations

import importlib

import pytest

REQUIRED = {
    "spine.framework": {
        "pipeline",
        "register_pipeline",
        "Pipeline",
        "PipelineResult",
        "PipelineStatus",
        "Dispatcher",
        "get_pipeline",
        "list_pipelines",
        "clear_registry",
        "PipelineGroup",
        "PipelineStep",
        "ExecutionPolicy",
        "ExecutionMode",
        "FailurePolicy",
        "GroupRunner",
        "GroupExecutionResult",
        "GroupExecutionStatus",
        "register_group",
        "get_group",
        "list_groups",
    },
    "spine.framework.groups": {
        "PipelineGroup",
        "PipelineStep",
        "ExecutionPolicy",
        "ExecutionMode",
        "FailurePolicy",
        "ExecutionPlan",
        "PlannedStep",
        "PlanResolver",
        "GroupRunner",
        "GroupPipeline",
        "GroupExecutionResult",
        "GroupExecutionStatus",
        "GroupStepExecution",
        "StepStatus",
        "GroupRunStatus",
        "PlanResolutionError",
        "InvalidGroupSpecError",
        "load_groups_from_directory",
        "validate_yaml_schema",
        "GroupRegistry",
        "GroupError",
        "GroupValidationError",
        "GroupNotFoundError",
        "register_group",
        "get_group",
        "list_groups",
        "group_exists",
        "unregister_group",
        "clear_group_registry",
        "load_group_from_yaml",
        "parse_group_yaml",
        "group_to_yaml",
        "group_from_dict",
        "group_to_dict",
    },
    "spine.framework.alerts": {
        "send_alert",
        "AlertSeverity",
        "Alert",
        "DeliveryResult",
        "BaseChannel",
        "ConsoleChannel",
        "SlackChannel",
        "EmailChannel",
        "WebhookChannel",
        "alert_registry",
        "configure_alerts",
        "load_channels",
        "DeliveryRetry",
        "DeliveryLog",
        "DeliveryRecord",
        "recent_deliveries",
        "run_alert",
    },
    "spine.execution": {"ExecutionContext"},
    "spine.core.errors": {
        "AlertConfigError",
        "SpineError",
        "PipelineError",
        "PipelineNotFoundError",
        "BadParamsError",
        "WorkflowError",
        "WorkflowValidationError",
        "GroupError",
        "GroupValidationError",
        "GroupNotFoundError",
        "WorkflowDefinitionError",
        "ExpressionError",
        "ScheduleError",
        "ScheduleValidationError",
    },
    # The spec's names are pinned in tests/orchestration/test_exports.py.
    "spine.orchestration": {
        "load_workflow",
        "workflow_from_dict",
        "compile_condition",
        "Expression",
        "WorkflowDefinitionError",
    },
    "spine.orchestration.schedules": {
        "Schedule",
        "ScheduleFire",
        "ScheduleStore",
        "Scheduler",
        "FireOutcome",
    },
    "spine.store": {
        "Database",
        "open_store",
        "open_schedules",
        "SqlStore",
        "SqlScheduleStore",
        "SqlDeliveryLog",
        "default_url",
    },
    "spine.core": {
        "SpineError",
        "PipelineError",
        "PipelineNotFoundError",
        "BadParamsError",
        "WorkflowError",
        "WorkflowValidationError",
    },
}


@pytest.mark.parametrize("module_name", sorted(REQUIRED))
def test_all_includes_the_public_names(module_name: str) -> None:
    module = importlib.import_module(module_name)

    missing = REQUIRED[module_name] - set(module.__all__)

    assert missing == set()


@pytest.mark.parametrize("module_name", sorted(REQUIRED))
def test_every_exported_name_exists(module_name: str) -> None:
    module = importlib.import_module(module_name)

    absent = [name for name in module.__all__ if not hasattr(module, name)]

    assert absent == []
    assert len(module.__all__) == len(set(module.__all__))


def test_alert_severity_members() -> None:
    from spine.framework.alerts import AlertSeverity

    assert [s.value for s in AlertSeverity] == ["INFO", "WARNING", "ERROR", "CRITICAL"]


def test_star_import_of_framework() -> None:
    namespace: dict[str, object] = {}
    exec("from spine.framework import *", namespace)

    assert REQUIRED["spine.framework"] <= set(namespace)
