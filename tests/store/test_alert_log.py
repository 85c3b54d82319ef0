"""The alert delivery log on SQLite and PostgreSQL, and its schema migration."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import inspect, select

from spine.core.errors import StoreError
from spine.framework.alerts import (
    Alert,
    AlertRegistry,
    AlertSeverity,
    BaseChannel,
    ChannelType,
    ConsoleChannel,
    DeliveryRecord,
    DeliveryResult,
    DeliveryRetry,
    alert_registry,
    recent_deliveries,
    send_alert,
)
from spine.store import SqlDeliveryLog, open_store
from spine.store.schema import SCHEMA_VERSION, alert_deliveries, schema_version
from spine.testing import FakeClock

from .helpers import raw_engine


class Refusing(BaseChannel):
    def __init__(self) -> None:
        super().__init__("refusing", ChannelType.WEBHOOK, min_severity=AlertSeverity.INFO)

    def send(self, alert: Alert) -> DeliveryResult:
        return DeliveryResult.fail(
            self.name, "HTTP 403 from https://example.com/...", retryable=False
        )


@pytest.fixture
def log(database_url: str) -> Iterator[SqlDeliveryLog]:
    with SqlDeliveryLog(database_url) as opened:
        yield opened


def _utc(text: str) -> datetime:
    parsed = datetime.fromisoformat(text)
    assert parsed.utcoffset() == timedelta(0), f"{text!r} is not UTC"
    return parsed


def test_every_delivery_result_is_recorded(
    log: SqlDeliveryLog, database_url: str, clock: FakeClock
) -> None:
    registry = AlertRegistry(clock=clock, log=log)
    registry.register(ConsoleChannel("console", stream=io.StringIO()))
    registry.register(Refusing())
    alert = Alert(
        AlertSeverity.ERROR, "Load failed", "no rows", "finra.load", domain="finra", run_id="r1"
    )

    registry.send_to_all(alert)
    registry.send_to_all(alert)  # throttled on the console, tried again on the other

    records = log.recent()
    assert len(records) == 4
    by_kind = {(r.channel, r.throttled): r for r in records}
    delivered = by_kind["console", False]
    assert (delivered.success, delivered.attempts, delivered.error) == (True, 1, None)
    assert (delivered.fingerprint, delivered.severity) == (alert.fingerprint, AlertSeverity.ERROR)
    assert (delivered.title, delivered.message, delivered.source) == (
        "Load failed",
        "no rows",
        "finra.load",
    )
    assert (delivered.domain, delivered.run_id, delivered.channel_type) == (
        "finra",
        "r1",
        "console",
    )
    assert delivered.created_at == alert.created_at
    throttled = by_kind["console", True]
    assert (throttled.success, throttled.attempts, throttled.suppressed) == (True, 0, 1)
    refused = by_kind["refusing", False]
    assert (refused.success, refused.attempts) == (False, 1)
    assert refused.error == "HTTP 403 from https://example.com/..."
    with raw_engine(database_url) as engine, engine.connect() as conn:
        rows = conn.execute(select(alert_deliveries)).mappings().all()
    for row in rows:
        _utc(row["created_at"])
        _utc(row["delivered_at"])


def test_recent_is_newest_first_limited_and_by_run(log: SqlDeliveryLog) -> None:
    start = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    for minute in range(5):
        log.record(
            DeliveryRecord(
                fingerprint="ERROR|s|t",
                severity=AlertSeverity.ERROR,
                title=f"t{minute}",
                message="m",
                source="s",
                channel="console",
                channel_type="console",
                success=True,
                attempts=1,
                created_at=start,
                delivered_at=start + timedelta(minutes=minute),
                run_id="even" if minute % 2 == 0 else "odd",
            )
        )

    assert [r.title for r in log.recent(3)] == ["t4", "t3", "t2"]
    assert [r.title for r in log.recent(run_id="odd")] == ["t3", "t1"]
    assert log.recent(0) == []


def test_the_global_registry_records_through_set_log(log: SqlDeliveryLog) -> None:
    alert_registry.register(ConsoleChannel(stream=io.StringIO()))
    alert_registry.set_log(log)

    send_alert("WARNING", "Late data", "2h late", "finra", run_id="r9")

    [record] = recent_deliveries(10)
    assert (record.title, record.run_id, record.success) == ("Late data", "r9", True)
    assert alert_registry.recent_deliveries(10) == [record]


class BrokenLog:
    def record(self, record: DeliveryRecord) -> None:
        raise StoreError("the database is gone")

    def recent(self, limit: int = 50) -> list[DeliveryRecord]:
        return []


def test_a_log_that_cannot_record_does_not_fail_the_delivery(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stream = io.StringIO()
    registry = AlertRegistry(log=BrokenLog(), retry=DeliveryRetry(max_attempts=1))
    registry.register(ConsoleChannel(stream=stream))

    [result] = registry.send_to_all(Alert(AlertSeverity.ERROR, "t", "m", "s"))

    assert result.success is True
    assert "[ERROR] t" in stream.getvalue()
    assert any("cannot record the delivery" in r.getMessage() for r in caplog.records)


def test_the_log_shares_the_database_of_the_runs(database_url: str) -> None:
    store = open_store(database_url)
    try:
        with SqlDeliveryLog(database_url) as log:
            assert log.recent() == []
        tables = set(inspect(store.engine).get_table_names())
    finally:
        store.close()

    assert {"core_workflow_runs", "core_workflow_steps", "alert_deliveries"} <= tables


def test_a_version_3_database_gets_the_delivery_table(database_url: str) -> None:
    open_store(database_url).close()
    with raw_engine(database_url) as engine, engine.begin() as conn:
        alert_deliveries.drop(conn)
        conn.execute(schema_version.update().values(version=3))

    with SqlDeliveryLog(database_url) as log:
        assert log.recent() == []

    with raw_engine(database_url) as engine, engine.connect() as conn:
        assert "alert_deliveries" in inspect(conn).get_table_names()
        assert conn.execute(select(schema_version.c.version)).scalar() == SCHEMA_VERSION


def test_prune_removes_old_deliveries_and_keeps_recent_ones(database_url: str) -> None:
    store = open_store(database_url)
    try:
        log = SqlDeliveryLog.sharing(store)
        alert = Alert(severity=AlertSeverity.ERROR, title="t", message="m", source="s")
        channel = ConsoleChannel(stream=io.StringIO())
        new = DeliveryRecord.of(alert, channel, DeliveryResult.ok("console"))
        old = replace(new, id=new.id + "-old",
                      delivered_at=datetime.now(UTC) - timedelta(days=100))  # fmt: skip
        log.record(old)
        log.record(new)

        log.prune((datetime.now(UTC) - timedelta(days=90)).timestamp())

        assert [r.id for r in log.recent()] == [new.id]
    finally:
        store.close()
