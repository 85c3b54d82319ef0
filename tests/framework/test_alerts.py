"""send_alert, channels and their filters, the alert model."""

from __future__ import annotations

import io
import logging

import pytest

from spine.framework.alerts import (
    Alert,
    AlertSeverity,
    BaseChannel,
    ChannelType,
    ConsoleChannel,
    DeliveryResult,
    alert_registry,
    send_alert,
)


class _Recorder(BaseChannel):
    def __init__(
        self,
        name: str,
        *,
        min_severity: AlertSeverity = AlertSeverity.ERROR,
        domains: list[str] | None = None,
    ) -> None:
        super().__init__(name, ChannelType.WEBHOOK, min_severity=min_severity, domains=domains)
        self.alerts: list[Alert] = []

    def send(self, alert: Alert) -> DeliveryResult:
        self.alerts.append(alert)
        return DeliveryResult.ok(self.name)


class _Exploding(BaseChannel):
    def __init__(self, name: str) -> None:
        super().__init__(name, ChannelType.WEBHOOK, min_severity=AlertSeverity.INFO)

    def send(self, alert: Alert) -> DeliveryResult:
        raise ConnectionError("webhook down")


def test_no_channel_returns_empty_and_logs_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="spine.alerts"):
        results = send_alert(AlertSeverity.ERROR, "Disk full", "no space left", "ingest")

    assert results == []
    records = [r for r in caplog.records if r.name == "spine.alerts"]
    assert len(records) == 1
    assert records[0].levelno == logging.WARNING
    assert "Disk full" in records[0].getMessage()


def test_console_channel_delivers() -> None:
    stream = io.StringIO()
    alert_registry.register(ConsoleChannel(stream=stream))

    results = send_alert(AlertSeverity.WARNING, "Late data", "feed is 2h late", "finra")

    assert len(results) == 1
    assert isinstance(results[0], DeliveryResult)
    assert results[0].success is True
    assert results[0].channel_name == "console"
    output = stream.getvalue()
    assert "[WARNING] Late data" in output
    assert "feed is 2h late" in output
    assert "finra" in output


def test_spec_alert_fn_keyword_call() -> None:
    stream = io.StringIO()
    alert_registry.register(ConsoleChannel(stream=stream))

    results = send_alert(
        severity=AlertSeverity.WARNING,
        title="Workflow finra.weekly_refresh skipped processing",
        message="Insufficient records to process",
        source="finra.weekly_refresh",
        run_id="run-123",
    )

    assert [r.success for r in results] == [True]
    output = stream.getvalue()
    assert "[WARNING] Workflow finra.weekly_refresh skipped processing" in output
    assert "run-123" in output


def test_severity_given_as_string_is_accepted() -> None:
    channel = alert_registry.register(_Recorder("rec", min_severity=AlertSeverity.INFO))
    assert isinstance(channel, _Recorder)

    send_alert("CRITICAL", "t", "m", "s")

    assert channel.alerts[0].severity is AlertSeverity.CRITICAL


def test_min_severity_filter_and_undelivered_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stream = io.StringIO()
    alert_registry.register(
        ConsoleChannel("errors", min_severity=AlertSeverity.ERROR, stream=stream)
    )

    with caplog.at_level(logging.WARNING, logger="spine.alerts"):
        low = send_alert(AlertSeverity.INFO, "Just info", "fyi", "src")

    assert low == []
    assert stream.getvalue() == ""
    assert any("Just info" in r.getMessage() for r in caplog.records if r.name == "spine.alerts")

    high = send_alert(AlertSeverity.CRITICAL, "Real problem", "down", "src")
    assert [r.success for r in high] == [True]
    assert "[CRITICAL] Real problem" in stream.getvalue()


def test_domain_filter_exact_and_prefix() -> None:
    exact = alert_registry.register(
        _Recorder("exact", min_severity=AlertSeverity.INFO, domains=["finra.otc"])
    )
    prefix = alert_registry.register(
        _Recorder("prefix", min_severity=AlertSeverity.INFO, domains=["finra.*"])
    )
    assert isinstance(exact, _Recorder)
    assert isinstance(prefix, _Recorder)

    send_alert(AlertSeverity.ERROR, "a", "m", "s", domain="finra.otc")
    send_alert(AlertSeverity.ERROR, "b", "m", "s", domain="finra.otc.tier1")
    send_alert(AlertSeverity.ERROR, "c", "m", "s", domain="sec.filings")
    send_alert(AlertSeverity.ERROR, "d", "m", "s")

    assert [a.title for a in exact.alerts] == ["a"]
    assert [a.title for a in prefix.alerts] == ["a", "b"]


def test_disabled_channel_gets_nothing() -> None:
    channel = _Recorder("off", min_severity=AlertSeverity.INFO)
    channel.disable()
    alert_registry.register(channel)

    assert send_alert(AlertSeverity.CRITICAL, "t", "m", "s") == []
    assert channel.alerts == []


def test_failing_channel_does_not_stop_others(caplog: pytest.LogCaptureFixture) -> None:
    alert_registry.register(_Exploding("a-broken"))
    good = alert_registry.register(_Recorder("b-good", min_severity=AlertSeverity.INFO))
    assert isinstance(good, _Recorder)

    with caplog.at_level(logging.ERROR, logger="spine.alerts"):
        results = send_alert(AlertSeverity.ERROR, "t", "m", "s")

    by_name = {r.channel_name: r for r in results}
    assert set(by_name) == {"a-broken", "b-good"}
    assert by_name["a-broken"].success is False
    assert isinstance(by_name["a-broken"].error, ConnectionError)
    assert "webhook down" in (by_name["a-broken"].message or "")
    assert by_name["b-good"].success is True
    assert [a.title for a in good.alerts] == ["t"]


def test_severity_ordering() -> None:
    assert AlertSeverity.INFO < AlertSeverity.WARNING < AlertSeverity.ERROR
    assert AlertSeverity.ERROR < AlertSeverity.CRITICAL
    assert AlertSeverity.CRITICAL > AlertSeverity.INFO
    assert AlertSeverity.WARNING >= AlertSeverity.WARNING
    assert not AlertSeverity.ERROR <= AlertSeverity.WARNING
    assert sorted(
        [AlertSeverity.CRITICAL, AlertSeverity.INFO, AlertSeverity.ERROR, AlertSeverity.WARNING]
    ) == [AlertSeverity.INFO, AlertSeverity.WARNING, AlertSeverity.ERROR, AlertSeverity.CRITICAL]


def test_fingerprint_identifies_the_incident() -> None:
    one = Alert(AlertSeverity.ERROR, "Load failed", "first", "loader")
    two = Alert(AlertSeverity.ERROR, "Load failed", "second message", "loader", run_id="r2")
    other_domain = Alert(AlertSeverity.ERROR, "Load failed", "first", "loader", domain="sec")
    other_severity = Alert(AlertSeverity.CRITICAL, "Load failed", "first", "loader")

    assert one.fingerprint is not None
    assert one.fingerprint == two.fingerprint
    assert one.fingerprint != other_domain.fingerprint
    assert one.fingerprint != other_severity.fingerprint


def test_alert_to_dict() -> None:
    alert = Alert(
        AlertSeverity.WARNING,
        "t",
        "m",
        "s",
        domain="d",
        execution_id="e",
        run_id="r",
        metadata={"k": 1},
    )

    data = alert.to_dict()

    assert set(data) == {
        "severity",
        "title",
        "message",
        "source",
        "created_at",
        "fingerprint",
        "domain",
        "execution_id",
        "run_id",
        "metadata",
    }
    assert data["severity"] == "WARNING"
    assert data["metadata"] == {"k": 1}
    assert data["created_at"] == alert.created_at.isoformat()

    minimal = Alert(AlertSeverity.INFO, "t", "m", "s").to_dict()
    assert {"severity", "title", "message", "source", "created_at", "fingerprint"} <= set(minimal)


def test_extra_keywords_go_to_metadata() -> None:
    channel = alert_registry.register(_Recorder("rec", min_severity=AlertSeverity.INFO))
    assert isinstance(channel, _Recorder)

    send_alert(
        AlertSeverity.ERROR,
        "t",
        "m",
        "s",
        run_id="r1",
        domain="finra",
        metadata={"a": 1},
        rows=10,
        table="trades",
    )

    [alert] = channel.alerts
    assert alert.run_id == "r1"
    assert alert.domain == "finra"
    assert alert.metadata == {"a": 1, "rows": 10, "table": "trades"}


def test_registry_register_unregister_list() -> None:
    first = ConsoleChannel("b-console", stream=io.StringIO())
    second = ConsoleChannel("a-console", stream=io.StringIO())

    assert alert_registry.register(first) is first
    alert_registry.register(second)
    assert alert_registry.list_channels() == ["a-console", "b-console"]
    assert alert_registry.get("b-console") is first

    assert alert_registry.unregister("b-console") is first
    assert alert_registry.unregister("b-console") is None
    assert alert_registry.list_channels() == ["a-console"]


def test_send_to_all_with_prebuilt_alert() -> None:
    stream = io.StringIO()
    alert_registry.register(ConsoleChannel(stream=stream))

    results = alert_registry.send_to_all(Alert(AlertSeverity.ERROR, "prebuilt", "m", "s"))

    assert [r.success for r in results] == [True]
    assert "[ERROR] prebuilt" in stream.getvalue()
