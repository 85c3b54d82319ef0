"""Trace context across processes, and the trace a step attempt ran in.

Work sent to another process (a pipeline step, a chunk of map items) carries the
trace context of its sender as W3C ``traceparent`` headers (:func:`carrier`), and the
worker process runs it inside that context (:func:`attached`): the spans its code
makes, and the trace id its log names, belong to the sender's trace.

Nothing here imports OpenTelemetry unless the process already has (a run with
tracing on imported it): without it, there is no trace to carry.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

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


@contextmanager
def attached(headers: Carrier | None) -> Iterator[None]:
    """Run the block inside the trace ``headers`` carry (as is without them)."""
    if not headers:
        yield
        return
    from opentelemetry import context, propagate

    token = context.attach(propagate.extract(headers))
    try:
        yield
    finally:
        context.detach(token)


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
