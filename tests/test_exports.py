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
    },
    "spine.framework.alerts": {
        "send_alert",
        "AlertSeverity",
        "Alert",
        "DeliveryResult",
        "BaseChannel",
        "ConsoleChannel",
        "alert_registry",
    },
    "spine.execution": {"ExecutionContext"},
    "spine.core.errors": {
        "SpineError",
        "PipelineError",
        "PipelineNotFoundError",
        "BadParamsError",
        "WorkflowError",
        "WorkflowValidationError",
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
