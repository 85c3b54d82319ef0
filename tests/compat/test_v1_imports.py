"""Every name spine-core's v1 modules offered imports from the module it was in."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

V1_NAMES = {
    "spine.orchestration": [
        "PipelineGroup",
        "PipelineStep",
        "ExecutionPolicy",
        "ExecutionMode",
        "FailurePolicy",
        "ExecutionPlan",
        "PlannedStep",
        "PlanResolver",
        "GroupRunner",
        "GroupExecutionStatus",
        "GroupRunStatus",
        "StepStatus",
        "register_group",
        "get_group",
        "list_groups",
        "group_exists",
        "clear_group_registry",
        "GroupError",
        "GroupNotFoundError",
        "InvalidGroupSpecError",
        "CycleDetectedError",
        "PlanResolutionError",
        "StepNotFoundError",
        "DependencyError",
    ],
    "spine.orchestration.models": [
        "PipelineGroup",
        "PipelineStep",
        "ExecutionPolicy",
        "ExecutionMode",
        "FailurePolicy",
        "ExecutionPlan",
        "PlannedStep",
        "GroupRunStatus",
    ],
    "spine.orchestration.planner": ["PlanResolver"],
    "spine.orchestration.loader": [
        "load_group_from_yaml",
        "load_groups_from_directory",
        "group_to_yaml",
        "validate_yaml_schema",
        "SUPPORTED_API_VERSIONS",
    ],
    "spine.orchestration.exceptions": [
        "GroupError",
        "GroupNotFoundError",
        "InvalidGroupSpecError",
        "CycleDetectedError",
        "PlanResolutionError",
        "StepNotFoundError",
        "DependencyError",
    ],
    "spine.orchestration.step_result": ["StepResult", "QualityMetrics", "ErrorCategory"],
    "spine.framework.registry": [
        "register_pipeline",
        "get_pipeline",
        "list_pipelines",
        "clear_registry",
    ],
    "spine.framework.pipelines": ["Pipeline", "PipelineResult", "PipelineStatus"],
    "spine.framework.exceptions": [
        "SpineError",
        "PipelineError",
        "PipelineNotFoundError",
        "BadParamsError",
        "ValidationError",
    ],
    "spine.framework.dispatcher": [
        "Dispatcher",
        "Execution",
        "Lane",
        "TriggerSource",
        "get_dispatcher",
        "reset_dispatcher",
    ],
    "spine.framework.alerts.protocol": [
        "Alert",
        "AlertChannel",
        "AlertSeverity",
        "BaseChannel",
        "ChannelType",
        "ConsoleChannel",
        "DeliveryResult",
    ],
    "spine.core.errors": ["SourceError"],
}


@pytest.mark.parametrize(
    ("module", "name"), [(m, n) for m, names in V1_NAMES.items() for n in names]
)
def test_the_v1_name_imports_from_its_v1_module(module: str, name: str) -> None:
    exec(f"from {module} import {name}", {})  # the statement v1 code contains
    assert getattr(importlib.import_module(module), name) is not None


HOMES = ("spine.framework.groups", "spine.core.errors", "spine.core.status")
"""Where the pipeline group names are implemented, once."""


@pytest.mark.parametrize(
    ("module", "name"),
    [
        (m, n)
        for m, names in V1_NAMES.items()
        for n in names
        if m.startswith("spine.orchestration") and m != "spine.orchestration.step_result"
    ],
)
def test_an_orchestration_name_is_a_re_export(module: str, name: str) -> None:
    value = getattr(importlib.import_module(module), name)
    homes = [importlib.import_module(home) for home in HOMES]
    assert any(getattr(home, name, None) is value for home in homes)


RE_EXPORTS = (
    "spine.orchestration.models",
    "spine.orchestration.planner",
    "spine.orchestration.loader",
    "spine.orchestration.exceptions",
    "spine.framework.exceptions",
    "spine.framework.alerts.protocol",
)


@pytest.mark.parametrize("module", RE_EXPORTS)
def test_a_re_export_module_lists_exactly_its_v1_names(module: str) -> None:
    assert sorted(importlib.import_module(module).__all__) == sorted(V1_NAMES[module])


def test_the_orchestration_package_lists_its_v1_names() -> None:
    exported = set(importlib.import_module("spine.orchestration").__all__)
    assert set(V1_NAMES["spine.orchestration"]) <= exported


def test_importing_orchestration_leaves_the_group_modules_unloaded() -> None:
    code = (
        "import json, sys\nimport spine.orchestration\n"
        "from spine.orchestration import GroupError, StepStatus\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('spine.'))))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = json.loads(completed.stdout)
    assert "spine.orchestration" in loaded
    assert not [m for m in loaded if m.startswith("spine.framework.groups")]
