"""``RunSettings``: how a runner runs workflows, shared by its parts.

The runner's public attributes read and write these, so a runner reconfigured after
it was built (``runner.dry_run = True``) behaves as configured: each change bumps
:attr:`RunSettings.version`, and the services built from the old values are
rebuilt.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from spine.execution.capture import DEFAULT_LIMIT

if TYPE_CHECKING:
    from spine.core.clock import Clock
    from spine.execution.executors import Executor
    from spine.execution.runnable import Runnable
    from spine.framework.alerts import AlertRegistry
    from spine.framework.dispatcher import Dispatcher
    from spine.orchestration.engine.services import StepCallback
    from spine.orchestration.registry import WorkflowRegistry


@dataclass(slots=True)
class RunSettings:
    clock: Clock
    dispatcher: Dispatcher
    executor: Executor
    workflows: WorkflowRegistry
    foreign_runnable: Runnable | None = None
    dry_run: bool = False
    max_steps: int = 10_000
    lease_seconds: float = 30.0
    block_on_waits: bool = True
    on_step: StepCallback | None = None
    source: str | None = None
    """Recorded with each run started: where its workflow was loaded from."""
    alert_on: frozenset[str] | None = None
    ui_url: str | None = None
    alerts: AlertRegistry | None = None
    recovery_limit: int = 5
    """A run whose owner died this many times in a row at the same step ends FAILED."""
    log_limit_bytes: int = DEFAULT_LIMIT
    """Bytes of text each step attempt's log keeps; lines past it are cut (and marked)."""
    tracing: bool = True
    """Emit spans and metrics to the OpenTelemetry providers configured, if any."""
    version: int = field(default=0)
    """Bumped by every change made through a runner's attributes."""


T = TypeVar("T")


class Setting(Generic[T]):
    """A runner attribute kept in its :class:`RunSettings` (``_settings``)."""

    __slots__ = ("convert", "name")

    def __init__(self, convert: Callable[[Any], T] | None = None) -> None:
        self.convert = convert
        """Checks (and normalises) a value set after construction, as ``__init__`` does."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> Setting[T]: ...

    @overload
    def __get__(self, instance: object, owner: type | None = None) -> T: ...

    def __get__(self, instance: object, owner: type | None = None) -> T | Setting[T]:
        if instance is None:
            return self
        value: T = getattr(instance._settings, self.name)  # type: ignore[attr-defined]
        return value

    def __set__(self, instance: Any, value: Any) -> None:
        settings = instance._settings
        setattr(settings, self.name, value if self.convert is None else self.convert(value))
        settings.version += 1
