"""OpenTelemetry spans and metrics of a runner's runs (the ``[otel]`` extra).

A runner with ``tracing=True`` (the default) emits to the tracer and meter providers
configured in its process, whoever configured them and whenever (it looks again each
second), and does nothing while neither is set (the API's default proxies): a process
without an OpenTelemetry SDK pays nothing per step.

Spans: one per run execution (``run <workflow>``) and one per step attempt
(``step <step>``) inside it; a map item's run inside its map step's attempt. Items
run in other processes are recorded from their rows when they come back, with the
times the worker measured (see :meth:`Tracing.items_done`). Metrics: runs started,
completed, failed and cancelled, by workflow; step attempt durations; the depth of
the run queue of every database a runner with tracing has opened.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol

from spine.core.status import StepStatus, WorkflowStatus
from spine.orchestration.engine.services import Cancelled, Suspended

if TYPE_CHECKING:
    from opentelemetry.metrics import CallbackOptions, Meter, MeterProvider, Observation
    from opentelemetry.trace import Span, Tracer

    from spine.core.records import ItemRecord, StepRecord
    from spine.orchestration.engine.attempt import Performed
    from spine.orchestration.history import HistoryStore
    from spine.orchestration.results import WorkflowResult
    from spine.orchestration.step_result import StepResult
    from spine.orchestration.step_types import Step

SCOPE = "spine.orchestration"
"""The instrumentation scope of spine's spans and metrics."""

WORKFLOW, RUN_ID, STEP, ATTEMPT = "spine.workflow", "spine.run_id", "spine.step", "spine.attempt"
STATUS, CATEGORY = "spine.status", "spine.error_category"
STEP_TYPE = "spine.step_type"

_ENDED_AS: dict[str, str] = {
    WorkflowStatus.COMPLETED: "completed",
    WorkflowStatus.FAILED: "failed",
    WorkflowStatus.PARTIAL: "failed",
    WorkflowStatus.CANCELLED: "cancelled",
}
"""Which counter a run's end adds to (``WAITING`` and ``RUNNING``: not ended here)."""

_QUEUES: weakref.WeakSet[Queued] = weakref.WeakSet()
"""The runners whose run queue depth ``spine.queue.depth`` reports (while open)."""
_GAUGED: weakref.WeakKeyDictionary[MeterProvider, object] = weakref.WeakKeyDictionary()
"""The meter providers given the queue depth gauge (once each: one callback reads all)."""


@cache
def tracing_available() -> bool:
    """Whether the OpenTelemetry API is installed (the ``[otel]`` extra)."""
    from importlib.util import find_spec

    try:
        return find_spec("opentelemetry.trace") is not None
    except ModuleNotFoundError:  # no ``opentelemetry`` package at all
        return False


class Queued(Protocol):
    """A runner's runs, as the queue depth gauge sees them."""

    store: HistoryStore | None
    closed: threading.Event


def watch_queue(runs: Queued) -> None:
    """Report the depth of the run queue in ``runs``'s store until its runner closes."""
    _QUEUES.add(runs)


LOOK_AGAIN_SECONDS = 1.0
"""How long a runner goes on with the providers it found before it looks again (a
look costs more than a short run's step: twice the API's environment lookups)."""


class Telemetry:
    """A runner's way to the providers configured in its process, looked up again at
    most every :data:`LOOK_AGAIN_SECONDS`."""

    def __init__(self) -> None:
        from opentelemetry import metrics, trace

        self._trace, self._metrics = trace, metrics
        self._seen: tuple[object, object, Tracing | None] = (None, None, None)
        self._until = 0.0

    def current(self) -> Tracing | None:
        """What the providers configured now record (``None``: nothing is configured)."""
        now = time.monotonic()
        if now < self._until:
            return self._seen[2]
        self._until = now + LOOK_AGAIN_SECONDS
        tracer_provider = self._trace.get_tracer_provider()
        meter_provider = self._metrics.get_meter_provider()
        seen = self._seen
        if seen[0] is tracer_provider and seen[1] is meter_provider:
            return seen[2]
        tracer = tracer_provider.get_tracer(SCOPE) if _configured(tracer_provider) else None
        meter = meter_provider.get_meter(SCOPE) if _configured(meter_provider) else None
        tracing = None if tracer is None and meter is None else Tracing(tracer, meter)
        if meter is not None:
            _gauge_queues(meter_provider, meter)
        self._seen = (tracer_provider, meter_provider, tracing)
        return tracing


def _configured(provider: object) -> bool:
    """Whether ``provider`` records anything: not the API's default proxy (no SDK was
    set up) nor a no-op one."""
    name = type(provider).__name__
    return not (name.startswith(("NoOp", "_NoOp")) or "Proxy" in name)


def _gauge_queues(provider: MeterProvider, meter: Meter) -> None:
    if provider not in _GAUGED:
        _GAUGED[provider] = meter.create_observable_gauge(
            "spine.queue.depth",
            callbacks=[_queue_depths],
            unit="{run}",
            description="Runs waiting in the run queue (PENDING), by workflow",
        )


def _queue_depths(options: CallbackOptions) -> Iterable[Observation]:
    from opentelemetry.metrics import Observation

    for runs in list(_QUEUES):
        store = runs.store
        if store is None or runs.closed.is_set():
            continue
        try:
            depths = store.queue_depth()
        except Exception:  # an unreachable database: nothing to report for it now
            continue
        for workflow, count in depths.items():
            yield Observation(count, {WORKFLOW: workflow})


class Tracing:
    """The tracer (``None``: no tracer provider is configured) and the instruments
    (``None``: no meter provider) that runs record into."""

    __slots__ = ("_durations", "_ended", "_started", "tracer")

    def __init__(self, tracer: Tracer | None, meter: Meter | None) -> None:
        self.tracer = tracer
        self._started = self._durations = None
        self._ended: dict[str, Any] = {}
        if meter is not None:
            self._started = meter.create_counter(
                "spine.runs.started", unit="{run}", description="Runs that began their first step"
            )
            self._ended = {
                kind: meter.create_counter(
                    f"spine.runs.{kind}", unit="{run}", description=f"Runs that ended {kind}"
                )
                for kind in ("completed", "failed", "cancelled")
            }
            self._durations = meter.create_histogram(
                "spine.step.duration", unit="s", description="Duration of step attempts"
            )

    # -- live ------------------------------------------------------------------------

    def run(
        self,
        call: Callable[[], WorkflowResult],
        workflow_name: str,
        run_id: str,
        new: bool,
    ) -> WorkflowResult:
        """``call()`` (one execution of a run) inside the run's span, counted (``new``:
        it begins at the run's first step)."""
        if new:
            self._started_count(workflow_name)
        tracer = self.tracer
        if tracer is None:
            result = call()
        else:
            attributes = {WORKFLOW: workflow_name, RUN_ID: run_id}
            with tracer.start_as_current_span(
                f"run {workflow_name}", attributes=attributes
            ) as span:
                result = call()
                _end_run(span, result.status, result.error_category, result.error)
        self._count_end(workflow_name, result.status)
        return result

    def attempt(
        self,
        call: Callable[[], Performed],
        workflow_name: str,
        run_id: str,
        step: Step,
        attempt: int,
    ) -> Performed:
        """``call()`` (one step attempt) inside the attempt's span, its duration recorded."""
        tracer = self.tracer
        began = time.monotonic()
        status = StepStatus.FAILED.value
        try:
            if tracer is None:
                performed = call()
                status = _step_status(performed[0])
                return performed
            attributes = _step(workflow_name, run_id, step.name, str(step.step_type), attempt)
            with tracer.start_as_current_span(
                f"step {step.name}", attributes=attributes, record_exception=False,
                set_status_on_exception=False,
            ) as span:  # fmt: skip
                try:
                    performed = call()
                except BaseException as exc:
                    status = _interrupted(span, exc)
                    raise
                result = performed[0]
                status = _step_status(result)
                span.set_attribute(STATUS, status)
                if not result.success:
                    _failed(span, result.error_category, result.error)
                return performed
        finally:
            if self._durations is not None:
                self._durations.record(
                    time.monotonic() - began,
                    {WORKFLOW: workflow_name, STEP: step.name, STATUS: status},
                )

    # -- after the fact ----------------------------------------------------------------

    def items_done(self, items: Sequence[ItemRecord]) -> None:
        """Record map items that ran in another process, from their rows: a run span per
        item execution and a span per step attempt, with the worker's times, inside
        the current span (their map step's attempt)."""
        for item in items:
            run, rows = item.run, item.steps
            name = run.workflow_name
            if item.new:
                self._started_count(name)
            self._count_end(name, run.status)
            for row in rows:
                self._record_duration(name, row)
            tracer = self.tracer
            if tracer is None:
                continue
            from opentelemetry import trace

            began = rows[0].started_at if rows else run.started_at
            attributes = {WORKFLOW: name, RUN_ID: run.run_id}
            span = tracer.start_span(f"run {name}", attributes=attributes, start_time=_ns(began))
            inside = trace.set_span_in_context(span)
            for row in rows:
                step_span = tracer.start_span(
                    f"step {row.step_name}",
                    context=inside,
                    start_time=_ns(row.started_at),
                    attributes=_step(name, run.run_id, row.step_name, row.step_type, row.attempt),
                )
                _end_row(step_span, row)
                step_span.end(_ns(row.completed_at))
            _end_run(span, run.status, run.error_category, run.error)
            span.end(_ns(run.completed_at if run.completed_at is not None else time.time()))

    # -- metrics -----------------------------------------------------------------------

    def _started_count(self, workflow_name: str) -> None:
        if self._started is not None:
            self._started.add(1, {WORKFLOW: workflow_name})

    def _count_end(self, workflow_name: str, status: str) -> None:
        counter = self._ended.get(_ENDED_AS.get(status, ""))
        if counter is not None:
            counter.add(1, {WORKFLOW: workflow_name, STATUS: _text(status)})

    def _record_duration(self, workflow_name: str, row: StepRecord) -> None:
        if self._durations is not None:
            self._durations.record(
                max(0.0, row.completed_at - row.started_at),
                {WORKFLOW: workflow_name, STEP: row.step_name, STATUS: row.status},
            )


def _step(
    workflow_name: str, run_id: str, step_name: str, step_type: str, attempt: int
) -> dict[str, str | int]:
    """A step attempt span's attributes."""
    return {
        WORKFLOW: workflow_name, RUN_ID: run_id, STEP: step_name, STEP_TYPE: step_type,
        ATTEMPT: attempt,
    }  # fmt: skip


def _text(status: str) -> str:
    """A status as its plain text (a ``WorkflowStatus`` member's value)."""
    return str(getattr(status, "value", status))


def _step_status(result: StepResult) -> str:
    if not result.success:
        return StepStatus.FAILED.value
    return (StepStatus.SKIPPED if result.skipped else StepStatus.COMPLETED).value


def _interrupted(span: Span, exc: BaseException) -> str:
    """The status of an attempt that ``exc`` interrupted: the run began to wait, was
    cancelled, or was let go (a lost lease, a signal to the process)."""
    if isinstance(exc, Suspended):
        status = WorkflowStatus.WAITING.value
    elif isinstance(exc, Cancelled):
        status = WorkflowStatus.CANCELLED.value
    else:
        status = "INTERRUPTED"
        span.record_exception(exc)
    span.set_attribute(STATUS, status)
    return status


def _end_row(span: Span, row: StepRecord) -> None:
    span.set_attribute(STATUS, row.status)
    if row.status == StepStatus.FAILED:
        _failed(span, row.error_category, row.error)


def _end_run(span: Span, status: str, category: str | None, error: str | None) -> None:
    span.set_attribute(STATUS, _text(status))
    if status in (WorkflowStatus.FAILED, WorkflowStatus.PARTIAL, WorkflowStatus.CANCELLED):
        _failed(span, category, error)


def _failed(span: Span, category: str | None, error: str | None) -> None:
    from opentelemetry.trace import StatusCode

    if category is not None:
        span.set_attribute(CATEGORY, category)
    span.set_status(StatusCode.ERROR, error)


def _ns(seconds: float) -> int:
    return int(seconds * 1e9)
