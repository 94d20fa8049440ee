"""REST routes for admins: the mail outbox, where a mail that failed every attempt stays
(`failed`, with its last error), and one that may or may not have arrived (`unconfirmed`),
until an admin sends it again."""

from __future__ import annotations

import contextlib
from datetime import datetime

from pydantic import BaseModel

from api.routes.people import dispatch_of
from api.routing import Call, NoModel, Router
from core.errors import InvalidState, NotFound, RoomcastError
from core.models import Page, PageParams
from core.schedule import SEND_MAIL
from core.store.mail import MailStatus, OutgoingMail

router = Router(tags=["admin"])


class MailQuery(PageParams):
    status: MailStatus | None = None


class MailOut(BaseModel):
    """A mail as admins see it: where it goes and how sending went, not its body."""

    id: str
    kind: str
    to: str
    subject: str
    status: MailStatus
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None

    @classmethod
    def of(cls, mail: OutgoingMail) -> MailOut:
        return cls.model_validate(mail.model_dump(exclude={"text", "html", "lease_until"}))


class MailPage(Page[MailOut]):
    pass


@router.get("/admin/mail", query=MailQuery, response=MailPage, auth="admin")
async def list_mail(call: Call[NoModel, MailQuery]) -> MailPage:
    """The outbox, newest first; `status=failed` for what could not be delivered."""
    page = await call.ctx.stores.mail.page(call.query, call.query.status)
    return MailPage(items=[MailOut.of(m) for m in page.items], total=page.total,
                    limit=page.limit, offset=page.offset)


@router.post("/admin/mail/{mail_id}/retry", response=MailOut, auth="admin",
             errors=(404, 409))
async def retry_mail(call: Call[NoModel, NoModel]) -> MailOut:
    """Send a failed or unconfirmed mail again, from its first attempt (409 `invalid_state`
    unless it is `failed` or `unconfirmed`)."""
    ctx, mail_id = call.ctx, call.path["mail_id"]
    mail = await ctx.stores.mail.get(mail_id)
    if mail is None:
        raise NotFound("mail not found")
    requeued = await ctx.stores.mail.requeue(mail_id)
    if requeued is None:
        raise InvalidState(f"the mail is {mail.status.value}",
                           details={"status": mail.status.value})
    # Queued in the store either way: if the queue is down, the workers' sweep sends it.
    with contextlib.suppress(RoomcastError):
        await dispatch_of(ctx).now(SEND_MAIL, mail_id=mail_id)
    return MailOut.of(requeued)
