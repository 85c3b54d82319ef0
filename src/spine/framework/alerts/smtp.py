"""E-mail over SMTP (the standard library's ``smtplib`` and ``email``, imported when used)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from spine.core.errors import describe_exception
from spine.framework.alerts.channels import BaseChannel
from spine.framework.alerts.model import Alert, AlertSeverity, ChannelType, DeliveryResult
from spine.framework.alerts.transport import DEFAULT_TIMEOUT_SECONDS

if TYPE_CHECKING:
    import smtplib
    import ssl
    from email.message import EmailMessage

SMTPS_PORT = 465


class EmailChannel(BaseChannel):
    """Sends each alert as a plain-text e-mail to ``recipients``.

    On port 465 (SMTPS) the connection is TLS from the start, unless ``use_ssl``
    says otherwise; on any other port ``use_tls`` upgrades it with STARTTLS, and a
    server that cannot is an error rather than a reason to send in clear. With
    ``smtp_user`` the channel logs in. ``ssl_context`` replaces the default one
    (which checks the server's certificate against the system's authorities), e.g.
    to trust a private certificate authority.
    """

    def __init__(
        self,
        name: str,
        smtp_host: str,
        from_address: str,
        recipients: Iterable[str],
        smtp_port: int = 587,
        smtp_user: str | None = None,
        smtp_password: str | None = None,
        use_tls: bool = True,
        *,
        use_ssl: bool | None = None,
        ssl_context: ssl.SSLContext | None = None,
        min_severity: AlertSeverity = AlertSeverity.ERROR,
        domains: Iterable[str] | None = None,
        enabled: bool = True,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        super().__init__(
            name, ChannelType.EMAIL, min_severity=min_severity, domains=domains, enabled=enabled
        )
        self._recipients = [recipients] if isinstance(recipients, str) else list(recipients)
        if not smtp_host:
            raise ValueError(f"e-mail channel {name!r}: smtp_host is empty")
        if "@" not in from_address:
            raise ValueError(
                f"e-mail channel {name!r}: from_address {from_address!r} is not an e-mail address"
            )
        if not self._recipients:
            raise ValueError(
                f"e-mail channel {name!r}: recipients is empty; give one address or more"
            )
        self._host = smtp_host
        self._port = smtp_port
        self._user = smtp_user
        self._password = smtp_password
        self._from = from_address
        self._use_ssl = smtp_port == SMTPS_PORT if use_ssl is None else use_ssl
        self._use_tls = use_tls and not self._use_ssl
        self._ssl_context = ssl_context
        self._timeout_seconds = timeout_seconds

    def message(self, alert: Alert) -> EmailMessage:
        """The e-mail sent for ``alert``."""
        from email.message import EmailMessage
        from email.utils import format_datetime, make_msgid

        msg = EmailMessage()
        # A line break in a header would be refused (or worse, inject headers).
        msg["Subject"] = " ".join(f"[{alert.severity.value}] {alert.title}".split())
        msg["From"] = self._from
        msg["To"] = ", ".join(self._recipients)
        msg["Date"] = format_datetime(alert.created_at)
        # The sender's domain, not the local host name: make_msgid would resolve it.
        msg["Message-ID"] = make_msgid(domain=self._from.rpartition("@")[2] or None)
        lines = [f"{alert.severity.value}: {alert.title}", "", f"Source: {alert.source}"]
        lines += [f"{label}: {value}" for label, value in _details(alert) if value]
        lines += [f"Time: {alert.created_at.isoformat()}", "", alert.message]
        msg.set_content("\n".join(lines) + "\n")
        return msg

    def send(self, alert: Alert) -> DeliveryResult:
        import smtplib
        import ssl

        context = self._ssl_context or ssl.create_default_context()
        where = f"SMTP server {self._host}:{self._port}"
        try:
            refused = self._deliver(self.message(alert), context)
        except smtplib.SMTPNotSupportedError as exc:
            hint = (
                "set use_tls=False to send without encryption"
                if "STARTTLS" in str(exc)
                else "leave smtp_user unset if it needs no login"
            )
            return self._fail(f"{where} does not support this ({exc}); {hint}", retryable=False)
        except smtplib.SMTPAuthenticationError as exc:
            return self._fail(
                f"{where} refused the login of {self._user!r} ({_reply(exc)}); "
                "check smtp_user and smtp_password",
                retryable=False,
            )
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            return self._fail(
                f"{where} refused every recipient: {_refusals(exc.recipients)}",
                retryable=all(_transient(code) for code in codes),
            )
        except smtplib.SMTPResponseException as exc:
            return self._fail(
                f"{where} answered {_reply(exc)}", retryable=_transient(exc.smtp_code)
            )
        except ssl.SSLCertVerificationError as exc:
            return self._fail(
                f"{where}: its certificate is not trusted ({exc.verify_message}); "
                "give an ssl_context that trusts it",
                retryable=False,
            )
        except ssl.SSLError as exc:
            # A TLS failure (WRONG_VERSION_NUMBER: TLS spoken to a plain-text port, or the
            # reverse; no common protocol or cipher) recurs on every attempt. Timeouts
            # are not SSLErrors: they are retried below.
            return self._fail(
                f"{where}: TLS failed ({describe_exception(exc)}); check smtp_port and "
                "use_ssl: port 465 speaks TLS from the start (use_ssl), 587 and 25 upgrade "
                "with STARTTLS (use_tls)",
                retryable=False,
            )
        except OSError as exc:
            # Connection refused or reset, timeouts, a dropped session: may pass.
            return self._fail(f"{where}: {describe_exception(exc)}", retryable=True)
        if refused:
            accepted = len(self._recipients) - len(refused)
            return DeliveryResult.ok(
                self.name,
                f"sent to {accepted} of {len(self._recipients)} recipients; "
                f"refused: {_refusals(refused)}",
            )
        return DeliveryResult.ok(self.name, f"sent to {len(self._recipients)} recipient(s)")

    def _deliver(self, message: EmailMessage, context: ssl.SSLContext) -> dict[str, Any]:
        """Send ``message``; the recipients the server refused (it accepted the rest)."""
        import smtplib

        server = (
            smtplib.SMTP_SSL(self._host, self._port, timeout=self._timeout_seconds, context=context)
            if self._use_ssl
            else smtplib.SMTP(self._host, self._port, timeout=self._timeout_seconds)
        )
        with server:
            if self._use_tls:
                server.starttls(context=context)
            if self._user:
                server.login(self._user, self._password or "")
            return server.send_message(message, from_addr=self._from, to_addrs=self._recipients)

    def _fail(self, reason: str, *, retryable: bool) -> DeliveryResult:
        return DeliveryResult.fail(self.name, reason, retryable=retryable)


def _details(alert: Alert) -> list[tuple[str, str | None]]:
    return [("Domain", alert.domain), ("Run", alert.run_id), ("Execution", alert.execution_id)]


def _transient(code: int) -> bool:
    # SMTP's 4xx replies are temporary ("try again later"); 5xx are permanent.
    return 400 <= code < 500


def _reply(exc: smtplib.SMTPResponseException) -> str:
    text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else ""
    return f"{exc.smtp_code} {text}".strip()


def _refusals(refused: dict[str, tuple[int, bytes]]) -> str:
    return ", ".join(
        f"{address} ({code} {reply.decode(errors='replace')})"
        for address, (code, reply) in refused.items()
    )
