"""The delivery log: one record per delivery result, kept where the store puts it.

The framework defines the record and the ``DeliveryLog`` protocol; the store
implements it (``spine.store.SqlDeliveryLog``), so alerts never import SQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from spine.core.errors import describe_exception
from spine.core.ids import new_id
from spine.framework.alerts.channels import BaseChannel
from spine.framework.alerts.model import Alert, AlertSeverity, DeliveryResult


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """What one channel did with one alert, as the delivery log keeps it."""

    fingerprint: str
    """The incident: severity, source, title and domain (see ``Alert.fingerprint``)."""
    severity: AlertSeverity
    title: str
    message: str
    source: str
    channel: str
    """The channel's name."""
    channel_type: str
    success: bool
    """Delivered, or throttled (a duplicate not sent on purpose)."""
    attempts: int
    """Attempts made; 0 for a throttled alert."""
    created_at: datetime
    """When the alert was raised."""
    delivered_at: datetime
    """When the channel finished with it (delivered or not)."""
    domain: str | None = None
    run_id: str | None = None
    error: str | None = None
    """Why the last attempt failed."""
    throttled: bool = False
    suppressed: int = 0
    """Duplicates held back: reported on this delivery, or so far when throttled."""
    id: str = field(default_factory=new_id)

    @classmethod
    def of(cls, alert: Alert, channel: BaseChannel, result: DeliveryResult) -> DeliveryRecord:
        error: str | None = None
        if not result.success:
            raw = result.error
            error = describe_exception(raw) if isinstance(raw, BaseException) else raw
            error = error or result.message
        return cls(
            fingerprint=alert.fingerprint or "",
            severity=alert.severity,
            title=alert.title,
            message=alert.message,
            source=alert.source,
            channel=channel.name,
            channel_type=channel.channel_type.value,
            success=result.success,
            attempts=result.attempt,
            created_at=alert.created_at,
            delivered_at=result.delivered_at,
            domain=alert.domain,
            run_id=alert.run_id,
            error=error,
            throttled=result.throttled,
            suppressed=result.suppressed,
        )


class DeliveryLog(Protocol):
    """Where delivery records are kept (``spine.store.SqlDeliveryLog``)."""

    def record(self, record: DeliveryRecord) -> None: ...

    def recent(self, limit: int = 50) -> list[DeliveryRecord]:
        """The latest ``limit`` records, newest first."""
        ...
