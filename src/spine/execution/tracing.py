"""Trace context across processes, and the trace a step attempt ran in.

Work sent to another process (a pipeline step, a chunk of map items) carries the
trace context of its sender as text headers, written by the propagators configured
(W3C ``traceparent`` by default; :func:`carrier`), and the worker process runs it
inside that context (:func:`attached`): the spans its code makes, and the trace id
its log names, belong to the sender's trace.

Nothing here imports OpenTelemetry unless the process already has (a run with
tracing on imported it): without it, there is no trace to carry.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar

Carrier = Mapping[str, str]
"""A trace context as text headers (``traceparent``, ``tracestate``, ``baggage``)."""


def carrier() -> dict[str, str] | None:
    """The calling context's trace as headers to send along (``None``: no trace)."""
    if "opentelemetry.trace" not in sys.modules:
        return None
    from opentelemetry import propagate

    headers: dict[str, str] = {}
    propagate.inject(headers)
    return headers or None


_carried: ContextVar[bool] = ContextVar("spine_trace_carried", default=False)


@contextmanager
def attached(headers: Carrier | None) -> Iterator[None]:
    """Run the block inside the trace ``headers`` carry (as is without them, or in a
    process without OpenTelemetry: the work matters more than its trace)."""
    if not headers:
        yield
        return
    try:
        from opentelemetry import context, propagate
    except ImportError:
        yield
        return
    token = context.attach(propagate.extract(headers))
    carried = _carried.set(True)
    try:
        yield
    finally:
        _carried.reset(carried)
        context.detach(token)


def carried() -> bool:
    """Whether the calling code runs inside a trace sent from another process."""
    return _carried.get()


def current_trace() -> str | None:
    """The current span's trace and span ids as a log line names them
    (``trace_id=<32 hex> span_id=<16 hex>``), or ``None`` outside any trace."""
    trace = sys.modules.get("opentelemetry.trace")
    if trace is None:
        return None
    span = trace.get_current_span().get_span_context()
    if not span.is_valid:
        return None
    return f"trace_id={span.trace_id:032x} span_id={span.span_id:016x}"
