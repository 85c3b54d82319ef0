"""The channel registry and ``send_alert``."""

from __future__ import annotations

import logging
import threading
from typing import Any

from spine.framework.alerts.channels import BaseChannel
from spine.framework.alerts.model import Alert, AlertSeverity, DeliveryResult

logger = logging.getLogger("spine.alerts")

_ALERT_FIELDS = {"domain", "execution_id", "run_id", "metadata", "fingerprint"}


class AlertRegistry:
    """Named channels; ``send_to_all`` delivers to each channel whose filters pass."""

    def __init__(self) -> None:
        self._channels: dict[str, BaseChannel] = {}
        self._lock = threading.Lock()

    def register(self, channel: BaseChannel) -> BaseChannel:
        with self._lock:
            self._channels[channel.name] = channel
        return channel

    def unregister(self, name: str) -> BaseChannel | None:
        with self._lock:
            return self._channels.pop(name, None)

    def get(self, name: str) -> BaseChannel | None:
        return self._channels.get(name)

    def list_channels(self) -> list[str]:
        return sorted(self._channels)

    def clear(self) -> None:
        with self._lock:
            self._channels.clear()

    def send(self, alert: Alert, channel_name: str) -> DeliveryResult:
        channel = self._channels.get(channel_name)
        if channel is None:
            return DeliveryResult.fail(channel_name, f"no channel named {channel_name!r}")
        if not channel.should_send(alert):
            return DeliveryResult.ok(channel_name, "Filtered (severity/domain)")
        return _deliver(channel, alert)

    def send_to_all(self, alert: Alert) -> list[DeliveryResult]:
        """Deliver to every channel that takes the alert; one failure never stops the rest.

        An alert no channel takes is logged on the ``spine.alerts`` logger, so it is
        never silently dropped.
        """
        with self._lock:
            channels = list(self._channels.values())
        results = [_deliver(c, alert) for c in channels if c.should_send(alert)]
        if not results:
            logger.warning(
                "alert not delivered (no channel takes it): [%s] %s - %s (source=%s, run=%s)",
                alert.severity.value,
                alert.title,
                alert.message,
                alert.source,
                alert.run_id,
            )
        return results


def _deliver(channel: BaseChannel, alert: Alert) -> DeliveryResult:
    try:
        return channel.send(alert)
    except Exception as exc:
        logger.exception("alert channel %r failed", channel.name)
        return DeliveryResult.fail(channel.name, exc)


alert_registry = AlertRegistry()


def send_alert(
    severity: AlertSeverity | str,
    title: str,
    message: str,
    source: str,
    **fields: Any,
) -> list[DeliveryResult]:
    """Build an :class:`Alert` and send it to every registered channel that takes it.

    Keyword ``fields`` set ``domain``, ``run_id``, ``execution_id`` or ``metadata``;
    any other keyword is kept in ``metadata``.
    """
    known = {k: v for k, v in fields.items() if k in _ALERT_FIELDS}
    extra = {k: v for k, v in fields.items() if k not in _ALERT_FIELDS}
    if extra:
        known["metadata"] = {**known.get("metadata", {}), **extra}
    alert = Alert(
        severity=AlertSeverity(severity), title=title, message=message, source=source, **known
    )
    return alert_registry.send_to_all(alert)
