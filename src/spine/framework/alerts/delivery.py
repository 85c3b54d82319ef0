"""Retries: a failed delivery is tried again, with backoff, when it may succeed."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from spine.core.clock import Clock
from spine.framework.alerts.channels import BaseChannel
from spine.framework.alerts.model import Alert, DeliveryResult

logger = logging.getLogger("spine.alerts")


@dataclass(frozen=True, slots=True)
class DeliveryRetry:
    """How often, and how patiently, a channel's failed delivery is tried again."""

    max_attempts: int = 3
    """Attempts in all, the first included; 1 never retries."""
    initial_delay_seconds: float = 1.0
    """Wait before the second attempt."""
    backoff_multiplier: float = 2.0
    """Each later wait is this many times the one before."""
    max_delay_seconds: float = 30.0
    """No wait is longer. A receiver asking (``Retry-After``) for more is not retried."""
    max_total_seconds: float = 15.0
    """The budget of one delivery to one channel, attempts and waits included: no retry
    starts that would end past it, judging by how long the last attempt took. The first
    attempt is always made. Sending is synchronous (a run's alert is sent by the thread
    that ran it), so this bounds how long a dead channel holds that thread up."""

    def __post_init__(self) -> None:
        problems = []
        attempts = self.max_attempts
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            problems.append(f"max_attempts must be a whole number, 1 or more, got {attempts!r}")
        for name, least in (
            ("initial_delay_seconds", 0.0),
            ("backoff_multiplier", 1.0),
            ("max_delay_seconds", 0.0),
            ("max_total_seconds", 0.0),
        ):
            value = getattr(self, name)
            # NaN passes every comparison, and an infinite wait would hold the sender for ever.
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value < least
            ):
                problems.append(f"{name} must be a finite number, {least:g} or more, got {value!r}")
        if problems:
            raise ValueError("DeliveryRetry: " + "; ".join(problems))

    def delay_after(self, attempt: int, retry_after: float | None = None) -> float | None:
        """Seconds to wait after failed attempt ``attempt`` (from 1).

        ``None`` when the receiver asked to wait longer than ``max_delay_seconds``:
        an alert held back that long would block its sender.
        """
        backoff = min(
            self.initial_delay_seconds * self.backoff_multiplier ** (attempt - 1),
            self.max_delay_seconds,
        )
        if retry_after is None:
            return backoff
        if retry_after > self.max_delay_seconds:
            return None
        return max(backoff, retry_after)


def deliver(
    channel: BaseChannel, alert: Alert, retry: DeliveryRetry, clock: Clock
) -> DeliveryResult:
    """Send ``alert`` on ``channel``, retrying retryable failures; never raises."""
    attempt = 1
    started = clock.time()
    while True:
        before = clock.time()
        result = _attempt(channel, alert)
        took = clock.time() - before
        result.attempt = attempt
        if result.success or not result.retryable or attempt >= retry.max_attempts:
            return result
        delay = retry.delay_after(attempt, result.retry_after)
        if delay is None:
            result.message = (
                f"{result.message}; not retried: asked to wait {result.retry_after:g}s, "
                f"more than max_delay_seconds={retry.max_delay_seconds:g}"
            )
            return result
        spent = clock.time() - started
        if spent + delay + took > retry.max_total_seconds:
            result.message = (
                f"{result.message}; not retried: {spent:.1f}s spent, and waiting {delay:g}s "
                f"for an attempt like the last ({took:.1f}s) would pass "
                f"max_total_seconds={retry.max_total_seconds:g}"
            )
            return result
        logger.warning(
            "alert %r: channel %r failed (attempt %d of %d): %s; retrying in %gs",
            alert.title,
            channel.name,
            attempt,
            retry.max_attempts,
            result.message,
            delay,
        )
        clock.sleep(delay)
        attempt += 1


def _attempt(channel: BaseChannel, alert: Alert) -> DeliveryResult:
    try:
        result = channel.send(alert)
    except Exception as exc:
        logger.error("alert channel %r raised instead of reporting", channel.name, exc_info=exc)
        # A network error may pass; any other exception is a bug that would recur.
        return DeliveryResult.fail(channel.name, exc, retryable=isinstance(exc, OSError))
    if isinstance(result, DeliveryResult):
        return result
    # A channel of the user's own that forgets to return its result: whatever it did,
    # nobody can tell whether the alert went out, and sending again would do the same.
    logger.error(
        "alert channel %r: send() returned %s instead of a DeliveryResult",
        channel.name,
        type(result).__name__,
    )
    return DeliveryResult.fail(
        channel.name,
        f"send() returned {type(result).__name__} instead of a DeliveryResult; "
        "make the channel's send return DeliveryResult.ok(...) or DeliveryResult.fail(...)",
        retryable=False,
    )
