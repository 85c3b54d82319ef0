"""Slack through an incoming webhook: a plain-text fallback plus Block Kit blocks."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from spine.framework.alerts.channels import BaseChannel
from spine.framework.alerts.model import Alert, AlertSeverity, ChannelType, DeliveryResult
from spine.framework.alerts.transport import DEFAULT_TIMEOUT_SECONDS, check_http_url, post_json

_EMOJI = {
    AlertSeverity.INFO: ":information_source:",
    AlertSeverity.WARNING: ":warning:",
    AlertSeverity.ERROR: ":x:",
    AlertSeverity.CRITICAL: ":rotating_light:",
}
# Slack rejects a whole message whose header or section text is longer than these.
_HEADER_LIMIT = 150
_SECTION_LIMIT = 3000


class SlackChannel(BaseChannel):
    """Posts alerts to a Slack incoming webhook (``https://hooks.slack.com/services/...``).

    ``channel``, ``username`` and ``icon_emoji`` are sent only when given; Slack
    honours them for legacy webhooks, while app webhooks post where they were
    installed.
    """

    def __init__(
        self,
        name: str,
        webhook_url: str,
        *,
        channel: str | None = None,
        username: str | None = None,
        icon_emoji: str | None = None,
        min_severity: AlertSeverity = AlertSeverity.ERROR,
        domains: Iterable[str] | None = None,
        enabled: bool = True,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        super().__init__(
            name, ChannelType.SLACK, min_severity=min_severity, domains=domains, enabled=enabled
        )
        self._webhook_url = check_http_url(webhook_url, f"Slack channel {name!r}: webhook_url")
        self._extras = {
            key: value
            for key, value in (
                ("channel", channel),
                ("username", username),
                ("icon_emoji", icon_emoji),
            )
            if value
        }
        self._timeout_seconds = timeout_seconds

    def payload(self, alert: Alert) -> dict[str, Any]:
        """The JSON body posted to Slack for ``alert``."""
        emoji = _EMOJI[alert.severity]
        details = [f"*Severity:* {alert.severity.value}", f"*Source:* {_escape(alert.source)}"]
        if alert.domain:
            details.append(f"*Domain:* {_escape(alert.domain)}")
        if alert.run_id:
            details.append(f"*Run:* {_escape(alert.run_id)}")
        blocks: list[dict[str, Any]] = [
            {
                "type": "header",
                "text": {
                    "type": "plain_text",
                    "text": _clip(f"{emoji} {alert.title}", _HEADER_LIMIT),
                    "emoji": True,
                },
            }
        ]
        if alert.message.strip():
            blocks.append(
                {
                    "type": "section",
                    "text": {
                        "type": "mrkdwn",
                        "text": _clip(_escape(alert.message), _SECTION_LIMIT),
                    },
                }
            )
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": d} for d in details]}
        )
        return {
            # Notifications and clients without blocks show this text.
            "text": f"{emoji} [{alert.severity.value}] {_escape(alert.title)}",
            "blocks": blocks,
            **self._extras,
        }

    def send(self, alert: Alert) -> DeliveryResult:
        return post_json(
            self.name,
            self._webhook_url,
            self.payload(alert),
            timeout_seconds=self._timeout_seconds,
        )


def _escape(text: str) -> str:
    # The three characters Slack's mrkdwn reserves for links and mentions.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
