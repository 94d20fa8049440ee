"""Sending over SMTP with aiosmtplib: SMTP_URL (smtp://user:password@host:port), SMTP_TLS.

The envelope (connection, TLS, login, MAIL FROM, RCPT TO) is set up before the sender is told
the mail is going out (`hand_over`); only DATA follows. A server drops a transaction whose
data did not end, so a sender that dies before that point has sent nothing, and one that dies
after it may have: the outbox sends again only in the first case (workers/mail/sender.py)."""

from __future__ import annotations

import contextlib
import io
from email import policy
from email.generator import BytesGenerator
from email.utils import parseaddr
from urllib.parse import unquote, urlsplit

import aiosmtplib

from core.errors import ConfigError
from core.mail.message import HandOver, MailDeliveryError, MailMessage
from core.settings import Settings

DEFAULT_PORTS = {"smtp": 25, "smtps": 465}
FAILURES = (aiosmtplib.SMTPException, OSError, TimeoutError)


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
        self._envelope_from = parseaddr(settings.mail_from)[1] or settings.mail_from

    async def send(self, message: MailMessage, hand_over: HandOver | None = None) -> None:
        client = aiosmtplib.SMTP(
            hostname=self._host, port=self._port, username=self._username,
            password=self._password, use_tls=self._use_tls, start_tls=self._start_tls,
            timeout=self._timeout)
        going = False
        try:
            await client.connect()  # with STARTTLS and login, as configured
            data = await self._envelope(client, message)
            if hand_over is not None:
                await hand_over()
            going = True
            await client.data(data)
        except FAILURES as exc:
            client.close()
            # A refusal is an answer: the server kept nothing. Anything else once the data
            # was going out (a dropped connection, no answer in time) may have delivered it.
            unsure = going and not isinstance(exc, aiosmtplib.SMTPResponseException)
            raise MailDeliveryError(f"{type(exc).__name__}: {exc}",
                                    maybe_delivered=unsure) from exc
        except BaseException:
            client.close()
            raise
        # The server took it: a goodbye that fails changes nothing.
        with contextlib.suppress(*FAILURES):
            await client.quit()

    async def _envelope(self, client: aiosmtplib.SMTP, message: MailMessage) -> bytes:
        """MAIL FROM and RCPT TO; the message as DATA will carry it (8-bit where the server
        takes it, as aiosmtplib's `send` does)."""
        if client.is_ehlo_or_helo_needed:
            await client.ehlo()
        eight_bit = client.supports_extension("8bitmime")
        await client.mail(self._envelope_from, options=["BODY=8BITMIME"] if eight_bit else [])
        await client.rcpt(message.to)
        smtp_policy = policy.SMTP if eight_bit else policy.SMTP.clone(cte_type="7bit")
        with io.BytesIO() as flat:
            BytesGenerator(flat, policy=smtp_policy).flatten(message.mime(self._sender))
            return flat.getvalue()
