"""What a channel is (``AlertChannel``), the channel base class (filters by severity
and domain) and the console channel."""

from __future__ import annotations

import sys
from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import Protocol, TextIO, runtime_checkable

from spine.framework.alerts.model import Alert, AlertSeverity, ChannelType, DeliveryResult


def domain_matches(domain: str | None, patterns: Iterable[str]) -> bool:
    """``patterns`` match exactly, or by prefix when they end in ``*``."""
    if domain is None:
        return False
    for pattern in patterns:
        if pattern.endswith("*"):
            if domain.startswith(pattern[:-1]):
                return True
        elif domain == pattern:
            return True
    return False


@runtime_checkable
class AlertChannel(Protocol):
    """What the registry needs of a channel; :class:`BaseChannel` provides it all but
    ``send``."""

    @property
    def name(self) -> str: ...

    @property
    def channel_type(self) -> ChannelType: ...

    @property
    def min_severity(self) -> AlertSeverity: ...

    @property
    def enabled(self) -> bool: ...

    def should_send(self, alert: Alert) -> bool: ...

    def send(self, alert: Alert) -> DeliveryResult:
        """Deliver ``alert``; report failure in the result rather than raising."""
        ...


class BaseChannel(ABC):
    """A destination for alerts, with a minimum severity and optional domain filter."""

    def __init__(
        self,
        name: str,
        channel_type: ChannelType,
        *,
        min_severity: AlertSeverity = AlertSeverity.ERROR,
        domains: Iterable[str] | None = None,
        enabled: bool = True,
    ) -> None:
        self._name = name
        self._channel_type = ChannelType(channel_type)
        self._min_severity = AlertSeverity(min_severity)
        self._domains = list(domains) if domains else None
        self._enabled = enabled

    @property
    def name(self) -> str:
        return self._name

    @property
    def channel_type(self) -> ChannelType:
        return self._channel_type

    @property
    def min_severity(self) -> AlertSeverity:
        return self._min_severity

    @property
    def domains(self) -> list[str] | None:
        return self._domains

    @property
    def enabled(self) -> bool:
        return self._enabled

    def enable(self) -> None:
        self._enabled = True

    def disable(self) -> None:
        self._enabled = False

    def should_send(self, alert: Alert) -> bool:
        """True when the channel is enabled and the alert passes its filters."""
        if not self._enabled or alert.severity < self._min_severity:
            return False
        return self._domains is None or domain_matches(alert.domain, self._domains)

    @abstractmethod
    def send(self, alert: Alert) -> DeliveryResult:
        """Deliver ``alert``; report failure in the result rather than raising."""


class ConsoleChannel(BaseChannel):
    """Prints alerts to a stream (standard output by default)."""

    def __init__(
        self,
        name: str = "console",
        *,
        min_severity: AlertSeverity = AlertSeverity.INFO,
        domains: Iterable[str] | None = None,
        enabled: bool = True,
        stream: TextIO | None = None,
    ) -> None:
        super().__init__(
            name, ChannelType.CONSOLE, min_severity=min_severity, domains=domains, enabled=enabled
        )
        self._stream = stream

    def send(self, alert: Alert) -> DeliveryResult:
        stream = self._stream or sys.stdout
        lines = [f"[{alert.severity.value}] {alert.title}", f"  source: {alert.source}"]
        if alert.run_id:
            lines.append(f"  run: {alert.run_id}")
        lines.append(f"  {alert.message}")
        print("\n".join(lines), file=stream, flush=True)
        return DeliveryResult.ok(self.name, "printed")
