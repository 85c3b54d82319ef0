"""The pipeline registry: names to pipeline functions or ``Pipeline`` classes.

``@pipeline("name")`` registers in the process-wide default registry, which is what
``Dispatcher()`` and ``WorkflowRunner()`` use unless given another one. Tests and
embedding applications can build their own :class:`PipelineRegistry`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar, overload

from spine.core.errors import PipelineNotFoundError
from spine.framework.pipelines import Pipeline

PipelineTarget = Callable[..., Any] | type[Pipeline]
F = TypeVar("F", bound=PipelineTarget)


def _qualified_name(target: object) -> str:
    return f"{getattr(target, '__module__', '?')}.{getattr(target, '__qualname__', repr(target))}"


def _same_definition(a: object, b: object) -> bool:
    # A re-run module defines new function objects with the same qualified name;
    # lambdas and local functions all share "<lambda>"/"<locals>" names, so for
    # them only the very same object counts.
    if a is b:
        return True
    name = _qualified_name(a)
    return "<" not in name and name == _qualified_name(b)


class PipelineRegistry:
    """A thread-safe map from pipeline name to its function or ``Pipeline`` class."""

    def __init__(self) -> None:
        self._pipelines: dict[str, PipelineTarget] = {}
        self._lock = threading.Lock()

    def register(self, name: str, target: PipelineTarget) -> PipelineTarget:
        """Register ``target`` under ``name`` and return it.

        Registering the same function again (for instance when a module or a
        notebook cell is re-run) replaces the old entry; registering a different
        function under a taken name is refused.
        """
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"pipeline name must be a non-empty string, got {name!r}")
        if isinstance(target, type):
            if not issubclass(target, Pipeline):
                raise TypeError(
                    f"pipeline {name!r}: a class must subclass spine.framework.Pipeline, "
                    f"got {target.__qualname__}"
                )
        elif not callable(target):
            raise TypeError(f"pipeline {name!r}: expected a function or Pipeline subclass")
        with self._lock:
            existing = self._pipelines.get(name)
            if existing is not None and not _same_definition(existing, target):
                raise ValueError(
                    f"pipeline {name!r} is already registered to {_qualified_name(existing)}; "
                    "choose another name or call unregister() first"
                )
            self._pipelines[name] = target
        return target

    def unregister(self, name: str) -> None:
        with self._lock:
            self._pipelines.pop(name, None)

    def get(self, name: str) -> PipelineTarget:
        """The pipeline registered as ``name``; raises :class:`PipelineNotFoundError`."""
        try:
            return self._pipelines[name]
        except KeyError:
            raise PipelineNotFoundError(name, known=self._pipelines) from None

    def names(self) -> list[str]:
        return sorted(self._pipelines)

    def clear(self) -> None:
        with self._lock:
            self._pipelines.clear()

    def __contains__(self, name: object) -> bool:
        return name in self._pipelines

    def __len__(self) -> int:
        return len(self._pipelines)


default_registry = PipelineRegistry()


@overload
def pipeline(name: F, /) -> F: ...
@overload
def pipeline(name: str | None = None, /) -> Callable[[F], F]: ...
def pipeline(name: str | F | None = None, /) -> F | Callable[[F], F]:
    """Register a function ``fn(params) -> dict`` or a ``Pipeline`` subclass.

    ``@pipeline("finra.otc.ingest_week")`` names it; a bare ``@pipeline`` uses the
    class's ``name`` attribute or the function's name.
    """
    if name is not None and not isinstance(name, str):
        return _register_default(None, name)

    def decorate(target: F) -> F:
        return _register_default(name, target)

    return decorate


def _register_default(name: str | None, target: F) -> F:
    if name is None:
        name = getattr(target, "name", "") or getattr(target, "__name__", "")
    default_registry.register(name, target)
    return target


@overload
def register_pipeline(name: str, target: F, /) -> F: ...
@overload
def register_pipeline(name: str, /) -> Callable[[F], F]: ...
def register_pipeline(name: str, target: F | None = None, /) -> F | Callable[[F], F]:
    """``register_pipeline(name)(target)`` or ``register_pipeline(name, target)``."""
    if target is not None:
        return _register_default(name, target)

    def decorate(t: F) -> F:
        return _register_default(name, t)

    return decorate


def get_pipeline(name: str) -> PipelineTarget:
    """The pipeline registered as ``name`` in the default registry."""
    return default_registry.get(name)


def list_pipelines() -> list[str]:
    """Names in the default registry, sorted."""
    return default_registry.names()


def clear_registry() -> None:
    """Empty the default registry (for tests)."""
    default_registry.clear()
