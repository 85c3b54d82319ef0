"""What one web app is configured with: its history, its token, the names it answers
to and the largest body it takes."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

MAX_BODY = 1 << 20
"""The largest request body taken by default: 1 MiB."""
LOGIN_BODY = 16 << 10
"""The largest body of the login form (a token and a path), which anyone may send."""
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
ALL_INTERFACES = frozenset({"0.0.0.0", "::"})


@dataclass(frozen=True, slots=True)
class WebSettings:
    database_url: str
    """The history the app reads, and where the runs it starts are queued."""
    token: str | None
    """What every route requires (see :mod:`spine.web.guard`); ``None``: no token."""
    hosts: frozenset[str]
    """The names a request's ``Host`` header may give (see :func:`allowed_hosts`)."""
    max_body: int = MAX_BODY
    """The largest request body taken, in bytes."""

    @classmethod
    def of(
        cls,
        database_url: str,
        token: str | None,
        *,
        host: str = "127.0.0.1",
        allowed: Iterable[str] = (),
        max_body: int | None = None,
    ) -> WebSettings:
        """``token`` if given, else ``SPINE_API_TOKEN`` (an empty one counts as none);
        the hosts of a server bound to ``host``, and ``allowed``; ``max_body`` bytes
        (default :data:`MAX_BODY`)."""
        max_body = MAX_BODY if max_body is None else max_body
        if max_body < 1:
            raise ValueError(f"max_body must be a positive number of bytes, not {max_body}")
        token = token if token is not None else os.environ.get("SPINE_API_TOKEN") or None
        return cls(database_url, token, allowed_hosts(host, allowed), max_body)


def allowed_hosts(bound: str, extra: Iterable[str] = ()) -> frozenset[str]:
    """The names a request's ``Host`` may give for a server bound to ``bound``: that
    address, the loopback names when it is loopback or every interface, and ``extra``
    (names, or comma-separated lists of them)."""
    names = {
        name.strip().strip("[]").lower()
        for entry in extra
        for name in entry.split(",")
        if name.strip()
    }
    bound = bound.strip("[]").lower()
    if bound in LOOPBACK_NAMES or bound in ALL_INTERFACES:
        names |= LOOPBACK_NAMES
    if bound not in ALL_INTERFACES:
        names.add(bound)
    return frozenset(names)
