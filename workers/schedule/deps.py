"""What the scheduled tasks and the mail sender need, built once per process."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from core.errors import RoomcastError
from core.ids import new_id
from core.mail.message import Mailer
from core.mail.post import PostOffice
from core.notices import Notices
from core.schedule import Dispatch
from core.settings import Settings
from core.store.stores import Stores
from realtime.emitter import Emitter

# The realtime contract's user room and notification event: workers reach realtime/ only
# through the emitter (see workers/announce.py).
USER_ROOM = "user:{}"
NOTIFICATION_EVENT = "notification"


@dataclass
class PeopleDeps:
    settings: Settings
    stores: Stores
    emitter: Emitter
    mailer: Mailer
    dispatch: Dispatch
    worker_id: str = field(default_factory=new_id)

    @property
    def lease_ms(self) -> int:
        return int(self.settings.job_lease_seconds * 1000)

    @property
    def post(self) -> PostOffice:
        return PostOffice(self.settings, self.stores, self.dispatch)

    @property
    def notices(self) -> Notices:
        return Notices(self.stores, self.post, self.deliver_once)

    async def deliver_once(self, user_id: str, *, kind: str, title: str, body: str,
                           data: dict[str, Any], notice_id: str | None) -> dict[str, Any] | None:
        """Store the notification under `notice_id` and push it; None, pushing nothing, when
        it was stored already (a retried sender: whoever stored it pushed it then). A push
        that fails takes the notification back out, so the sender's retry pushes it."""
        stored, new = await self.stores.notifications.store_once(
            notice_key(notice_id or new_id()), user_id, kind=kind, title=title, body=body,
            data=data)
        if not new:
            return None
        payload: dict[str, Any] = stored.model_dump(mode="json")
        try:
            await self.emitter.emit(USER_ROOM.format(user_id), NOTIFICATION_EVENT, payload)
        except RoomcastError:
            # Not pushed (Redis unreachable): withdrawn, so the retry stores and pushes it.
            await self.stores.notifications.withdraw(stored.id)
            raise
        return payload


def notice_key(name: str) -> str:
    """A notification id (32 hex characters, like every id) made from a stable name."""
    return hashlib.sha256(name.encode()).hexdigest()[:32]
