"""Sending one mail of the outbox: claimed (so two workers never send it twice at once), sent,
and on failure retried with backoff through a schedule, until MAIL_MAX_ATTEMPTS; then it is
`failed`, listed for admins (GET /api/v1/admin/mail) and never silently dropped.

At most once: just before the message itself goes out (SMTP's DATA), the mail is marked
`sending`, on the condition that this claim still holds it. A sender that dies before that
point sent nothing, and the claim lapses for another to send it; one that dies after it, or
loses the server without an answer, may have delivered it: the mail becomes `unconfirmed`
(the sweep finds the lapsed ones), listed for admins, and is not sent again on its own."""

from __future__ import annotations

import logging
from datetime import timedelta

from core.errors import RoomcastError
from core.mail.files import FileMailer
from core.mail.message import MailDeliveryError, Mailer, MailMessage, MailTakenOver
from core.mail.smtp import SmtpMailer
from core.schedule import SEND_MAIL
from core.settings import Settings
from workers.schedule.deps import PeopleDeps

log = logging.getLogger("roomcast.mail")
MAX_DELAY = timedelta(hours=1)


def build_mailer(settings: Settings) -> Mailer:
    if settings.smtp_url is not None:
        return SmtpMailer(settings)
    return FileMailer(settings.data_dir / "mail", settings.mail_from)


def retry_delay(settings: Settings, attempts: int) -> timedelta:
    seconds = settings.mail_retry_base_seconds * 2 ** max(0, attempts - 1)
    return min(timedelta(seconds=seconds), MAX_DELAY)


async def send_mail(deps: PeopleDeps, mail_id: str) -> bool:
    """Send the mail if it is due and nobody else is at it; True when it went out."""
    mail = await deps.stores.mail.claim(mail_id, deps.lease_ms)
    if mail is None:
        return False
    message = MailMessage(to=mail.to, subject=mail.subject, text=mail.text, html=mail.html,
                          message_id=mail.id)

    async def hand_over() -> None:
        if not await deps.stores.mail.going_out(mail_id, mail.attempts, deps.lease_ms):
            raise MailTakenOver(mail_id)

    try:
        await deps.mailer.send(message, hand_over)
    except MailTakenOver:
        log.info("mail %s was taken over by another sender (attempt %d lapsed)", mail_id,
                 mail.attempts)
        return False
    except MailDeliveryError as exc:
        if exc.maybe_delivered:
            await deps.stores.mail.unconfirmed(mail_id, str(exc))
            log.error("mail %s may have arrived (%s): not sent again unless an admin does",
                      mail_id, exc)
            return False
        await _failed(deps, mail_id, mail.attempts, str(exc))
        return False
    await deps.stores.mail.sent(mail_id)
    return True


async def _failed(deps: PeopleDeps, mail_id: str, attempts: int, error: str) -> None:
    if attempts >= deps.settings.mail_max_attempts:
        await deps.stores.mail.failed(mail_id, error)
        log.error("mail %s failed for good after %d attempts: %s", mail_id, attempts, error)
        return
    when = await deps.stores.mail.retry_at(mail_id, error,
                                           retry_delay(deps.settings, attempts))
    log.warning("mail %s not sent (attempt %d: %s); retrying at %s", mail_id, attempts, error,
                when.isoformat())
    try:
        await deps.dispatch.at(f"mail.{mail_id}.{attempts}", when, SEND_MAIL, mail_id=mail_id)
    except RoomcastError as exc:
        log.warning("mail %s has no retry trigger (%s): the sweep sends it", mail_id,
                    exc.message)
