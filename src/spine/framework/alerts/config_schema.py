"""What an alert config may say: the fields of each channel type, and how values are checked.

Each converter takes a raw value (from YAML, JSON or an environment variable) and
returns what the channel's constructor takes, or raises :class:`Bad` saying what
is wanted. Messages name a value's type, never the value, where it may be secret.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from spine.framework.alerts.channels import BaseChannel, ConsoleChannel
from spine.framework.alerts.delivery import DeliveryRetry
from spine.framework.alerts.model import AlertSeverity
from spine.framework.alerts.slack import SlackChannel
from spine.framework.alerts.smtp import EmailChannel
from spine.framework.alerts.transport import url_problem
from spine.framework.alerts.webhook import WebhookChannel


class Bad(Exception):
    """A value a converter cannot take; the text says what is wanted."""


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Bad(f"must be a non-empty string, got {kind_of(value)}")
    return value


def _url(value: Any) -> str:
    problem = url_problem(_text(value))
    if problem is not None:
        raise Bad(problem)
    return str(value)


def _address(value: Any) -> str:
    if "@" not in _text(value):
        raise Bad(f"must be an e-mail address, got {value!r}")
    return str(value)


def _addresses(value: Any) -> list[str]:
    found = _text_list(value)
    for address in found:
        _address(address)
    return found


def number(value: Any) -> float:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise Bad(f"must be a number, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise Bad(f"must be a number, 0 or more, got {kind_of(value)}")
    return float(value)


def _integer(value: Any) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise Bad(f"must be a whole number, 1 or more, got {kind_of(value)}")
    return value


_FLAGS = {"true": True, "yes": True, "on": True, "1": True}
_FLAGS |= {"false": False, "no": False, "off": False, "0": False}


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _FLAGS:
        return _FLAGS[value.strip().lower()]
    raise Bad(f"must be true or false, got {kind_of(value)}")


def _text_list(value: Any) -> list[str]:
    # A comma-separated string is accepted: that is how environment variables hold lists.
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) and i.strip() for i in items):
        raise Bad(f"must be a list of non-empty strings, got {kind_of(value)}")
    found = [i.strip() for i in items]
    if not found:
        raise Bad("must list one value or more")
    return found


def _text_map(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise Bad(f"must be a mapping of names to strings, got {kind_of(value)}")
    return {k: str(v) for k, v in value.items()}


def _severity(value: Any) -> AlertSeverity:
    choices = ", ".join(s.value for s in AlertSeverity)
    if not isinstance(value, str) or value.strip().upper() not in AlertSeverity.__members__:
        raise Bad(f"{value!r} is not one of {choices}")
    return AlertSeverity(value.strip().upper())


def _stream(value: Any) -> Any:
    streams = {"stdout": sys.stdout, "stderr": sys.stderr}
    if value not in streams:
        raise Bad(f"{value!r} is not stdout or stderr")
    return streams[value]


def kind_of(value: Any) -> str:
    # Names the type, not the value: the value may be a password.
    return "nothing" if value is None else type(value).__name__


Convert = Callable[[Any], Any]

# Fields every channel type takes, besides "type" and "name".
COMMON: dict[str, Convert] = {"min_severity": _severity, "domains": _text_list, "enabled": _flag}


@dataclass(frozen=True)
class Kind:
    """A channel type: its class, the fields it needs, and the converter of each own field."""

    build: Callable[..., BaseChannel]
    required: tuple[str, ...]
    fields: Mapping[str, Convert]


TYPES: dict[str, Kind] = {
    "console": Kind(ConsoleChannel, (), {"stream": _stream}),
    "slack": Kind(
        SlackChannel,
        ("webhook_url",),
        {
            "webhook_url": _url,
            "channel": _text,
            "username": _text,
            "icon_emoji": _text,
            "timeout_seconds": number,
        },
    ),
    "email": Kind(
        EmailChannel,
        ("smtp_host", "from_address", "recipients"),
        {
            "smtp_host": _text,
            "from_address": _address,
            "recipients": _addresses,
            "smtp_port": _integer,
            "smtp_user": _text,
            "smtp_password": _text,
            "use_tls": _flag,
            "use_ssl": _flag,
            "timeout_seconds": number,
        },
    ),
    "webhook": Kind(
        WebhookChannel,
        ("url",),
        {"url": _url, "headers": _text_map, "timeout_seconds": number},
    ),
}
RETRY_FIELDS = {
    f.name: _integer if f.name == "max_attempts" else number for f in fields(DeliveryRetry)
}
TOP_LEVEL = ("channels", "throttle_seconds", "retry")
