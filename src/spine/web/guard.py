"""Who may reach the app, and with how much: one ASGI middleware in front of every route.

Each HTTP request passes four checks, in this order, before any route runs and before
a byte of its body is read:

1. **Host**: the ``Host`` header must name the address the server is bound to, a
   loopback name when it is bound to loopback, or a name allowed by configuration;
   else 400. A page of another site whose name was made to resolve to this server (DNS
   rebinding) sends its own name, and is refused.
2. **Cross-site**: a state-changing request (any method but GET, HEAD and OPTIONS) that
   a browser sends from a page of another origin is refused with 403, as browsers say in
   ``Sec-Fetch-Site`` and ``Origin``. Clients that send neither (the CLI, scripts) pass.
3. **Token**: with a token configured, a request needs ``Authorization: Bearer <token>``
   (the scheme in any case) or the session cookie the login page sets; a
   state-changing request authenticated by the cookie must also send the session's
   CSRF token in ``X-CSRF-Token``. Pages without either redirect to ``/login``; API
   routes answer 401. Only ``/login`` is open. Without a token (the server then binds
   loopback only) the routes are open to whoever passes the first two checks.
4. **Body size**: a body over the limit is refused with 413, by its ``Content-Length``
   before it is read, or by its bytes counted as a chunked body streams in.

Every answer carries headers that keep pages out of other sites' frames and forbid
loading anything from elsewhere.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import quote, urlsplit

from starlette.exceptions import HTTPException

from spine.web.sessions import COOKIE, Sessions, same_secret
from spine.web.settings import LOGIN_BODY, WebSettings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
OPEN_PATHS = frozenset({"/login"})
"""Reached without the token: the page that asks for it."""
CSRF_HEADER = "x-csrf-token"
AUTH_SCOPE_KEY = "spine.auth"
"""Where the guard notes how a request was let in: ``"bearer"``, ``"session"`` or
``"open"`` (no token configured)."""
SECURITY_HEADERS = [
    (b"content-security-policy",
     b"default-src 'self'; script-src 'self'; style-src 'self' "
     b"'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; "
     b"form-action 'self'"),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]  # fmt: skip


def host_name(header: str) -> str | None:
    """The name in a ``Host`` header (``[::1]:8265`` → ``::1``); ``None`` if malformed."""
    header = header.strip().lower()
    if header.startswith("["):
        name, bracket, port = header[1:].partition("]")
        if not bracket or (port and not port.startswith(":")):
            return None
        port = port[1:]
    else:
        name, colon, port = header.partition(":")
        if colon and not port:
            return None
    if not name or (port and not port.isdigit()):
        return None
    return name


class Guard:
    """The checks above, around ``app``."""

    def __init__(self, app: ASGIApp, settings: WebSettings, sessions: Sessions) -> None:
        self.app = app
        self.settings = settings
        self.sessions = sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = _with_security_headers(send)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            await refusal(send)
            return
        limit = self.settings.max_body
        if scope["path"] in OPEN_PATHS:
            limit = min(limit, LOGIN_BODY)
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            code = 413 if declared.isdigit() else 400
            await _answer(code, f"request body over {limit} bytes" if code == 413
                          else "malformed Content-Length")(send)  # fmt: skip
            return
        await self.app(scope, _counted(receive, limit), send)

    def _refusal(self, scope: Scope, headers: dict[str, str]) -> Responder | None:
        host = headers.get("host", "")
        if host_name(host) not in self.settings.hosts:
            return _answer(400, f"Host {host!r} is not a name of this server; serve it "
                                "with --allowed-host NAME (or SPINE_ALLOWED_HOSTS)")  # fmt: skip
        unsafe = scope["method"] not in SAFE_METHODS
        if unsafe and _cross_site(headers, host):
            return _answer(403, "cross-site request refused")
        token = self.settings.token
        if token is None:
            scope[AUTH_SCOPE_KEY] = "open"
            return None
        if scope["path"] in OPEN_PATHS:
            return None
        authorization = headers.get("authorization")
        if authorization is not None:
            scheme, _, sent = authorization.strip().partition(" ")
            if scheme.lower() != "bearer" or not same_secret(sent.strip(), token):
                return _unauthorized("a valid bearer token is required")
            scope[AUTH_SCOPE_KEY] = "bearer"
            return None
        session = self.sessions.get(session_cookie(headers))
        if session is None:
            if scope["method"] in SAFE_METHODS and not _is_api(scope["path"]):
                return _to_login(scope)
            return _unauthorized("sign in, or send Authorization: Bearer <token>")
        if unsafe and not same_secret(headers.get(CSRF_HEADER, ""), session.csrf):
            return _answer(403, "missing or wrong CSRF token (X-CSRF-Token)")
        scope[AUTH_SCOPE_KEY] = "session"
        return None


Responder = Callable[[Send], Awaitable[None]]


def session_cookie(headers: dict[str, str]) -> str | None:
    """The session id in a request's ``Cookie`` header, if any."""
    cookie = SimpleCookie()
    try:
        cookie.load(headers.get("cookie", ""))
    except CookieError:
        return None
    morsel = cookie.get(COOKIE)
    return None if morsel is None else morsel.value


def _cross_site(headers: dict[str, str], host: str) -> bool:
    fetch_site = headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site.lower() not in ("same-origin", "none"):
        return True
    origin = headers.get("origin")
    if origin is None:
        return False
    # "null" (a sandboxed or file page) has no host: it is not this origin either.
    return urlsplit(origin).netloc.lower() != host.lower()


def _is_api(path: str) -> bool:
    return path.startswith("/api/") or path == "/openapi.json"


def _counted(receive: Receive, limit: int) -> Receive:
    """``receive``, refusing a body that streams past ``limit`` bytes (413)."""
    received = 0

    async def counted() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                # FastAPI and Starlette pass an HTTPException raised while the body
                # is read on to their handler, which answers with it.
                # (Closing the connection: the rest of the body is not read either.)
                raise HTTPException(413, f"request body over {limit} bytes",
                                    headers={"Connection": "close"})  # fmt: skip
        return message

    return counted


def _with_security_headers(send: Send) -> Send:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
        await send(message)

    return sending


def _answer(status: int, detail: str, headers: Iterable[tuple[bytes, bytes]] = ()) -> Responder:
    body = json.dumps({"detail": detail}).encode()

    async def respond(send: Send) -> None:
        await send({"type": "http.response.start", "status": status, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"), *headers]})  # fmt: skip
        await send({"type": "http.response.body", "body": body})

    return respond


def _unauthorized(detail: str) -> Responder:
    return _answer(401, detail, [(b"www-authenticate", b"Bearer")])


def _to_login(scope: Scope) -> Responder:
    wanted = scope["path"] + (f"?{scope['query_string'].decode('latin-1')}"
                              if scope.get("query_string") else "")  # fmt: skip
    location = "/login?next=" + quote(wanted, safe="")

    async def respond(send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 303,
                "headers": [(b"location", location.encode()), (b"content-length", b"0")],
            }
        )
        await send({"type": "http.response.body", "body": b""})

    return respond
