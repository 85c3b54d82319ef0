"""The web UI and JSON API over the run history (extra ``[web]``).

``create_app(database_url)`` builds the ASGI application; ``spine ui`` serves it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI


def create_app(database_url: str, *, token: str | None = None) -> FastAPI:
    """The UI and API for the history at ``database_url``.

    ``token`` (default: the ``SPINE_API_TOKEN`` environment variable) is the bearer
    token that starting runs through the API requires; without one, starting runs is
    refused.
    """
    try:
        from spine.web.app import build
    except ImportError as exc:
        raise ImportError(
            f"the web UI needs the [web] extra: pip install 'spine-orchestration[web]' ({exc})"
        ) from exc
    return build(database_url, token=token)


__all__ = ["create_app"]
