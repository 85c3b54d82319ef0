"""The group registry: names to pipeline groups.

Registering a group also registers it as a pipeline of the same name (unless
``as_pipeline=False``), so a workflow can run it as one ``Step.pipeline`` step. Its
members are looked up in that same pipeline registry when it runs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from spine.core.errors import GroupNotFoundError, GroupValidationError
from spine.framework.dispatcher import Dispatcher
from spine.framework.groups.group import PipelineGroup
from spine.framework.groups.plan import check_plannable
from spine.framework.groups.runner import GroupPipeline, GroupRunner
from spine.framework.registry import PipelineRegistry, default_registry


class GroupRegistry:
    """A thread-safe map from group name to :class:`PipelineGroup`.

    Args:
        pipelines: the pipeline registry in which groups are also registered as
            pipelines, and in which their members are looked up when run that way.
    """

    def __init__(self, pipelines: PipelineRegistry | None = None) -> None:
        self.pipelines = pipelines if pipelines is not None else default_registry
        self._groups: dict[str, PipelineGroup] = {}
        self._adapters: dict[str, GroupPipeline] = {}
        self._lock = threading.Lock()

    def register(self, group: PipelineGroup, *, as_pipeline: bool = True) -> PipelineGroup:
        """Register ``group`` under its name and return it.

        Registering an equal group again (a re-run module, a YAML file loaded twice)
        replaces it; a different group under a taken name is refused, as is a group
        whose name a pipeline that is not this group already has. A group whose
        dependencies are unknown or cyclic is refused with the
        :class:`~spine.core.errors.PlanResolutionError` planning it would raise.
        """
        if not isinstance(group, PipelineGroup):
            raise TypeError(f"expected a PipelineGroup, got {type(group).__name__}")
        check_plannable(group)
        name = group.name
        with self._lock:
            existing = self._groups.get(name)
            if existing is not None and existing != group:
                raise GroupValidationError(
                    f"pipeline group {name!r} is already registered with a different "
                    "definition; choose another name or call unregister_group() first",
                    group=name,
                )
            if as_pipeline:
                self._register_pipeline(group)
            elif name in self._adapters:
                self._drop_pipeline(name)
            self._groups[name] = group
        return group

    def _register_pipeline(self, group: PipelineGroup) -> None:
        name = group.name
        if name in self.pipelines and name not in self._adapters:
            raise GroupValidationError(
                f"pipeline group {name!r} cannot be registered as a pipeline: a pipeline "
                "named so is already registered; rename the group or pass as_pipeline=False",
                group=name,
            )
        adapter = GroupPipeline(group, GroupRunner(Dispatcher(self.pipelines)))
        self._drop_pipeline(name)
        self.pipelines.register(name, adapter)
        self._adapters[name] = adapter

    def _drop_pipeline(self, name: str) -> None:
        adapter = self._adapters.pop(name, None)
        # Only the entry this registry made: a pipeline registered since stays.
        if adapter is not None and name in self.pipelines and self.pipelines.get(name) is adapter:
            self.pipelines.unregister(name)

    def unregister(self, name: str) -> None:
        """Forget the group (and its pipeline entry); unknown names are ignored."""
        with self._lock:
            self._groups.pop(name, None)
            self._drop_pipeline(name)

    def get(self, name: str) -> PipelineGroup:
        """The group registered as ``name``; raises :class:`GroupNotFoundError`."""
        try:
            return self._groups[name]
        except KeyError:
            raise GroupNotFoundError(name, known=self._groups) from None

    def names(self, domain: str | None = None) -> list[str]:
        """Registered names, sorted; only those of ``domain`` when given."""
        groups = list(self._groups.values())
        return sorted(g.name for g in groups if domain is None or g.domain == domain)

    def clear(self) -> None:
        with self._lock:
            for name in list(self._adapters):
                self._drop_pipeline(name)
            self._groups.clear()

    def __contains__(self, name: object) -> bool:
        return name in self._groups

    def __len__(self) -> int:
        return len(self._groups)


default_group_registry = GroupRegistry()
"""The registry of ``register_group``; its groups are pipelines of the default registry."""


def register_group(
    group: PipelineGroup | Callable[[], PipelineGroup], /, *, as_pipeline: bool = True
) -> PipelineGroup:
    """Register a group in the default registry and return it.

    Also usable as a decorator on a function that builds the group (the name then
    refers to the group). With ``as_pipeline`` (the default) the group is also the
    pipeline of its name, so ``Step.pipeline(step, group.name)`` runs it.
    """
    if not isinstance(group, PipelineGroup) and callable(group):
        group = group()
    return default_group_registry.register(group, as_pipeline=as_pipeline)


def get_group(name: str) -> PipelineGroup:
    """The group registered as ``name``; raises :class:`GroupNotFoundError`."""
    return default_group_registry.get(name)


def list_groups(domain: str | None = None) -> list[str]:
    """Registered group names, sorted (only those of ``domain`` when given)."""
    return default_group_registry.names(domain)


def group_exists(name: str) -> bool:
    return name in default_group_registry


def unregister_group(name: str) -> None:
    default_group_registry.unregister(name)


def clear_group_registry() -> None:
    """Empty the default group registry and drop its pipeline entries (for tests)."""
    default_group_registry.clear()
