"""A mail to send, and the seam every backend fills."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from typing import Protocol


@dataclass(frozen=True)
class MailMessage:
    to: str
    subject: str
    text: str
    html: str
    message_id: str  # the outbox id: a resent mail keeps its identity

    def mime(self, sender: str) -> EmailMessage:
        """multipart/alternative: the plain text first, the HTML preferred by readers."""
        message = EmailMessage()
        message["From"] = sender
        message["To"] = self.to
        message["Subject"] = self.subject
        message["Date"] = formatdate(localtime=False, usegmt=True)
        domain = sender.rsplit("@", 1)[-1].strip("> ") or "roomcast.local"
        # The outbox id is unique already (email.utils.make_msgid would draw on `random`).
        message["Message-ID"] = f"<{self.message_id}@{domain}>"
        message.set_content(self.text, cte=_plain(self.text))
        message.add_alternative(self.html, subtype="html", cte=_plain(self.html))
        # Fixed here: the generator would draw one from the global `random` (as make_msgid).
        message.set_boundary(f"=={self.message_id}==")
        return message


def _plain(text: str) -> str | None:
    """7bit when the text allows it (ASCII, lines within SMTP's 998), so a link stays whole on
    its line, readable in the raw mail; else the library's choice (quoted-printable)."""
    if text.isascii() and all(len(line) <= 998 for line in text.splitlines()):
        return "7bit"
    return None


class MailDeliveryError(Exception):
    """The mail did not go out this time (server down, refused, timed out); it is retried,
    unless `maybe_delivered`: it failed once the message was going out and no answer said it
    was refused (a dropped connection, no answer in time), so it may have arrived."""

    def __init__(self, message: str, *, maybe_delivered: bool = False) -> None:
        super().__init__(message)
        self.maybe_delivered = maybe_delivered


class MailTakenOver(Exception):
    """Another sender took this mail over: this one stops without sending it."""


# Called by a mailer at the last moment the message can still be held back (for SMTP, after
# the envelope and before DATA): it records that the mail is going out, so that no sender ever
# starts it again on its own, and raises MailTakenOver when it is no longer this sender's.
HandOver = Callable[[], Awaitable[None]]


class Mailer(Protocol):
    async def send(self, message: MailMessage, hand_over: HandOver | None = None) -> None:
        """Hand the message over for delivery; MailDeliveryError when it could not be.
        `hand_over` is awaited once, before anything of the message itself goes out."""
        ...
