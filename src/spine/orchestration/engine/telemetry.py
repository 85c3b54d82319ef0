"""OpenTelemetry spans and metrics of a runner's runs (the ``[otel]`` extra).

A runner with ``tracing=True`` (the default) emits to the tracer and meter providers
configured in its process, whoever configured them and whenever (it looks again each
second), and does nothing while neither is set (the API's default proxies): a process
without an OpenTelemetry SDK pays nothing per step.

Spans: one per run execution (``run <workflow>``) and one per step attempt
(``step <step>``) inside it; a map item's run inside its map step's attempt. Items
run in other processes are recorded from their rows when they come back, with the
times the worker measured (see :meth:`Tracing.items_done`). Metrics: runs started,
completed, failed and cancelled, by workflow; step attempt durations; and the queue
depth (``queue_gauge.py``).

Telemetry never fails a run: an error raised by the SDK or an exporter's processor
is logged (logger ``spine.telemetry``, once per process) and the run goes on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

from spine.core.status import StepStatus, WorkflowStatus
from spine.orchestration.engine import queue_gauge
from spine.orchestration.engine.services import Cancelled, Suspended

if TYPE_CHECKING:
    from contextvars import Token

    from opentelemetry.context import Context
    from opentelemetry.metrics import Meter
    from opentelemetry.trace import Span, Tracer

    from spine.core.records import ItemRecord
    from spine.orchestration.engine.attempt import Performed
    from spine.orchestration.results import WorkflowResult
    from spine.orchestration.step_types import Step

logger = logging.getLogger("spine.telemetry")

SCOPE = "spine.orchestration"
"""The instrumentation scope of spine's spans and metrics."""

WORKFLOW, RUN_ID, STEP, ATTEMPT = "spine.workflow", "spine.run_id", "spine.step", "spine.attempt"
STATUS, CATEGORY, STEP_TYPE = "spine.status", "spine.error_category", "spine.step_type"
INTERRUPTED = "INTERRUPTED"
"""The status of an attempt or execution its process let go (a lost lease, an interrupt)."""

_ENDED_AS: dict[str, str] = {
    WorkflowStatus.COMPLETED: "completed",
    WorkflowStatus.FAILED: "failed",
    WorkflowStatus.PARTIAL: "failed",
    WorkflowStatus.CANCELLED: "cancelled",
}
"""Which counter a run's end adds to (``WAITING`` and ``RUNNING``: not ended here)."""
_ERRORS = (StepStatus.FAILED, WorkflowStatus.FAILED, WorkflowStatus.PARTIAL, INTERRUPTED)
"""Statuses whose span's status is ``ERROR``."""

LOOK_AGAIN_SECONDS = 1.0
"""How long a runner goes on with the providers it found before it looks again (a
look costs more than a short run's step: twice the API's environment lookups)."""


@cache
def tracing_available() -> bool:
    """Whether the OpenTelemetry API is installed (the ``[otel]`` extra)."""
    from importlib.util import find_spec

    try:
        return find_spec("opentelemetry.trace") is not None
    except ModuleNotFoundError:  # no ``opentelemetry`` package at all
        return False


class Telemetry:
    """A runner's way to the providers configured in its process (its runs look them
    up again every :data:`LOOK_AGAIN_SECONDS`: ``Runs.services``)."""

    def __init__(self) -> None:
        from opentelemetry import metrics, trace

        self._trace, self._metrics = trace, metrics
        self._lock = threading.Lock()
        self._seen: tuple[object, object, Tracing | None] = (None, None, None)

    def current(self) -> Tracing | None:
        """What the providers configured now record (``None``: nothing is configured)."""
        tracer_provider = self._trace.get_tracer_provider()
        meter_provider = self._metrics.get_meter_provider()
        with self._lock:  # (two threads looking at once make one Tracing, not two)
            seen = self._seen
            if seen[0] is not tracer_provider or seen[1] is not meter_provider:
                seen = (tracer_provider, meter_provider, _tracing(tracer_provider, meter_provider))
                self._seen = seen
            return seen[2]


def _tracing(tracer_provider: Any, meter_provider: Any) -> Tracing | None:
    tracer = tracer_provider.get_tracer(SCOPE) if _configured(tracer_provider) else None
    meter = None
    if _configured(meter_provider):
        meter = meter_provider.get_meter(SCOPE)
        queue_gauge.gauge_on(meter_provider, meter)
    return None if tracer is None and meter is None else Tracing(tracer, meter)


def _configured(provider: object) -> bool:
    """Whether ``provider`` records anything: not the API's default proxy (no SDK was
    set up) nor a no-op one."""
    name = type(provider).__name__
    return not (name.startswith(("NoOp", "_NoOp")) or "Proxy" in name)


_warned = threading.Event()


def _failed_telemetry(exc: Exception) -> None:
    if not _warned.is_set():
        _warned.set()
        logger.warning("OpenTelemetry failed, runs go on without it: %r", exc, exc_info=exc)


Opened = tuple["Span", "Token[Context]"] | None
"""A span begun and made current (``None``: no tracer, or it could not be begun)."""


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
        self, call: Callable[[], WorkflowResult], workflow_name: str, run_id: str, new: bool
    ) -> WorkflowResult:
        """``call()`` (one execution of a run) inside the run's span, counted (``new``:
        the run's first execution)."""
        if new:
            self._add(self._started, {WORKFLOW: workflow_name})
        opened = self._open(f"run {workflow_name}", {WORKFLOW: workflow_name, RUN_ID: run_id})
        try:
            result = call()
        except BaseException as exc:
            self._close(opened, INTERRUPTED, None, None, exc)
            raise
        status = _text(result.status)
        self._close(opened, status, result.error_category, result.error)
        self._add(self._ended.get(_ENDED_AS.get(status, "")), {WORKFLOW: workflow_name,
                                                               STATUS: status})  # fmt: skip
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
        attributes = _step(workflow_name, run_id, step.name, str(step.step_type), attempt)
        opened = self._open(f"step {step.name}", attributes)
        began = time.monotonic()
        try:
            performed = call()
        except BaseException as exc:
            status = _interrupted(exc)
            self._close(opened, status, None, None, exc if status == INTERRUPTED else None)
            self._duration(workflow_name, step.name, status, time.monotonic() - began)
            raise
        result = performed[0]
        status = _step_status(result.success, result.skipped)
        failed = not result.success
        self._close(opened, status, result.error_category if failed else None,
                    result.error if failed else None)  # fmt: skip
        self._duration(workflow_name, step.name, status, time.monotonic() - began)
        return performed

    # -- after the fact ----------------------------------------------------------------

    def items_done(self, items: Sequence[ItemRecord]) -> None:
        """Record map items that ran in another process, from their rows: a run span per
        item execution and a span per step attempt, with the worker's times, inside
        the current span (their map step's attempt)."""
        try:
            for item in items:
                self._item_done(item)
        except Exception as exc:  # the items are stored: their telemetry is not worth failing
            _failed_telemetry(exc)

    def _item_done(self, item: ItemRecord) -> None:
        run, rows = item.run, item.steps
        name, status = run.workflow_name, _text(run.status)
        if item.new:
            self._add(self._started, {WORKFLOW: name})
        self._add(self._ended.get(_ENDED_AS.get(status, "")), {WORKFLOW: name, STATUS: status})
        for row in rows:
            self._duration(
                name, row.step_name, _text(row.status), row.completed_at - row.started_at
            )
        tracer = self.tracer
        if tracer is None:
            return
        from opentelemetry import trace

        began = rows[0].started_at if rows else run.started_at
        span = tracer.start_span(
            f"run {name}", attributes={WORKFLOW: name, RUN_ID: run.run_id}, start_time=_ns(began)
        )
        inside = trace.set_span_in_context(span)
        for row in rows:
            attributes = _step(name, run.run_id, row.step_name, _text(row.step_type), row.attempt)
            step_span = tracer.start_span(
                f"step {row.step_name}",
                inside,
                attributes=attributes,
                start_time=_ns(row.started_at),
            )
            _outcome(step_span, _text(row.status), row.error_category, row.error)
            step_span.end(_ns(row.completed_at))
        _outcome(span, status, run.error_category, run.error)
        span.end(_ns(run.completed_at if run.completed_at is not None else time.time()))

    # -- the SDK, guarded ---------------------------------------------------------------

    def _open(self, name: str, attributes: Mapping[str, str | int]) -> Opened:
        tracer = self.tracer
        if tracer is None:
            return None
        try:
            from opentelemetry import context, trace

            span = tracer.start_span(name, attributes=attributes)
            return span, context.attach(trace.set_span_in_context(span))
        except Exception as exc:
            _failed_telemetry(exc)
            return None

    def _close(
        self,
        opened: Opened,
        status: str,
        category: str | None,
        error: str | None,
        exc: BaseException | None = None,
    ) -> None:
        if opened is None:
            return
        span, token = opened
        try:
            from opentelemetry import context

            context.detach(token)
            if exc is not None and status == INTERRUPTED:
                span.record_exception(exc)
            _outcome(span, status, category, error)
            span.end()
        except Exception as failure:
            _failed_telemetry(failure)

    def _add(self, counter: Any, attributes: Mapping[str, str]) -> None:
        if counter is not None:
            try:
                counter.add(1, attributes)
            except Exception as exc:
                _failed_telemetry(exc)

    def _duration(self, workflow_name: str, step_name: str, status: str, seconds: float) -> None:
        if self._durations is not None:
            try:
                self._durations.record(
                    max(0.0, seconds), {WORKFLOW: workflow_name, STEP: step_name, STATUS: status}
                )
            except Exception as exc:
                _failed_telemetry(exc)


def _step(
    workflow_name: str, run_id: str, step_name: str, step_type: str, attempt: int
) -> dict[str, str | int]:
    """A step attempt span's attributes."""
    return {
        WORKFLOW: workflow_name, RUN_ID: run_id, STEP: step_name, STEP_TYPE: step_type,
        ATTEMPT: attempt,
    }  # fmt: skip


def _text(value: str) -> str:
    """A status or kind as its plain text (an enum member's value)."""
    return str(getattr(value, "value", value))


def _step_status(success: bool, skipped: bool) -> str:
    if not success:
        return StepStatus.FAILED.value
    return (StepStatus.SKIPPED if skipped else StepStatus.COMPLETED).value


def _interrupted(exc: BaseException) -> str:
    """The status of an attempt that ``exc`` interrupted: the run began to wait, was
    cancelled, or was let go (a lost lease, a signal to the process)."""
    if isinstance(exc, Suspended):
        return WorkflowStatus.WAITING.value
    if isinstance(exc, Cancelled):
        return WorkflowStatus.CANCELLED.value
    return INTERRUPTED


def _outcome(span: Span, status: str, category: str | None, error: str | None) -> None:
    """A span's end state: ``spine.status``, and for a failure its category and an
    ``ERROR`` status described by the error (a cancellation keeps its category only)."""
    from opentelemetry.trace import StatusCode

    span.set_attribute(STATUS, status)
    if category is not None:
        span.set_attribute(CATEGORY, category)
    if status in _ERRORS:
        span.set_status(StatusCode.ERROR, error)


def _ns(seconds: float) -> int:
    return int(seconds * 1e9)
