"""The workflow registry: find a workflow by name (for resume, workers and the CLI)."""

from __future__ import annotations

import threading

from spine.core.errors import WorkflowError
from spine.orchestration.workflow import Workflow


class WorkflowRegistry:
    """Workflows by name and version.

    Registering the same name and version again replaces that definition; a new
    version is kept beside the older ones, so a run started under version 1 can be
    resumed with version 1 after version 2 is registered. Without a version, the
    highest registered version is meant.
    """

    def __init__(self) -> None:
        self._workflows: dict[str, dict[int, Workflow]] = {}
        self._lock = threading.Lock()

    def register(self, workflow: Workflow) -> Workflow:
        if not isinstance(workflow, Workflow):
            raise TypeError(f"expected a Workflow, got {type(workflow).__name__}")
        with self._lock:
            self._workflows.setdefault(workflow.name, {})[workflow.version] = workflow
        return workflow

    def get(self, name: str, version: int | None = None) -> Workflow:
        versions = self._workflows.get(name)
        if not versions:
            known = ", ".join(sorted(self._workflows)) or "none"
            raise WorkflowError(
                f"workflow {name!r} is not registered (registered: {known}); "
                "call register_workflow() in the module that defines it",
                workflow=name,
            )
        if version is None:
            return versions[max(versions)]
        try:
            return versions[version]
        except KeyError:
            raise WorkflowError(
                f"workflow {name!r} version {version} is not registered (registered "
                f"versions: {', '.join(map(str, sorted(versions)))})",
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


def get_workflow(name: str, version: int | None = None) -> Workflow:
    """The workflow registered as ``name`` (its highest version unless ``version`` is
    given); raises ``WorkflowError`` naming the known ones."""
    return default_workflow_registry.get(name, version)


def list_workflows() -> list[str]:
    return default_workflow_registry.names()
