"""Alerts: ``send_alert`` and the channels that deliver them.

With no channel registered, an alert is logged on the ``spine.alerts`` logger.
"""

from spine.framework.alerts.channels import BaseChannel, ConsoleChannel
from spine.framework.alerts.model import Alert, AlertSeverity, ChannelType, DeliveryResult
from spine.framework.alerts.registry import AlertRegistry, alert_registry, send_alert

__all__ = [
    "Alert",
    "AlertRegistry",
    "AlertSeverity",
    "BaseChannel",
    "ChannelType",
    "ConsoleChannel",
    "DeliveryResult",
    "alert_registry",
    "send_alert",
]
