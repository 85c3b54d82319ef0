"""The web UI and JSON API over the run history (extra ``[web]``).

``create_app(database_url)`` builds the ASGI application; ``spine ui`` serves it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI


def create_app(
    database_url: str,
    *,
    token: str | None = None,
    host: str = "127.0.0.1",
    allowed_hosts: Iterable[str] = (),
    max_body: int | None = None,
) -> FastAPI:
    """The UI and API for the history at ``database_url``.

    ``token`` (default: the ``SPINE_API_TOKEN`` environment variable) is what every page
    and route then requires: ``Authorization: Bearer <token>``, or the session cookie
    the ``/login`` page sets. Without one, pages and actions are open: serve it on
    loopback only. Requests whose ``Host`` header is not ``host`` (the address the
    server is bound to; the loopback names too for a loopback or wildcard address) or
    one of ``allowed_hosts`` are refused, and so are bodies over ``max_body`` bytes (default 1 MiB).
    Runs it starts or resumes are queued for a worker (``spine ui`` runs one).
    """
    try:
        from spine.web.app import build
    except ImportError as exc:
        raise ImportError(
            f"the web UI needs the [web] extra: pip install 'spine-orchestration[web]' ({exc})"
        ) from exc
    return build(database_url, token=token, host=host, allowed_hosts=allowed_hosts,
                 max_body=max_body)  # fmt: skip


__all__ = ["create_app"]
