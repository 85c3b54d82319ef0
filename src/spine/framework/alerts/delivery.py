"""Retries: a failed delivery is tried again, with backoff, when it may succeed."""

from __future__ import annotations

import logging
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

    def __post_init__(self) -> None:
        problems = []
        if self.max_attempts < 1:
            problems.append(f"max_attempts must be 1 or more, got {self.max_attempts!r}")
        if self.initial_delay_seconds < 0:
            problems.append(
                f"initial_delay_seconds must be 0 or more, got {self.initial_delay_seconds!r}"
            )
        if self.backoff_multiplier < 1:
            problems.append(
                f"backoff_multiplier must be 1 or more, got {self.backoff_multiplier!r}"
            )
        if self.max_delay_seconds < 0:
            problems.append(f"max_delay_seconds must be 0 or more, got {self.max_delay_seconds!r}")
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
    while True:
        result = _attempt(channel, alert)
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
        return channel.send(alert)
    except Exception as exc:
        logger.error("alert channel %r raised instead of reporting", channel.name, exc_info=exc)
        # A network error may pass; any other exception is a bug that would recur.
        return DeliveryResult.fail(channel.name, exc, retryable=isinstance(exc, OSError))
