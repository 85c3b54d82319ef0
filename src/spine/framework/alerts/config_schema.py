"""What an alert config may say: the fields of each channel type, and how values are checked.

Each converter takes a raw value (from YAML, JSON or an environment variable) and
returns what the channel's constructor takes, or raises :class:`Bad` saying what
is wanted and what it got. The reader shows the value it got, except for the
fields in :data:`SECRET` (passwords, webhook URLs, headers), where it names the
value's type only.
"""

from __future__ import annotations

import math
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

_NOTHING = object()


class Bad(Exception):
    """A value a converter cannot take: what is wanted, and the value it ``got``.

    ``str()`` names the type of the value only, which is safe for a secret;
    :meth:`describe` shows the value itself when the field is not secret.
    """

    def __init__(self, wanted: str, got: Any = _NOTHING) -> None:
        super().__init__(wanted)
        self.wanted = wanted
        self.got = got

    def describe(self, *, secret: bool) -> str:
        if self.got is _NOTHING:
            return self.wanted
        shown = kind_of(self.got) if secret else _shown(self.got)
        return f"{self.wanted}, got {shown}"

    def __str__(self) -> str:
        return self.describe(secret=True)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Bad("must be a non-empty string", value)
    return value


def _url(value: Any) -> str:
    problem = url_problem(_text(value))
    if problem is not None:
        raise Bad(problem)
    return str(value)


def _address(value: Any) -> str:
    if "@" not in _text(value):
        raise Bad("must be an e-mail address", value)
    return str(value)


def _addresses(value: Any) -> list[str]:
    found = _text_list(value)
    for address in found:
        _address(address)
    return found


def _parsed_number(value: Any, wanted: str) -> float:
    found = value
    if isinstance(value, str):
        try:
            found = float(value)
        except ValueError:
            raise Bad(wanted, value) from None
    # NaN compares false with everything: it would pass "0 or more", then make every
    # wait and every window meaningless.
    if (
        isinstance(found, bool)
        or not isinstance(found, int | float)
        or math.isnan(found)
        or found < 0
    ):
        raise Bad(wanted, value)
    return float(found)


def number(value: Any) -> float:
    """A finite number, 0 or more (timeouts, retry delays)."""
    wanted = "must be a finite number, 0 or more"
    found = _parsed_number(value, wanted)
    if math.isinf(found):
        raise Bad(wanted, value)
    return found


def window(value: Any) -> float:
    """A throttle window in seconds: 0 or more, or ``inf`` for ever."""
    return _parsed_number(value, "must be a number of seconds, 0 or more (inf: for ever)")


def _integer(value: Any) -> int:
    found = value
    if isinstance(value, str) and value.strip().isdigit():
        found = int(value)
    if isinstance(found, bool) or not isinstance(found, int) or found < 1:
        raise Bad("must be a whole number, 1 or more", value)
    return found


_FLAGS = {"true": True, "yes": True, "on": True, "1": True}
_FLAGS |= {"false": False, "no": False, "off": False, "0": False}


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _FLAGS:
        return _FLAGS[value.strip().lower()]
    raise Bad("must be true or false", value)


def _text_list(value: Any) -> list[str]:
    # A comma-separated string is accepted: that is how environment variables hold lists.
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) and i.strip() for i in items):
        raise Bad("must be a list of non-empty strings", value)
    found = [i.strip() for i in items]
    if not found:
        raise Bad("must list one value or more")
    return found


def _text_map(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise Bad("must be a mapping of names to strings", value)
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

SECRET = frozenset({"smtp_password", "headers", "url", "webhook_url"})
"""Fields whose values an error never shows: a password, and the tokens that webhook
URLs (in their paths) and headers carry."""

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
RETRY_FIELDS: dict[str, Convert] = {
    f.name: _integer if f.name == "max_attempts" else number for f in fields(DeliveryRetry)
}
TOP_LEVEL = ("channels", "throttle_seconds", "retry")
