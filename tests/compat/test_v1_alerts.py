"""spine.framework.alerts.protocol: spine-core's alert types, channels and protocol."""

from __future__ import annotations

import pytest

from spine.core.errors import SourceError
from spine.framework.alerts import alert_registry, send_alert
from spine.framework.alerts.protocol import (
    Alert,
    AlertChannel,
    AlertSeverity,
    BaseChannel,
    ChannelType,
    ConsoleChannel,
    DeliveryResult,
)


class RecordingChannel(BaseChannel):
    """A channel written against spine-core's BaseChannel, for a type spine ships none of."""

    def __init__(self, name: str) -> None:
        super().__init__(name, ChannelType.PAGERDUTY, min_severity=AlertSeverity.INFO)
        self.sent: list[Alert] = []

    def send(self, alert: Alert) -> DeliveryResult:
        self.sent.append(alert)
        return DeliveryResult.ok(self.name, "Sent", response={"incident": "P-1"})


def test_severities_are_ordered() -> None:
    assert AlertSeverity.INFO < AlertSeverity.WARNING < AlertSeverity.ERROR
    assert AlertSeverity.CRITICAL > AlertSeverity.ERROR
    assert AlertSeverity.ERROR >= AlertSeverity.WARNING
    assert not (AlertSeverity.INFO > AlertSeverity.ERROR)


def test_channel_types_include_spine_cores() -> None:
    assert {t.value for t in ChannelType} == {
        "slack",
        "email",
        "servicenow",
        "pagerduty",
        "webhook",
        "console",
    }


def test_an_alert_carries_its_context_and_error() -> None:
    error = SourceError("API timeout")
    alert = Alert(
        severity=AlertSeverity.ERROR,
        title="Source Failed",
        message="Failed to fetch data from API",
        source="api_source",
        domain="finra.otc_transparency",
        execution_id="exec_123",
        run_id="run_456",
        error=error,
        metadata={"failed_count": 100},
    )

    assert alert.error is error
    assert alert.fingerprint == "ERROR|api_source|Source Failed|finra.otc_transparency"
    data = alert.to_dict()
    assert data["error"] == "SourceError: API timeout"
    assert (data["domain"], data["execution_id"], data["run_id"]) == (
        "finra.otc_transparency",
        "exec_123",
        "run_456",
    )
    assert data["metadata"] == {"failed_count": 100}
    other = Alert(AlertSeverity.ERROR, "Source Failed", "another message", "api_source")
    assert other.fingerprint == "ERROR|api_source|Source Failed"
    assert "error" not in other.to_dict()


def test_delivery_results() -> None:
    ok = DeliveryResult.ok("slack_channel", "Sent to Slack")
    assert (ok.success, ok.channel_name, ok.message, ok.response) == (
        True,
        "slack_channel",
        "Sent to Slack",
        None,
    )
    error = Exception("Network timeout")
    failed = DeliveryResult(channel_name="email_channel", success=False, error=error)
    assert (failed.success, failed.error) == (False, error)


def test_the_console_channel_prints_what_passes_its_filter(
    capsys: pytest.CaptureFixture[str],
) -> None:
    channel = ConsoleChannel(name="console", min_severity=AlertSeverity.ERROR)
    info = Alert(AlertSeverity.INFO, "Info", "Info message", "test")
    error = Alert(AlertSeverity.ERROR, "Test Alert", "Test message", "test")

    assert channel.channel_type == ChannelType.CONSOLE
    assert channel.should_send(info) is False
    assert channel.should_send(error) is True
    assert channel.send(error).success is True
    printed = capsys.readouterr().out
    assert "ERROR" in printed
    assert "Test Alert" in printed
    assert "Test message" in printed


def test_a_custom_channel_meets_the_protocol_and_receives_alerts() -> None:
    channel = RecordingChannel("pager")
    alert_registry.register(channel)

    results = send_alert(
        AlertSeverity.CRITICAL, "Load failed", "no rows", "loader", error=SourceError("404")
    )

    assert isinstance(channel, AlertChannel)
    assert isinstance(ConsoleChannel(), AlertChannel)
    assert not isinstance(object(), AlertChannel)
    assert [r.response for r in results] == [{"incident": "P-1"}]
    assert len(channel.sent) == 1
    assert isinstance(channel.sent[0].error, SourceError)
    assert channel.sent[0].metadata == {}
