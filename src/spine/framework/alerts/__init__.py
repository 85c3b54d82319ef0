"""Alerts: ``send_alert`` and the channels that deliver them.

Channels (console, Slack, e-mail, JSON webhook) are registered on
``alert_registry`` in code or with ``configure_alerts`` from a file or the
environment. Duplicates are throttled, failed deliveries retried, and with a
delivery log (``spine.store.SqlDeliveryLog``) every delivery is recorded. With no
channel registered, an alert is logged on the ``spine.alerts`` logger.
"""

from typing import TYPE_CHECKING

from spine.core.lazy import lazy_exports
from spine.framework.alerts.channels import AlertChannel, BaseChannel, ConsoleChannel
from spine.framework.alerts.delivery import DeliveryRetry
from spine.framework.alerts.log import DeliveryLog, DeliveryRecord
from spine.framework.alerts.model import Alert, AlertSeverity, ChannelType, DeliveryResult
from spine.framework.alerts.registry import (
    AlertRegistry,
    alert_registry,
    recent_deliveries,
    send_alert,
)
from spine.framework.alerts.runs import run_alert
from spine.framework.alerts.slack import SlackChannel
from spine.framework.alerts.smtp import EmailChannel
from spine.framework.alerts.webhook import WebhookChannel

if TYPE_CHECKING:
    from spine.framework.alerts.config import configure_alerts, load_channels

# Reading channel configuration is for start-up code: loaded when first asked for.
__getattr__ = lazy_exports(
    __name__,
    dict.fromkeys(("configure_alerts", "load_channels"), "spine.framework.alerts.config"),
)

__all__ = [
    "Alert",
    "AlertChannel",
    "AlertRegistry",
    "AlertSeverity",
    "BaseChannel",
    "ChannelType",
    "ConsoleChannel",
    "DeliveryLog",
    "DeliveryRecord",
    "DeliveryResult",
    "DeliveryRetry",
    "EmailChannel",
    "SlackChannel",
    "WebhookChannel",
    "alert_registry",
    "configure_alerts",
    "load_channels",
    "recent_deliveries",
    "run_alert",
    "send_alert",
]
