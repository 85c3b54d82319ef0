"""Shared fixtures: every test starts with empty process-wide registries."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from http_receiver import Receiver
from spine.framework.alerts import alert_registry
from spine.framework.groups.registry import default_group_registry
from spine.framework.registry import default_registry
from spine.orchestration import WorkflowRunner
from spine.orchestration.registry import default_workflow_registry
from spine.testing import FakeClock


@pytest.fixture(autouse=True)
def _clean_registries() -> Iterator[None]:
    default_group_registry.clear()
    default_registry.clear()
    default_workflow_registry.clear()
    alert_registry.clear()
    yield
    default_group_registry.clear()
    default_registry.clear()
    default_workflow_registry.clear()
    alert_registry.clear()


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """The `spine` command's tables as wide as with no terminal (pytest-xdist's workers set
    COLUMNS=80, a plain pytest run leaves it unset): tests that read a table find every
    column. Tests of narrow terminals set COLUMNS themselves."""
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture
def otel() -> Iterator[Any]:
    """OpenTelemetry SDK providers set for the test (the process's global ones), their
    spans and metrics kept in memory; unset after it, as before it."""
    from opentelemetry import metrics, trace
    from opentelemetry.metrics import _internal as metrics_state
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.util._once import Once

    def unset() -> None:
        # The API sets its providers once per process; tests need them set and unset
        # again (what opentelemetry's own test utilities do).
        trace._TRACER_PROVIDER_SET_ONCE = Once()
        trace._TRACER_PROVIDER = None
        metrics_state._METER_PROVIDER_SET_ONCE = Once()
        metrics_state._METER_PROVIDER = None

    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    unset()
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)
    try:
        yield SimpleNamespace(
            spans=spans,
            reader=reader,
            provider=tracer_provider,
            tracer=tracer_provider.get_tracer("test"),
        )
    finally:
        unset()
        tracer_provider.shutdown()
        meter_provider.shutdown()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


# ---- databases -------------------------------------------------------------------


POSTGRES_SERVER = os.environ.get("SPINE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def _postgres_admin() -> object:
    """A psycopg connection to the test server, or a skip (a failure in CI)."""
    try:
        import psycopg

        return psycopg.connect(POSTGRES_SERVER, autocommit=True, connect_timeout=3)
    except Exception as exc:
        reason = f"no PostgreSQL server answers at {POSTGRES_SERVER}: {exc}"
        if os.environ.get("SPINE_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"SPINE_REQUIRE_POSTGRES=1 but {reason}")
        pytest.skip(reason)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'history.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh schema on the test server, dropped afterwards."""
    admin = _postgres_admin()
    schema = f"spine_test_{uuid.uuid4().hex[:12]}"
    admin.execute(f'CREATE SCHEMA "{schema}"')  # type: ignore[attr-defined]
    try:
        yield f"{POSTGRES_SERVER}?options=-csearch_path%3D{schema}"
    finally:
        admin.execute(f'DROP SCHEMA "{schema}" CASCADE')  # type: ignore[attr-defined]
        admin.close()  # type: ignore[attr-defined]


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each test using this runs once on an SQLite file and once on PostgreSQL."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(name))


@pytest.fixture
def make_runner() -> Iterator[Callable[..., WorkflowRunner]]:
    """Build runners (``make_runner(database_url=..., ...)``) closed after the test."""
    made: list[WorkflowRunner] = []

    def make(**kwargs: object) -> WorkflowRunner:
        runner = WorkflowRunner(**kwargs)  # type: ignore[arg-type]
        made.append(runner)
        return runner

    yield make
    for runner in made:
        runner.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on 127.0.0.1 (see tests/http_receiver.py)."""
    server = Receiver()
    yield server
    server.close()
