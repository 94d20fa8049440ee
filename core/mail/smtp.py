"""Sending over SMTP with aiosmtplib: SMTP_URL (smtp://user:password@host:port), SMTP_TLS."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import aiosmtplib

from core.errors import ConfigError
from core.mail.message import MailDeliveryError, MailMessage
from core.settings import Settings

DEFAULT_PORTS = {"smtp": 25, "smtps": 465}


class SmtpMailer:
    """One connection per message: mail is rare next to the cost of a lingering connection
    that a server may drop at any time."""

    def __init__(self, settings: Settings) -> None:
        assert settings.smtp_url is not None
        url = urlsplit(settings.smtp_url.get_secret_value())
        if url.scheme not in DEFAULT_PORTS or not url.hostname:
            raise ConfigError("SMTP_URL must look like smtp://user:password@host:port "
                              "(or smtps://... for implicit TLS)")
        self._host = url.hostname
        self._port = url.port or DEFAULT_PORTS[url.scheme]
        self._username = unquote(url.username) if url.username else None
        self._password = unquote(url.password) if url.password else None
        tls = "tls" if url.scheme == "smtps" else settings.smtp_tls
        self._use_tls = tls == "tls"
        # None lets aiosmtplib upgrade when the server offers STARTTLS ("auto").
        self._start_tls = {"starttls": True, "none": False}.get(tls)
        self._timeout = settings.smtp_timeout_seconds
        self._sender = settings.mail_from

    async def send(self, message: MailMessage) -> None:
        try:
            await aiosmtplib.send(
                message.mime(self._sender), hostname=self._host, port=self._port,
                username=self._username, password=self._password, use_tls=self._use_tls,
                start_tls=self._start_tls, timeout=self._timeout,
            )
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise MailDeliveryError(f"{type(exc).__name__}: {exc}") from exc
