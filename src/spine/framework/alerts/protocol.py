"""spine-core's ``spine.framework.alerts.protocol``: the alert data types and what a
channel is, for code written against it. They live in ``spine.framework.alerts``."""

from spine.framework.alerts.channels import AlertChannel, BaseChannel, ConsoleChannel
from spine.framework.alerts.model import Alert, AlertSeverity, ChannelType, DeliveryResult

__all__ = [
    "Alert",
    "AlertChannel",
    "AlertSeverity",
    "BaseChannel",
    "ChannelType",
    "ConsoleChannel",
    "DeliveryResult",
]
