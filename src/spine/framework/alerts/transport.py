"""JSON over HTTP for the Slack and webhook channels, with the retry decision made here.

``httpx2`` is imported when a channel sends, so importing the alerts package
stays light.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from spine.core.errors import describe_exception
from spine.framework.alerts.model import DeliveryResult

DEFAULT_TIMEOUT_SECONDS = 10.0


def url_problem(url: str) -> str | None:
    """What is wrong with ``url`` as a webhook URL, or ``None``; never shows its path."""
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.hostname:
        return None
    got = f"{parts.scheme}://..." if parts.scheme else "no scheme"
    return f"must be an http:// or https:// URL with a host, got {got}"


def check_http_url(url: str, what: str) -> str:
    """``url`` when it is an http(s) URL with a host; a ``ValueError`` naming ``what`` if not."""
    problem = url_problem(url)
    if problem is not None:
        raise ValueError(f"{what} {problem}")
    return url


def redact(url: str) -> str:
    """The scheme and host of ``url`` only: webhook paths and queries carry secrets."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return "<invalid URL>"
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}/..."


def post_json(
    channel_name: str,
    url: str,
    payload: Mapping[str, Any],
    *,
    headers: Mapping[str, str] | None = None,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
) -> DeliveryResult:
    """POST ``payload`` as JSON; any 2xx is a success, never raises for HTTP trouble."""
    import httpx2

    # default=str: alert metadata may hold dates or other values JSON cannot hold.
    body = json.dumps(payload, default=str).encode()
    sent_headers = {"Content-Type": "application/json", **(headers or {})}
    where = redact(url)
    try:
        with httpx2.Client(timeout=timeout_seconds) as client:
            response = client.post(url, content=body, headers=sent_headers)
    except (httpx2.InvalidURL, httpx2.UnsupportedProtocol) as exc:
        return DeliveryResult.fail(
            channel_name, f"cannot post to {where}: {describe_exception(exc)}", retryable=False
        )
    except httpx2.TransportError as exc:
        # A TLS failure (an untrusted certificate, TLS spoken to a plain-HTTP port)
        # recurs on every attempt; timeouts and dropped connections may pass.
        tls = not isinstance(exc, httpx2.TimeoutException) and _tls_failure(exc)
        return DeliveryResult.fail(
            channel_name, f"{describe_exception(exc)} (posting to {where})", retryable=not tls
        )
    status = response.status_code
    if 200 <= status < 300:
        return DeliveryResult.ok(channel_name, f"HTTP {status}")
    reason = f"HTTP {status} from {where}: {response.text[:200].strip() or response.reason_phrase}"
    # 429 and 5xx are the receiver's trouble and may pass; any other answer means the
    # request itself is wrong (a revoked webhook, a bad token) and would fail again.
    retryable = status == 429 or status >= 500
    return DeliveryResult.fail(
        channel_name,
        reason,
        retryable=retryable,
        retry_after=_retry_after(response.headers.get("Retry-After")) if retryable else None,
    )


def _tls_failure(exc: BaseException) -> bool:
    """Whether an ``ssl.SSLError`` caused ``exc`` (httpx wraps it in its own errors)."""
    import ssl

    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, ssl.SSLError):
            return True
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return False


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header: a number of seconds or an HTTP date."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
    else:
        return max(seconds, 0.0) if math.isfinite(seconds) else None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)
