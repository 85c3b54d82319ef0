"""Slack, webhook and e-mail channels against real servers on 127.0.0.1, and retries."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from http_receiver import Receiver
from spine.framework.alerts import (
    Alert,
    AlertRegistry,
    AlertSeverity,
    DeliveryRetry,
    EmailChannel,
    SlackChannel,
    WebhookChannel,
)
from spine.testing import FakeClock


@pytest.fixture
def registry(clock: FakeClock) -> AlertRegistry:
    return AlertRegistry(retry=DeliveryRetry(max_attempts=3), clock=clock)


def _alert(**fields: Any) -> Alert:
    values: dict[str, Any] = {
        "severity": AlertSeverity.ERROR,
        "title": "Load failed",
        "message": "no rows",
        "source": "finra.load",
    }
    return Alert(**{**values, **fields})


# ---- Slack and webhooks ------------------------------------------------------------


def test_slack_posts_text_and_blocks(receiver: Receiver, registry: AlertRegistry) -> None:
    registry.register(SlackChannel("slack", receiver.url("/services/T1/B2/secret")))

    [result] = registry.send_to_all(
        _alert(message="rows < 10 & falling", domain="finra.otc", run_id="run-1")
    )

    assert result.success is True
    assert result.attempt == 1
    [request] = receiver.requests
    assert request.path == "/services/T1/B2/secret"
    assert request.headers["Content-Type"] == "application/json"
    body = request.json()
    assert body["text"] == ":x: [ERROR] Load failed"
    kinds = [block["type"] for block in body["blocks"]]
    assert kinds == ["header", "section", "context"]
    assert body["blocks"][0]["text"]["text"] == ":x: Load failed"
    assert body["blocks"][1]["text"]["text"] == "rows &lt; 10 &amp; falling"
    context = " ".join(e["text"] for e in body["blocks"][2]["elements"])
    assert "finra.otc" in context
    assert "run-1" in context


def test_webhook_posts_the_alert_as_json_with_headers(
    receiver: Receiver, registry: AlertRegistry
) -> None:
    registry.register(
        WebhookChannel("hook", receiver.url(), headers={"Authorization": "Bearer t0k"})
    )
    alert = _alert(metadata={"rows": 0})

    [result] = registry.send_to_all(alert)

    assert result.success is True
    [request] = receiver.requests
    assert request.headers["Authorization"] == "Bearer t0k"
    assert request.json() == alert.to_dict()


def test_a_server_error_is_retried_with_backoff(
    receiver: Receiver, registry: AlertRegistry, clock: FakeClock
) -> None:
    receiver.script = [(500, {}), (503, {})]
    registry.register(WebhookChannel("hook", receiver.url()))

    [result] = registry.send_to_all(_alert())

    assert result.success is True
    assert result.attempt == 3
    assert len(receiver.requests) == 3
    assert clock.sleeps == [1.0, 2.0]


def test_429_waits_as_long_as_retry_after_says(
    receiver: Receiver, registry: AlertRegistry, clock: FakeClock
) -> None:
    receiver.script = [(429, {"Retry-After": "7"})]
    registry.register(SlackChannel("slack", receiver.url()))

    [result] = registry.send_to_all(_alert())

    assert result.success is True
    assert result.attempt == 2
    assert clock.sleeps == [7.0]


def test_a_retry_after_beyond_the_longest_delay_is_not_waited_for(
    receiver: Receiver, registry: AlertRegistry, clock: FakeClock
) -> None:
    receiver.script = [(429, {"Retry-After": "3600"})]
    registry.register(WebhookChannel("hook", receiver.url()))

    [result] = registry.send_to_all(_alert())

    assert result.success is False
    assert result.attempt == 1
    assert "HTTP 429" in (result.message or "")
    assert "3600" in (result.message or "")
    assert clock.sleeps == []


def test_a_client_error_is_not_retried_and_the_secret_url_is_not_shown(
    receiver: Receiver, registry: AlertRegistry, clock: FakeClock
) -> None:
    receiver.script = [(400, {})]
    registry.register(SlackChannel("slack", receiver.url("/services/T1/B2/secret")))

    [result] = registry.send_to_all(_alert())

    assert result.success is False
    assert result.retryable is False
    assert result.attempt == 1
    assert len(receiver.requests) == 1
    assert clock.sleeps == []
    assert "HTTP 400" in (result.message or "")
    assert "secret" not in (result.message or "")


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_unreachable_server_is_retried_then_reported(
    registry: AlertRegistry, clock: FakeClock
) -> None:
    registry.register(WebhookChannel("hook", f"http://127.0.0.1:{_closed_port()}/x"))

    [result] = registry.send_to_all(_alert())

    assert result.success is False
    assert result.retryable is True
    assert result.attempt == 3
    assert clock.sleeps == [1.0, 2.0]
    assert "ConnectError" in (result.message or "")


def test_a_slow_server_times_out(receiver: Receiver, clock: FakeClock) -> None:
    receiver.stall_seconds = 5.0
    registry = AlertRegistry(retry=DeliveryRetry(max_attempts=1), clock=clock)
    registry.register(WebhookChannel("hook", receiver.url(), timeout_seconds=0.2))

    [result] = registry.send_to_all(_alert())

    assert result.success is False
    assert result.retryable is True
    assert "Timeout" in (result.message or "")


def test_one_failing_channel_does_not_stop_the_others(
    receiver: Receiver, registry: AlertRegistry
) -> None:
    receiver.script = [(500, {})] * 3
    registry.register(WebhookChannel("a-down", receiver.url("/down")))
    registry.register(WebhookChannel("b-up", receiver.url("/up")))

    results = registry.send_to_all(_alert())

    assert [(r.channel_name, r.success) for r in results] == [("a-down", False), ("b-up", True)]
    assert [r.path for r in receiver.requests] == ["/down"] * 3 + ["/up"]


def test_tls_spoken_to_a_plain_http_server_is_not_retried(
    receiver: Receiver, registry: AlertRegistry, clock: FakeClock
) -> None:
    registry.register(WebhookChannel("hook", receiver.url().replace("http:", "https:")))

    [result] = registry.send_to_all(_alert())

    assert (result.success, result.retryable, result.attempt) == (False, False, 1)
    assert "WRONG_VERSION_NUMBER" in (result.message or "")
    assert clock.sleeps == []


def test_channels_refuse_urls_that_are_not_http() -> None:
    with pytest.raises(ValueError, match="webhook_url must be an http"):
        SlackChannel("slack", "hooks.slack.com/services/x")
    with pytest.raises(ValueError, match="url must be an http"):
        WebhookChannel("hook", "ftp://example.com/x")


# ---- e-mail ------------------------------------------------------------------------


class Mailbox:
    """An aiosmtpd handler keeping each message; refuses recipients in ``busy`` (450)."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []
        self.authenticated: list[bool | None] = []
        self.busy: set[str] = set()

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.busy:
            return "450 mailbox busy, try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        self.authenticated.append(session.authenticated)
        return "250 OK"


def _authenticate(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"spine", b"s3cret")
    # handled=False: the server answers 535 itself instead of staying silent.
    return AuthResult(success=ok, handled=False)


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert))


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate for 127.0.0.1, made with the openssl command."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    made = Certificate(folder / "cert.pem", folder / "key.pem")
    command = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1"
    command += " -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1"
    subprocess.run(
        [*command.split(), "-keyout", str(made.key), "-out", str(made.cert)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return made


@pytest.fixture
def mailbox() -> Mailbox:
    return Mailbox()


@pytest.fixture
def smtp_server(mailbox: Mailbox) -> Iterator[int]:
    """A plain SMTP server (no TLS, no AUTH); yields its port."""
    controller = Controller(mailbox, hostname="127.0.0.1", port=_closed_port())
    controller.start()
    yield controller.port
    controller.stop()


def _mail(port: int, **options: Any) -> EmailChannel:
    recipients = options.pop("recipients", ["ops@example.com"])
    return EmailChannel("mail", "127.0.0.1", "spine@example.com", recipients, port, **options)


def test_email_is_sent_to_every_recipient(
    smtp_server: int, mailbox: Mailbox, registry: AlertRegistry
) -> None:
    recipients = ["ops@example.com", "lead@example.com"]
    registry.register(_mail(smtp_server, recipients=recipients, use_tls=False))

    [result] = registry.send_to_all(_alert(title="Load\nfailed", run_id="run-7"))

    assert result.success is True
    [envelope] = mailbox.envelopes
    assert (envelope.mail_from, envelope.rcpt_tos) == ("spine@example.com", recipients)
    assert isinstance(envelope.content, bytes)
    message = message_from_bytes(envelope.content)
    assert message["Subject"] == "[ERROR] Load failed"
    assert message["To"] == "ops@example.com, lead@example.com"
    body = message.get_payload(decode=True)
    assert isinstance(body, bytes)
    assert b"no rows" in body
    assert b"Run: run-7" in body


def test_starttls_and_login(
    certificate: Certificate, mailbox: Mailbox, registry: AlertRegistry
) -> None:
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=_closed_port(),
        tls_context=certificate.server_context(),
        require_starttls=True,
        authenticator=_authenticate,
        auth_require_tls=True,
    )
    controller.start()
    trusting = certificate.client_context()
    try:
        registry.register(
            _mail(controller.port, smtp_user="spine", smtp_password="s3cret", ssl_context=trusting)
        )
        [sent] = registry.send_to_all(_alert(title="first"))
        registry.register(
            _mail(controller.port, smtp_user="spine", smtp_password="wrong", ssl_context=trusting)
        )
        [refused] = registry.send_to_all(_alert(title="second"))
        registry.register(_mail(controller.port))  # the system's authorities only
        [untrusted] = registry.send_to_all(_alert(title="third"))
    finally:
        controller.stop()

    assert sent.success is True
    assert mailbox.authenticated == [True]
    assert (refused.success, refused.retryable, refused.attempt) == (False, False, 1)
    assert "smtp_password" in (refused.message or "")
    assert (untrusted.success, untrusted.retryable) == (False, False)
    assert "certificate" in (untrusted.message or "")


def test_smtps_connects_with_tls_from_the_start(
    certificate: Certificate, mailbox: Mailbox, registry: AlertRegistry
) -> None:
    server_context = certificate.server_context()
    controller = Controller(
        mailbox, hostname="127.0.0.1", port=_closed_port(), ssl_context=server_context
    )
    controller.start()
    try:
        trusting = certificate.client_context()
        registry.register(_mail(controller.port, use_ssl=True, ssl_context=trusting))
        [result] = registry.send_to_all(_alert())
    finally:
        controller.stop()

    assert result.success is True
    assert len(mailbox.envelopes) == 1


def test_smtps_to_a_plain_text_port_is_a_tls_error_not_retried(
    smtp_server: int, mailbox: Mailbox, registry: AlertRegistry, clock: FakeClock
) -> None:
    registry.register(_mail(smtp_server, use_ssl=True))

    [result] = registry.send_to_all(_alert())

    assert (result.success, result.retryable, result.attempt) == (False, False, 1)
    message = result.message or ""
    assert "WRONG_VERSION_NUMBER" in message
    assert "smtp_port and use_ssl" in message
    assert clock.sleeps == []
    assert mailbox.envelopes == []


def test_a_server_without_starttls_is_an_error_not_a_plain_text_send(
    smtp_server: int, mailbox: Mailbox, registry: AlertRegistry
) -> None:
    registry.register(_mail(smtp_server))

    [result] = registry.send_to_all(_alert())

    assert (result.success, result.retryable, result.attempt) == (False, False, 1)
    assert "use_tls=False" in (result.message or "")
    assert mailbox.envelopes == []


def test_a_temporary_smtp_refusal_is_retried(
    smtp_server: int, mailbox: Mailbox, registry: AlertRegistry, clock: FakeClock
) -> None:
    mailbox.busy = {"ops@example.com"}
    registry.register(_mail(smtp_server, use_tls=False))

    [result] = registry.send_to_all(_alert())

    assert (result.success, result.retryable, result.attempt) == (False, True, 3)
    assert "450" in (result.message or "")
    assert clock.sleeps == [1.0, 2.0]


def test_email_channel_checks_its_addresses() -> None:
    with pytest.raises(ValueError, match="recipients is empty"):
        EmailChannel("mail", "smtp.example.com", "spine@example.com", [])
    with pytest.raises(ValueError, match="from_address"):
        EmailChannel("mail", "smtp.example.com", "spine", ["ops@example.com"])
