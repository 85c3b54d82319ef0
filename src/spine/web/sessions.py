"""Browser sessions of a UI that has a token: opened by the login page, kept in memory.

A session is a random id in an HttpOnly, SameSite=Strict cookie (never the token
itself) and a CSRF token of its own, which state-changing requests authenticated by the
cookie must send back in the ``X-CSRF-Token`` header. Sessions live in this process
only: a restart signs everyone out, and signing out ends the session on the server.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass

COOKIE = "spine_session"
SESSION_SECONDS = 12 * 3600
"""How long a session lasts after its login."""
MAX_SESSIONS = 1000
"""Most sessions kept at once (only logins that knew the token open one); a login
beyond that ends the oldest."""


@dataclass(frozen=True, slots=True)
class Session:
    csrf: str
    """What the session's pages send back in ``X-CSRF-Token``."""
    expires_at: float


class Sessions:
    """The open sessions of one app, by id."""

    def __init__(self, seconds: float = SESSION_SECONDS) -> None:
        self.seconds = seconds
        self._open: dict[str, Session] = {}
        self._lock = threading.Lock()

    def open(self) -> str:
        """A new session; its id (the cookie's value)."""
        now = time.time()
        session_id = secrets.token_urlsafe(32)
        with self._lock:
            for key in [k for k, s in self._open.items() if s.expires_at <= now]:
                del self._open[key]
            while len(self._open) >= MAX_SESSIONS:
                del self._open[next(iter(self._open))]  # the oldest: dicts keep order
            self._open[session_id] = Session(secrets.token_urlsafe(32), now + self.seconds)
        return session_id

    def get(self, session_id: str | None) -> Session | None:
        """The live session of this cookie value, if any."""
        if not session_id:
            return None
        with self._lock:
            session = self._open.get(session_id)
        if session is None or session.expires_at <= time.time():
            return None
        return session

    def close(self, session_id: str | None) -> None:
        with self._lock:
            self._open.pop(session_id or "", None)


def same_secret(sent: str, expected: str) -> bool:
    """Whether ``sent`` is ``expected``, in constant time: how long a refusal takes says
    nothing about the secret."""
    return hmac.compare_digest(sent.encode(), expected.encode())
