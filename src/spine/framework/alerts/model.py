"""Alerts and delivery outcomes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from spine.core.errors import describe_exception


class AlertSeverity(StrEnum):
    """How urgent an alert is; severities compare by urgency (``INFO < CRITICAL``)."""

    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"
    CRITICAL = "CRITICAL"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def __lt__(self, other: str) -> bool:
        return self.rank < AlertSeverity(other).rank

    def __le__(self, other: str) -> bool:
        return self.rank <= AlertSeverity(other).rank

    def __gt__(self, other: str) -> bool:
        return self.rank > AlertSeverity(other).rank

    def __ge__(self, other: str) -> bool:
        return self.rank >= AlertSeverity(other).rank


_RANK = {s: i for i, s in enumerate(AlertSeverity)}


class ChannelType(StrEnum):
    """The kind of destination a channel delivers to.

    ``SERVICENOW`` and ``PAGERDUTY`` have no built-in channel: they are for channels
    written by subclassing ``BaseChannel``, as in spine-core.
    """

    CONSOLE = "console"
    EMAIL = "email"
    SLACK = "slack"
    WEBHOOK = "webhook"
    SERVICENOW = "servicenow"
    PAGERDUTY = "pagerduty"


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Alert:
    """One alert. Alerts with the same fingerprint are the same incident."""

    severity: AlertSeverity
    title: str
    message: str
    source: str
    domain: str | None = None
    execution_id: str | None = None
    run_id: str | None = None
    error: BaseException | None = None
    """The exception the alert is about, if any (sent as ``"Type: message"``)."""
    metadata: dict[str, Any] = field(default_factory=dict)
    created_at: datetime = field(default_factory=_utcnow)
    fingerprint: str | None = None

    def __post_init__(self) -> None:
        self.severity = AlertSeverity(self.severity)
        if self.fingerprint is None:
            parts = [self.severity.value, self.source, self.title]
            if self.domain:
                parts.append(self.domain)
            self.fingerprint = "|".join(parts)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "severity": self.severity.value,
            "title": self.title,
            "message": self.message,
            "source": self.source,
            "created_at": self.created_at.isoformat(),
            "fingerprint": self.fingerprint,
        }
        for key in ("domain", "execution_id", "run_id"):
            if getattr(self, key):
                data[key] = getattr(self, key)
        if self.error is not None:
            data["error"] = describe_exception(self.error)
        if self.metadata:
            data["metadata"] = dict(self.metadata)
        return data


@dataclass
class DeliveryResult:
    """What one channel did with one alert.

    A channel reports a failure in its result rather than raising. ``retryable``
    says whether trying again may help (a timeout, HTTP 5xx or 429) or not (HTTP
    400, a refused login); ``retry_after`` is the wait, in seconds, the receiver
    asked for. A ``throttled`` result is a duplicate that was not sent: it counts
    as a success, ``attempt`` is 0 and ``suppressed`` is how many duplicates the
    throttle has held back so far. On a delivered alert, ``suppressed`` is how many
    duplicates were held back since the previous delivery.
    """

    channel_name: str
    success: bool
    message: str | None = None
    response: dict[str, Any] | None = None
    """What the receiver answered, when a channel keeps it."""
    error: BaseException | str | None = None
    delivered_at: datetime = field(default_factory=_utcnow)
    attempt: int = 1
    retryable: bool = True
    retry_after: float | None = None
    throttled: bool = False
    suppressed: int = 0

    @classmethod
    def ok(
        cls,
        channel_name: str,
        message: str | None = None,
        *,
        response: dict[str, Any] | None = None,
    ) -> DeliveryResult:
        return cls(channel_name=channel_name, success=True, message=message, response=response)

    @classmethod
    def fail(
        cls,
        channel_name: str,
        error: BaseException | str,
        attempt: int = 1,
        *,
        retryable: bool = True,
        retry_after: float | None = None,
    ) -> DeliveryResult:
        return cls(
            channel_name=channel_name,
            success=False,
            message=str(error),
            error=error,
            attempt=attempt,
            retryable=retryable,
            retry_after=retry_after,
        )
