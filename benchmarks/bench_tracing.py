"""W1 and W4 (SQLite) with OpenTelemetry: what a traced step costs (issue 15).

Run: ``.venv/bin/python benchmarks/bench_tracing.py`` (``--quick`` for a smoke run).
Three ways, in this process: ``tracing=False``; ``tracing=True`` with the API installed
but no provider configured (what every runner does by default: it must cost nothing);
and with the SDK's tracer and meter providers configured, spans going through a batch
processor to an exporter that drops them (the SDK's own cost, not a collector's).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_engine import chain_step
from harness import best_time

from spine.orchestration import Step, Workflow, WorkflowRunner, WorkflowStatus


def chain(n: int) -> Workflow:
    steps = [Step.lambda_(f"s{k}", chain_step, config={"prev": f"s{k - 1}"}) for k in range(n)]
    return Workflow("bench.tracing", steps)


def per_step(runners: Sequence[WorkflowRunner], n: int, repeats: int) -> list[float]:
    """µs per step for each runner, measured alternately, best of three turns."""
    workflow = chain(n)
    for runner in runners:
        assert runner.execute(workflow).status == WorkflowStatus.COMPLETED
    best = [float("inf")] * len(runners)
    for _ in range(3):
        for index, runner in enumerate(runners):
            took = best_time(lambda r=runner: r.execute(workflow), repeats)  # type: ignore[misc]
            best[index] = min(best[index], took / n * 1e6)
    return best


def configure_sdk() -> None:
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class Drop(SpanExporter):
        def export(self, spans: object) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Drop(), max_queue_size=1 << 16))
    trace.set_tracer_provider(provider)
    metrics.set_meter_provider(MeterProvider(metric_readers=[InMemoryMetricReader()]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n, repeats = (200, 3) if args.quick else (1_000, 10)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/spine.db?synchronous=normal"
        setups = {
            "W1, no history": {"max_steps": n},
            "W4, SQLite NORMAL": {"max_steps": n, "database_url": url},
        }
        # Providers are set once per process: the runs without them come first.
        rows: dict[str, list[float]] = {}
        for label, kwargs in setups.items():
            off = WorkflowRunner(tracing=False, **kwargs)  # type: ignore[arg-type]
            unset = WorkflowRunner(**kwargs)  # type: ignore[arg-type]
            rows[label] = per_step([off, unset], n, repeats)
            off.close()
            unset.close()
        configure_sdk()
        for label, kwargs in setups.items():
            off = WorkflowRunner(tracing=False, **kwargs)  # type: ignore[arg-type]
            on = WorkflowRunner(**kwargs)  # type: ignore[arg-type]
            off_again, traced = per_step([off, on], n, repeats)
            rows[label] += [off_again, traced]
            off.close()
            on.close()
    print(f"| chain of N={n:,} lambda steps, inline | tracing=False | tracing on, no provider "
          "configured | tracing=False (SDK set) | traced, SDK configured | added per step "
          "(traced) |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for label, (off, unset, off_again, traced) in rows.items():
        print(
            f"| {label} | {off:.1f} µs | {unset:.1f} µs | {off_again:.1f} µs | {traced:.1f} µs "
            f"| {traced - off_again:.1f} µs |"
        )


if __name__ == "__main__":
    main()
