"""The workflow registry: find a workflow by name (for resume, workers and the CLI)."""

from __future__ import annotations

import threading

from spine.core.errors import WorkflowError
from spine.orchestration.workflow import Workflow


class WorkflowRegistry:
    """Workflows by name. Registering a name again replaces the earlier definition."""

    def __init__(self) -> None:
        self._workflows: dict[str, Workflow] = {}
        self._lock = threading.Lock()

    def register(self, workflow: Workflow) -> Workflow:
        if not isinstance(workflow, Workflow):
            raise TypeError(f"expected a Workflow, got {type(workflow).__name__}")
        with self._lock:
            self._workflows[workflow.name] = workflow
        return workflow

    def get(self, name: str) -> Workflow:
        try:
            return self._workflows[name]
        except KeyError:
            known = ", ".join(sorted(self._workflows)) or "none"
            raise WorkflowError(
                f"workflow {name!r} is not registered (registered: {known}); "
                "call register_workflow() in the module that defines it",
                workflow=name,
            ) from None

    def names(self) -> list[str]:
        return sorted(self._workflows)

    def clear(self) -> None:
        with self._lock:
            self._workflows.clear()

    def __contains__(self, name: object) -> bool:
        return name in self._workflows


default_workflow_registry = WorkflowRegistry()


def register_workflow(workflow: Workflow) -> Workflow:
    """Register ``workflow`` by name in the default registry and return it."""
    return default_workflow_registry.register(workflow)


def get_workflow(name: str) -> Workflow:
    """The workflow registered as ``name``; raises ``WorkflowError`` naming the known ones."""
    return default_workflow_registry.get(name)


def list_workflows() -> list[str]:
    return default_workflow_registry.names()
