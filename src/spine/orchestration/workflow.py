"""``Workflow``: a named list of steps, validated when it is built."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from spine.core.errors import WorkflowValidationError
from spine.core.fields import unstorable, unstorable_int
from spine.core.status import WorkflowStatus
from spine.orchestration.moments import until_problem
from spine.orchestration.retry import DELAY_LIMIT_SECONDS, RetryPolicy, is_delay
from spine.orchestration.step_types import ErrorPolicy, Step, StepType


class Workflow:
    """A named sequence of steps.

    Steps run in list order, except where a choice jumps, a step's ``next`` names
    another step, or a step's result names a ``next_step``. Construction checks the
    whole definition and raises :class:`WorkflowValidationError` listing every
    problem. Pipeline names are resolved when their step runs, so a workflow can be
    defined before its pipelines are registered.
    """

    def __init__(
        self,
        name: str,
        steps: Sequence[Step],
        domain: str = "",
        description: str = "",
        version: int = 1,
        defaults: Mapping[str, Any] | None = None,
        tags: Sequence[str] | None = None,
        *,
        max_concurrent_runs: int | None = None,
        alert_on: Iterable[str] | None = None,
        recovery_limit: int | None = None,
        timeout_seconds: float | None = None,
    ) -> None:
        self.name = name
        self.steps = list(steps)
        self.domain = domain
        self.description = description
        self.version = version
        self.defaults: dict[str, Any] = dict(defaults or {})
        self.tags: list[str] = list(tags or [])
        self.max_concurrent_runs = max_concurrent_runs
        """At most this many submitted runs of the workflow execute at once, across all
        workers (``None``: no limit)."""
        self.recovery_limit = recovery_limit
        """A run whose process died this many times in a row at the same step ends
        ``FAILED`` (``None``: the runner's ``recovery_limit``, 5 by default)."""
        self.timeout_seconds = timeout_seconds
        """A run still going this long after it started ends ``FAILED`` with category
        ``TIMEOUT`` (``None``: no limit). A resumed run counts from its first start."""
        try:
            self.alert_on: frozenset[str] | None = alert_statuses(alert_on)
        except ValueError as exc:
            raise WorkflowValidationError(f"workflow {name!r}: {exc}", workflow=name) from None
        """Run statuses that send an alert (``None``: the runner's ``alert_on``)."""
        self.validate()

    def validate(self) -> None:
        """Raise :class:`WorkflowValidationError` naming every problem of the definition."""
        problems = validation_problems(self)
        if not problems:
            return
        label = f"workflow {self.name!r}"
        first_step = problems[0][0]
        if len(problems) == 1:
            step, text = problems[0]
            where = f"{label}, step {step!r}" if step is not None else label
            message = f"{where}: {text}"
        else:
            lines = [
                f"  - step {step!r}: {text}" if step is not None else f"  - {text}"
                for step, text in problems
            ]
            message = f"{label} has {len(problems)} problems:\n" + "\n".join(lines)
        raise WorkflowValidationError(
            message,
            workflow=self.name,
            step=first_step,
            problems=[text for _, text in problems],
        )

    # -- lookups -------------------------------------------------------------

    def get_step(self, name: str) -> Step | None:
        for step in self.steps:
            if step.name == name:
                return step
        return None

    def step_names(self) -> list[str]:
        return [s.name for s in self.steps]

    def step_index(self, name: str) -> int:
        """Position of the step called ``name``, or -1."""
        for i, step in enumerate(self.steps):
            if step.name == name:
                return i
        return -1

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "version": self.version,
            "steps": [s.to_dict() for s in self.steps],
        }
        for key in ("domain", "description", "defaults", "tags", "timeout_seconds"):
            value = getattr(self, key)
            if value:
                data[key] = value
        return data

    def __repr__(self) -> str:
        return f"Workflow({self.name!r}, steps={self.step_names()!r})"


def _step_problems(step: Step, known: set[str]) -> list[str]:
    problems: list[str] = []

    def target(field: str, value: str | None) -> None:
        if value is not None and value not in known:
            problems.append(f"{field}={value!r} names no step of this workflow")

    if not isinstance(step.on_error, ErrorPolicy):
        problems.append(f"on_error must be an ErrorPolicy, got {step.on_error!r}")
    if step.retry is not None and not isinstance(step.retry, RetryPolicy):
        problems.append(f"retry must be a RetryPolicy, got {type(step.retry).__name__}")
    target("next", step.next)
    kind = step.step_type
    if step.timeout_seconds is not None:
        if kind is StepType.WAIT and step.signal_name is None:
            problems.append("timeout_seconds does not apply to a wait step (its duration does)")
        elif problem := timeout_problem(step.timeout_seconds):
            problems.append(problem)
    if kind is StepType.LAMBDA:
        if not callable(step.handler):
            problems.append(f"handler must be callable, got {type(step.handler).__name__}")
    elif kind is StepType.PIPELINE:
        if not isinstance(step.pipeline_name, str) or not step.pipeline_name.strip():
            problems.append(f"pipeline_name must be a non-empty string, got {step.pipeline_name!r}")
    elif kind is StepType.CHOICE:
        if not callable(step.condition):
            problems.append(f"condition must be callable, got {type(step.condition).__name__}")
        if step.then_step is None:
            problems.append("then_step is required")
        target("then_step", step.then_step)
        target("else_step", step.else_step)
    elif kind is StepType.WAIT:
        problems.extend(_wait_problems(step))
    elif kind is StepType.MAP:
        problems.extend(_map_problems(step))
    else:
        problems.append(f"step_type must be a StepType, got {kind!r}")
    return problems


def _wait_problems(step: Step) -> list[str]:
    duration = step.duration_seconds
    if step.signal_name is not None:
        if not isinstance(step.signal_name, str) or not step.signal_name.strip():
            return [f"signal_name must be a non-empty string, got {step.signal_name!r}"]
        if step.retry is not None or step.on_error is ErrorPolicy.RETRY:
            # Waiting again is what a longer timeout_seconds is for.
            return ["a signal step takes no retry: give it a longer timeout_seconds instead"]
    elif step.until is not None:
        if problem := until_problem(step.until, duration):
            return [problem]
    elif not is_delay(duration):
        return [
            f"duration_seconds must be a number of seconds from 0 to {DELAY_LIMIT_SECONDS} "
            f"(366 days), got {duration!r}"
        ]
    return []


def _map_problems(step: Step) -> list[str]:
    problems: list[str] = []
    if not isinstance(step.iterator_workflow, Workflow):
        problems.append(
            f"iterator_workflow must be a Workflow, got {type(step.iterator_workflow).__name__}"
        )
    elif awaiting := [s.name for s in step.iterator_workflow.steps if s.signal_name]:
        # An item may run in another process, where no signal can reach it.
        problems.append(
            f"iterator_workflow {step.iterator_workflow.name!r} awaits a signal (steps "
            f"{', '.join(map(repr, awaiting))}): map items take no signals; await it "
            "in the run itself"
        )
    if not isinstance(step.items_path, str) or not step.items_path.strip():
        problems.append(f"items_path must be a non-empty string, got {step.items_path!r}")
    concurrency = step.max_concurrency
    if not isinstance(concurrency, int) or isinstance(concurrency, bool) or concurrency < 1:
        problems.append(f"max_concurrency must be an integer >= 1, got {concurrency!r}")
    return problems


def timeout_problem(seconds: object) -> str | None:
    """What is wrong with a ``timeout_seconds`` value, if anything (``None`` is no limit)."""
    if seconds is None:
        return None
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, int | float)
        or not math.isfinite(seconds)
        or seconds <= 0
    ):
        return f"timeout_seconds must be a positive finite number of seconds, got {seconds!r}"
    if seconds > threading.TIMEOUT_MAX:  # what a wait can be given at all
        return f"timeout_seconds must be at most {threading.TIMEOUT_MAX:.0f}, got {seconds!r}"
    return None


ALERTABLE = tuple(
    str(s)
    for s in (
        WorkflowStatus.FAILED,
        WorkflowStatus.PARTIAL,
        WorkflowStatus.CANCELLED,
        WorkflowStatus.COMPLETED,
    )
)
"""The run statuses ``alert_on`` may name."""


def alert_statuses(alert_on: Iterable[str] | str | None) -> frozenset[str] | None:
    """``alert_on`` as upper-case statuses; a ``ValueError`` names any other value."""
    if alert_on is None:
        return None
    chosen = [alert_on] if isinstance(alert_on, str) else list(alert_on)
    statuses = frozenset(str(s).upper() for s in chosen)
    unknown = sorted(statuses.difference(ALERTABLE))
    if unknown:
        raise ValueError(
            f"alert_on: {', '.join(unknown)} is not a run status to alert on; "
            f"choose from {', '.join(ALERTABLE)}"
        )
    return statuses


def validation_problems(workflow: Workflow) -> list[tuple[str | None, str]]:
    """Every problem of ``workflow``'s definition, as (step name or None, text)."""
    problems: list[tuple[str | None, str]] = []
    if not isinstance(workflow.name, str) or not workflow.name.strip():
        problems.append((None, f"name must be a non-empty string, got {workflow.name!r}"))
    elif reason := unstorable(workflow.name):
        problems.append((None, f"name {workflow.name!r} {reason}"))
    if why := unstorable_int(getattr(workflow, "version", 1)):
        problems.append((None, f"version {why}"))
    limit = getattr(workflow, "recovery_limit", None)
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        problems.append((None, f"recovery_limit must be an integer >= 1, got {limit!r}"))
    cap = getattr(workflow, "max_concurrent_runs", None)
    if cap is not None and (not isinstance(cap, int) or isinstance(cap, bool) or cap < 1):
        problems.append((None, f"max_concurrent_runs must be an integer >= 1, got {cap!r}"))
    if problem := timeout_problem(getattr(workflow, "timeout_seconds", None)):
        problems.append((None, problem))
    seen: set[str] = set()
    for position, step in enumerate(workflow.steps):
        if not isinstance(step, Step):
            problems.append((None, f"steps[{position}] is a {type(step).__name__}, not a Step"))
            continue
        if not isinstance(step.name, str) or not step.name.strip():
            problems.append(
                (None, f"steps[{position}].name must be a non-empty string, got {step.name!r}")
            )
        elif reason := unstorable(step.name):
            problems.append((None, f"steps[{position}].name {step.name!r} {reason}"))
        elif step.name in seen:
            problems.append((step.name, f"Duplicate step name: {step.name!r}"))
        seen.add(step.name)
    for step in workflow.steps:
        if isinstance(step, Step):
            problems.extend((step.name, text) for text in _step_problems(step, seen))
    return problems
