"""Posting mail: render a template, store the mail in the outbox, and ask a worker to send it.

The request that causes a mail never waits for an SMTP server and never fails because of one:
once the mail is stored it is the workers' (a queued send, retried with backoff, and the
minute sweep for any send that could not be queued)."""

from __future__ import annotations

import logging
from datetime import datetime

from core.errors import RoomcastError
from core.mail.templates import Rendered
from core.schedule import SEND_MAIL, Dispatch
from core.settings import Settings
from core.store.mail import OutgoingMail
from core.store.stores import Stores

log = logging.getLogger("roomcast.mail")


class PostOffice:
    def __init__(self, settings: Settings, stores: Stores, dispatch: Dispatch) -> None:
        self._settings = settings
        self._stores = stores
        self._dispatch = dispatch

    @property
    def base_url(self) -> str:
        settings = self._settings
        return (settings.public_url or f"http://{settings.host}:{settings.port}").rstrip("/")

    def link(self, page: str, token: str = "") -> str:
        """A link into the web app: `page` and, when given, `?token=`."""
        return f"{self.base_url}/{page}" + (f"?token={token}" if token else "")

    async def post(self, kind: str, to: str, mail: Rendered,
                   mail_id: str | None = None, *,
                   created_at: datetime | None = None) -> tuple[OutgoingMail, bool]:
        """Store the mail and queue its sending. A `mail_id` makes posting idempotent;
        `created_at` dates the mail (a digest: the end of its period), else now. Returns the
        stored mail and whether this call stored it (False: one with `mail_id` was stored
        before, and is returned as it was)."""
        outgoing = OutgoingMail(kind=kind, to=to, subject=mail.subject, text=mail.text,
                                html=mail.html)
        if mail_id is not None:
            outgoing.id = mail_id
        if created_at is not None:
            outgoing.created_at = created_at
        stored = await self._stores.mail.queue(outgoing)
        try:
            await self._dispatch.now(SEND_MAIL, mail_id=stored.id)
        except RoomcastError as exc:
            log.warning("mail %s is stored but not queued (%s): the sweep sends it",
                        stored.id, exc.message)
        return stored, stored is outgoing
