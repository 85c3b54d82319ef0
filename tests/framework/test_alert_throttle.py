"""Throttling of duplicate alerts and retries of failed deliveries, on a fake clock."""

from __future__ import annotations

import math
from typing import Any

import pytest

from spine.framework.alerts import (
    Alert,
    AlertRegistry,
    AlertSeverity,
    BaseChannel,
    ChannelType,
    DeliveryRecord,
    DeliveryResult,
    DeliveryRetry,
    alert_registry,
)
from spine.testing import FakeClock


class Scripted(BaseChannel):
    """Answers from ``script`` (a result to return or an exception to raise), then ok."""

    def __init__(self, name: str, script: list[DeliveryResult | Exception] | None = None) -> None:
        super().__init__(name, ChannelType.WEBHOOK, min_severity=AlertSeverity.INFO)
        self.script = list(script or [])
        self.sent: list[Alert] = []

    def send(self, alert: Alert) -> DeliveryResult:
        self.sent.append(alert)
        outcome = self.script.pop(0) if self.script else DeliveryResult.ok(self.name)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def _alert(title: str = "Load failed", **fields: Any) -> Alert:
    return Alert(AlertSeverity.ERROR, title, "no rows", "finra.load", **fields)


def test_duplicates_within_the_window_are_sent_once_and_counted(clock: FakeClock) -> None:
    registry = AlertRegistry(throttle_seconds=300, clock=clock)
    channel = Scripted("rec")
    registry.register(channel)

    first = registry.send_to_all(_alert(run_id="r1"))
    clock.advance(60)
    second = registry.send_to_all(_alert(run_id="r2"))
    clock.advance(60)
    third = registry.send_to_all(_alert(run_id="r3"))

    assert [a.run_id for a in channel.sent] == ["r1"]
    assert first[0].throttled is False
    for result, count in ((second[0], 1), (third[0], 2)):
        assert (result.success, result.throttled, result.attempt) == (True, True, 0)
        assert result.suppressed == count
        assert "throttled" in (result.message or "")


def test_the_next_delivery_after_the_window_reports_the_suppressed_count(
    clock: FakeClock,
) -> None:
    registry = AlertRegistry(throttle_seconds=300, clock=clock)
    channel = Scripted("rec")
    registry.register(channel)
    registry.send_to_all(_alert())
    registry.send_to_all(_alert())
    registry.send_to_all(_alert())

    clock.advance(301)
    [result] = registry.send_to_all(_alert())

    assert (result.throttled, result.suppressed) == (False, 2)
    delivered = channel.sent[-1]
    assert "2 more like this held back" in delivered.message
    assert delivered.metadata["suppressed_count"] == 2
    assert delivered.fingerprint == _alert().fingerprint
    # A new window started with that delivery.
    [again] = registry.send_to_all(_alert())
    assert (again.throttled, again.suppressed) == (True, 1)


def test_other_incidents_are_not_throttled(clock: FakeClock) -> None:
    registry = AlertRegistry(clock=clock)
    channel = Scripted("rec")
    registry.register(channel)

    registry.send_to_all(_alert())
    registry.send_to_all(_alert("Other title"))
    registry.send_to_all(_alert(domain="finra.otc"))
    registry.send_to_all(Alert(AlertSeverity.CRITICAL, "Load failed", "no rows", "finra.load"))
    registry.send_to_all(Alert(AlertSeverity.ERROR, "Load failed", "no rows", "sec.load"))

    assert len(channel.sent) == 5


def test_a_failed_delivery_opens_no_window(clock: FakeClock) -> None:
    registry = AlertRegistry(clock=clock)
    down = Scripted("a-down", [DeliveryResult.fail("a-down", "HTTP 400", retryable=False)])
    up = Scripted("b-up")
    registry.register(down)
    registry.register(up)

    first = registry.send_to_all(_alert())
    second = registry.send_to_all(_alert())

    assert [(r.channel_name, r.success) for r in first] == [("a-down", False), ("b-up", True)]
    # The channel that failed tries the duplicate; the one that delivered holds it back.
    assert [(r.channel_name, r.throttled) for r in second] == [("a-down", False), ("b-up", True)]
    assert len(down.sent) == 2
    assert len(up.sent) == 1


def test_a_zero_window_turns_throttling_off(clock: FakeClock) -> None:
    registry = AlertRegistry(throttle_seconds=0, clock=clock)
    channel = Scripted("rec")
    registry.register(channel)

    for _ in range(3):
        registry.send_to_all(_alert())

    assert len(channel.sent) == 3


def test_retryable_failures_are_retried_with_backoff(clock: FakeClock) -> None:
    registry = AlertRegistry(
        retry=DeliveryRetry(max_attempts=4, initial_delay_seconds=0.5, max_delay_seconds=1.5),
        clock=clock,
    )
    channel = Scripted(
        "rec",
        [
            DeliveryResult.fail("rec", "HTTP 503"),
            DeliveryResult.fail("rec", "HTTP 503"),
            ConnectionError("reset"),
        ],
    )
    registry.register(channel)

    [result] = registry.send_to_all(_alert())

    assert (result.success, result.attempt) == (True, 4)
    assert clock.sleeps == [0.5, 1.0, 1.5]


def test_what_cannot_succeed_is_not_retried(clock: FakeClock) -> None:
    registry = AlertRegistry(clock=clock)
    refused = Scripted("a-refused", [DeliveryResult.fail("a-refused", "HTTP 404", retryable=False)])
    buggy = Scripted("b-buggy", [KeyError("missing")])
    registry.register(refused)
    registry.register(buggy)

    results = registry.send_to_all(_alert())

    assert [(r.success, r.attempt) for r in results] == [(False, 1), (False, 1)]
    assert isinstance(results[1].error, KeyError)
    assert clock.sleeps == []


def test_retry_delays() -> None:
    retry = DeliveryRetry(initial_delay_seconds=1, backoff_multiplier=3, max_delay_seconds=10)

    assert [retry.delay_after(n) for n in (1, 2, 3)] == [1, 3, 9]
    assert retry.delay_after(4) == 10
    assert retry.delay_after(1, retry_after=5) == 5
    assert retry.delay_after(3, retry_after=5) == 9
    assert retry.delay_after(1, retry_after=11) is None


def test_retry_options_are_checked() -> None:
    with pytest.raises(ValueError, match="max_attempts") as info:
        DeliveryRetry(max_attempts=0, initial_delay_seconds=-1)
    assert "initial_delay_seconds" in str(info.value)


def test_the_global_registry_is_configured_and_cleared(clock: FakeClock) -> None:
    channel = Scripted("rec", [DeliveryResult.fail("rec", "HTTP 502")])
    alert_registry.register(channel)
    alert_registry.configure(
        throttle_seconds=10, retry=DeliveryRetry(initial_delay_seconds=2), clock=clock
    )

    [result] = alert_registry.send_to_all(_alert())
    clock.advance(11)
    [later] = alert_registry.send_to_all(_alert())

    assert (result.success, result.attempt, clock.sleeps) == (True, 2, [2.0])
    assert later.throttled is False
    alert_registry.clear()
    assert alert_registry.list_channels() == []
    assert alert_registry.throttle_seconds == 300
    assert alert_registry.retry == DeliveryRetry()


# ---- channels that break the contract --------------------------------------------


class Sloppy(BaseChannel):
    """Forgets to return its result (returns None), as a hand-written channel may."""

    def __init__(self) -> None:
        super().__init__("a-sloppy", ChannelType.WEBHOOK, min_severity=AlertSeverity.INFO)

    def send(self, alert: Alert) -> DeliveryResult:
        return None  # type: ignore[return-value]


class BadFilter(Scripted):
    def should_send(self, alert: Alert) -> bool:
        raise KeyError("domain")


class ListLog:
    def __init__(self) -> None:
        self.records: list[DeliveryRecord] = []

    def record(self, record: DeliveryRecord) -> None:
        self.records.append(record)

    def recent(self, limit: int = 50) -> list[DeliveryRecord]:
        return self.records[::-1][:limit]


def test_a_channel_returning_no_result_fails_alone_and_is_not_retried(clock: FakeClock) -> None:
    registry = AlertRegistry(clock=clock)
    registry.register(Sloppy())
    fine = Scripted("b-fine")
    registry.register(fine)

    sloppy, delivered = registry.send_to_all(_alert())

    assert (sloppy.success, sloppy.retryable, sloppy.attempt) == (False, False, 1)
    assert "returned NoneType instead of a DeliveryResult" in (sloppy.message or "")
    assert delivered.success is True
    assert len(fine.sent) == 1
    assert clock.sleeps == []


def test_a_raising_filter_fails_that_channel_only_and_is_recorded(clock: FakeClock) -> None:
    log = ListLog()
    registry = AlertRegistry(clock=clock, log=log)
    broken = BadFilter("a-broken")
    registry.register(broken)
    registry.register(Scripted("b-fine"))

    failed, delivered = registry.send_to_all(_alert())
    single = registry.send(_alert(), "a-broken")

    assert (failed.channel_name, failed.success, failed.retryable) == ("a-broken", False, False)
    assert "should_send raised KeyError" in (failed.message or "")
    assert (single.success, delivered.success) == (False, True)
    assert broken.sent == []
    assert [(r.channel, r.success) for r in log.records] == [
        ("a-broken", False),
        ("b-fine", True),
        ("a-broken", False),
    ]


# ---- numbers that are not numbers -------------------------------------------------


@pytest.mark.parametrize("field", ["initial_delay_seconds", "max_delay_seconds",
                                   "backoff_multiplier", "max_total_seconds"])  # fmt: skip
@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_retry_options_refuse_values_that_are_not_finite(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=f"{field} must be a finite number"):
        DeliveryRetry(**{field: value})


def test_the_throttle_window_refuses_nan_and_takes_inf_as_for_ever(clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="throttle_seconds must be a number"):
        AlertRegistry(throttle_seconds=math.nan)
    registry = AlertRegistry(throttle_seconds=60, clock=clock)
    with pytest.raises(ValueError, match=r"got nan"):
        registry.configure(throttle_seconds=math.nan, retry=DeliveryRetry(max_attempts=1))
    assert (registry.throttle_seconds, registry.retry) == (60, DeliveryRetry())  # unchanged

    registry.configure(throttle_seconds=math.inf)
    registry.register(Scripted("rec"))
    [first] = registry.send_to_all(_alert())
    clock.advance(10 * 365 * 86400)
    [later] = registry.send_to_all(_alert())

    assert (first.throttled, later.throttled, later.suppressed) == (False, True, 1)
    assert "window for ever" in (later.message or "")


# ---- the time budget of a delivery --------------------------------------------------


class TimingOut(Scripted):
    """Fails retryably after ``seconds`` of the fake clock, as a dead host's timeout does."""

    def __init__(self, name: str, clock: FakeClock, seconds: float) -> None:
        super().__init__(name)
        self.clock = clock
        self.seconds = seconds

    def send(self, alert: Alert) -> DeliveryResult:
        self.sent.append(alert)
        self.clock.advance(self.seconds)
        return DeliveryResult.fail(self.name, "ConnectTimeout: timed out")


def test_a_dead_channel_is_not_retried_past_the_time_budget(clock: FakeClock) -> None:
    registry = AlertRegistry(clock=clock)  # the default budget: 15 s
    registry.register(TimingOut("dead", clock, seconds=10))
    started = clock.time()

    [result] = registry.send_to_all(_alert())

    # Without the budget: 3 attempts of 10 s, waits of 1 s and 2 s: 33 s per alert.
    assert (result.success, result.attempt, clock.sleeps) == (False, 1, [])
    assert clock.time() - started == 10
    assert "max_total_seconds=15" in (result.message or "")


def test_quick_failures_are_retried_within_the_budget(clock: FakeClock) -> None:
    def failing() -> list[DeliveryResult | Exception]:
        return [DeliveryResult.fail("rec", "HTTP 503")] * 3

    registry = AlertRegistry(clock=clock)
    registry.register(Scripted("rec", failing()))
    [default] = registry.send_to_all(_alert())
    assert (default.attempt, clock.sleeps) == (3, [1.0, 2.0])

    clock.sleeps.clear()
    tight = AlertRegistry(retry=DeliveryRetry(max_total_seconds=2.5), clock=clock)
    tight.register(Scripted("rec", failing()))
    [result] = tight.send_to_all(_alert())
    # After 1 s of waiting, a second wait of 2 s would end past 2.5 s: no third attempt.
    assert (result.attempt, clock.sleeps) == (2, [1.0])
    assert "max_total_seconds=2.5" in (result.message or "")
