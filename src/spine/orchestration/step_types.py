"""Steps: the building blocks of a workflow, created with the ``Step.*`` factories."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from spine.orchestration.retry import RetryPolicy

if TYPE_CHECKING:
    from spine.orchestration.workflow import Workflow
    from spine.orchestration.workflow_context import WorkflowContext


class StepType(StrEnum):
    LAMBDA = "lambda"
    PIPELINE = "pipeline"
    CHOICE = "choice"
    WAIT = "wait"
    MAP = "map"


class ErrorPolicy(StrEnum):
    """What a step's failure does to the run.

    ``STOP`` ends the run ``FAILED``; ``CONTINUE`` goes on (the run ends ``PARTIAL``);
    ``RETRY`` retries with the step's ``retry`` policy (or a default
    ``RetryPolicy()``) and then stops.
    """

    STOP = "stop"
    CONTINUE = "continue"
    RETRY = "retry"


_POLICIES = {p.value for p in ErrorPolicy}
_TYPES = {t.value for t in StepType}

Handler = Callable[["WorkflowContext", dict[str, Any]], Any]
Condition = Callable[["WorkflowContext"], Any]


@dataclass(eq=False)
class Step:
    """One step of a workflow. Build steps with ``Step.lambda_``, ``Step.pipeline``,
    ``Step.choice``, ``Step.wait`` and ``Step.map``."""

    name: str
    step_type: StepType
    config: dict[str, Any] = field(default_factory=dict)
    on_error: ErrorPolicy = ErrorPolicy.STOP
    retry: RetryPolicy | None = None
    next: str | None = None
    handler: Handler | None = None
    pipeline_name: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    condition: Condition | None = None
    then_step: str | None = None
    else_step: str | None = None
    duration_seconds: float | None = None
    items_path: str | None = None
    iterator_workflow: Workflow | None = None
    max_concurrency: int = 4
    item_param: str = "item"
    timeout_seconds: float | None = None
    """An attempt that runs longer fails with category ``TIMEOUT`` (``None``: no limit)."""
    until: datetime | str | None = None
    """A wait step's end as a moment (see :mod:`spine.orchestration.moments`)."""
    signal_name: str | None = None
    """The signal an ``await_signal`` step waits for (its ``timeout_seconds`` limits
    the wait)."""

    def __post_init__(self) -> None:
        # "continue" and ErrorPolicy.CONTINUE are the same value: accept both.
        if isinstance(self.on_error, str) and self.on_error in _POLICIES:
            self.on_error = ErrorPolicy(self.on_error)
        if isinstance(self.step_type, str) and self.step_type in _TYPES:
            self.step_type = StepType(self.step_type)

    @property
    def retry_policy(self) -> RetryPolicy | None:
        """spine-core's name for :attr:`retry`."""
        return self.retry

    @classmethod
    def lambda_(
        cls,
        name: str,
        handler: Handler,
        config: Mapping[str, Any] | None = None,
        on_error: ErrorPolicy = ErrorPolicy.STOP,
        retry: RetryPolicy | None = None,
        next: str | None = None,
        *,
        timeout_seconds: float | None = None,
    ) -> Step:
        """A step that calls ``handler(ctx, config)``; it returns a ``StepResult``,
        a dict (its output) or ``None``, and may be ``async def``."""
        return cls(
            name,
            StepType.LAMBDA,
            config=dict(config or {}),
            on_error=on_error,
            retry=retry,
            next=next,
            handler=handler,
            timeout_seconds=timeout_seconds,
        )

    @classmethod
    def pipeline(
        cls,
        name: str,
        pipeline_name: str,
        params: Mapping[str, Any] | None = None,
        on_error: ErrorPolicy = ErrorPolicy.STOP,
        retry: RetryPolicy | None = None,
        next: str | None = None,
        *,
        timeout_seconds: float | None = None,
    ) -> Step:
        """A step that runs the registered pipeline ``pipeline_name`` with
        ``{**ctx.params, **params}``."""
        step_params = dict(params or {})
        return cls(
            name,
            StepType.PIPELINE,
            config=step_params,
            on_error=on_error,
            retry=retry,
            next=next,
            pipeline_name=pipeline_name,
            params=step_params,
            timeout_seconds=timeout_seconds,
        )

    @classmethod
    def choice(
        cls,
        name: str,
        condition: Condition,
        then_step: str,
        else_step: str | None = None,
        on_error: ErrorPolicy = ErrorPolicy.STOP,
        retry: RetryPolicy | None = None,
        next: str | None = None,
        *,
        timeout_seconds: float | None = None,
    ) -> Step:
        """Jump to ``then_step`` when ``condition(ctx)`` is true, else to ``else_step``
        (or, without one, continue with the next step in the list)."""
        return cls(
            name,
            StepType.CHOICE,
            on_error=on_error,
            retry=retry,
            next=next,
            condition=condition,
            then_step=then_step,
            else_step=else_step,
            timeout_seconds=timeout_seconds,
        )

    @classmethod
    def wait(
        cls,
        name: str,
        duration_seconds: float | None = None,
        on_error: ErrorPolicy = ErrorPolicy.STOP,
        retry: RetryPolicy | None = None,
        next: str | None = None,
        *,
        next_step: str | None = None,
        until: datetime | str | None = None,
    ) -> Step:
        """Pause the run for ``duration_seconds``, or until the moment ``until``: an
        aware ``datetime``, ISO-8601 text with an offset, or a path (``"params.deadline"``,
        ``"outputs.step.key"``) to one, resolved when the step starts."""
        return cls(
            name,
            StepType.WAIT,
            on_error=on_error,
            retry=retry,
            next=next if next is not None else next_step,
            duration_seconds=duration_seconds,
            until=until,
        )

    @classmethod
    def await_signal(
        cls,
        name: str,
        signal_name: str,
        timeout_seconds: float | None = None,
        on_error: ErrorPolicy = ErrorPolicy.STOP,
        next: str | None = None,
    ) -> Step:
        """Wait, durably, until the signal ``signal_name`` is sent to the run
        (``WorkflowRunner.signal``, ``spine signal``, the web API); its payload is the
        step's output. A signal sent earlier is kept for the step; after
        ``timeout_seconds`` without one the step fails with category ``TIMEOUT``.
        Needs a runner with history."""
        return cls(
            name,
            StepType.WAIT,
            on_error=on_error,
            next=next,
            signal_name=signal_name,
            timeout_seconds=timeout_seconds,
        )

    @classmethod
    def map(
        cls,
        name: str,
        items_path: str,
        iterator_workflow: Workflow,
        max_concurrency: int = 4,
        on_error: ErrorPolicy = ErrorPolicy.STOP,
        retry: RetryPolicy | None = None,
        next: str | None = None,
        *,
        item_param: str = "item",
        timeout_seconds: float | None = None,
    ) -> Step:
        """Run ``iterator_workflow`` once per item of the list at ``items_path``,
        at most ``max_concurrency`` at a time. ``timeout_seconds`` limits the whole
        map step (every item), not each item."""
        return cls(
            name,
            StepType.MAP,
            config={"item_param": item_param},
            on_error=on_error,
            retry=retry,
            next=next,
            items_path=items_path,
            iterator_workflow=iterator_workflow,
            max_concurrency=max_concurrency,
            item_param=item_param,
            timeout_seconds=timeout_seconds,
        )

    def to_dict(self) -> dict[str, Any]:
        """A plain description of the step (callables by ``module:qualname`` reference)."""
        data: dict[str, Any] = {"name": self.name, "type": self.step_type.value}
        if self.config:
            data["config"] = dict(self.config)
        if self.on_error is not ErrorPolicy.STOP:
            data["on_error"] = self.on_error.value
        if self.next is not None:
            data["next"] = self.next
        if self.timeout_seconds is not None:
            data["timeout_seconds"] = self.timeout_seconds
        if self.step_type is StepType.PIPELINE:
            data["pipeline"] = self.pipeline_name
        elif self.step_type is StepType.LAMBDA:
            ref = callable_ref(self.handler)
            if ref:
                data["handler_ref"] = ref
        elif self.step_type is StepType.CHOICE:
            data["then_step"] = self.then_step
            data["else_step"] = self.else_step
            ref = callable_ref(self.condition)
            if ref:
                data["condition_ref"] = ref
        elif self.step_type is StepType.WAIT:
            if self.signal_name is not None:
                data["signal_name"] = self.signal_name
            elif self.until is None:
                data["duration_seconds"] = self.duration_seconds
            else:
                until = self.until
                data["until"] = until.isoformat() if isinstance(until, datetime) else until
        elif self.step_type is StepType.MAP:
            data["items_path"] = self.items_path
            data["max_concurrency"] = self.max_concurrency
        return data

    def __repr__(self) -> str:
        if self.step_type is StepType.LAMBDA:
            handler = getattr(self.handler, "__name__", repr(self.handler))
            return f"Step.lambda_({self.name!r}, {handler})"
        if self.step_type is StepType.PIPELINE:
            return f"Step.pipeline({self.name!r}, {self.pipeline_name!r})"
        if self.step_type is StepType.CHOICE:
            branches = f"then={self.then_step!r}"
            if self.else_step is not None:
                branches += f", else={self.else_step!r}"
            return f"Step.choice({self.name!r}, {branches})"
        return f"Step({self.name!r}, type={self.step_type.value})"


def callable_ref(fn: object) -> str | None:
    """``"module:qualname"`` for an importable function; ``None`` for lambdas and locals."""
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None)
    if not module or not qualname or "<" in qualname:
        return None
    return f"{module}:{qualname}"
