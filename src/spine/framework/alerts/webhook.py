"""A generic JSON webhook: the alert's ``to_dict()`` POSTed to any URL."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from spine.framework.alerts.channels import BaseChannel
from spine.framework.alerts.model import Alert, AlertSeverity, ChannelType, DeliveryResult
from spine.framework.alerts.transport import DEFAULT_TIMEOUT_SECONDS, check_http_url, post_json


class WebhookChannel(BaseChannel):
    """POSTs ``alert.to_dict()`` as JSON to ``url`` with ``headers`` (e.g. an API key)."""

    def __init__(
        self,
        name: str,
        url: str,
        headers: Mapping[str, str] | None = None,
        *,
        min_severity: AlertSeverity = AlertSeverity.ERROR,
        domains: Iterable[str] | None = None,
        enabled: bool = True,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        super().__init__(
            name, ChannelType.WEBHOOK, min_severity=min_severity, domains=domains, enabled=enabled
        )
        self._url = check_http_url(url, f"webhook channel {name!r}: url")
        self._headers = dict(headers or {})
        self._timeout_seconds = timeout_seconds

    def send(self, alert: Alert) -> DeliveryResult:
        return post_json(
            self.name,
            self._url,
            alert.to_dict(),
            headers=self._headers,
            timeout_seconds=self._timeout_seconds,
        )
