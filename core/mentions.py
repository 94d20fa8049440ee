"""`@name` in a meeting message: the members it names are notified (kind `mention`).

A mention is `@` followed by a member's name (any case; names may hold spaces, so the
longest name that matches wins) or by the part of their email before the `@`. Someone
mentioning themselves is not notified."""

from __future__ import annotations

import logging
import re

from core.errors import RoomcastError
from core.notices import Notices
from core.store.messages import NewMessage
from core.store.projects import Profile
from core.store.stores import Stores

log = logging.getLogger("roomcast.mentions")
MAX_MENTIONS = 20  # people one message can notify
SNIPPET = 200
_END = re.compile(r"[\s.,;:!?)\]}'\"]|$")


def mentioned(text: str, members: list[Profile]) -> list[str]:
    """The user ids the text mentions, in the order first mentioned."""
    # Longest first; at equal length a name before an email's local part.
    names: list[tuple[int, int, str, str]] = []
    for member in members:
        names.append((-len(member.name), 0, member.name.casefold(), member.user_id))
        local = member.email.split("@", 1)[0]
        names.append((-len(local), 1, local.casefold(), member.user_id))
    names.sort()
    folded, found = text.casefold(), []
    for at in (m.start() + 1 for m in re.finditer("@", folded)):
        for _, _, name, user_id in names:
            if name and folded.startswith(name, at) and _END.match(folded, at + len(name)):
                if user_id not in found:
                    found.append(user_id)
                break
    return found[:MAX_MENTIONS]


class MentionNotifier:
    """Called after a meeting message is stored (by the socket server, off the ack's path)."""

    def __init__(self, stores: Stores, notices: Notices) -> None:
        self._stores = stores
        self._notices = notices

    async def __call__(self, message: NewMessage) -> None:
        try:
            await self._notify(message)
        except RoomcastError as exc:
            log.warning("mentions in message %s not notified: %s", message.id, exc.message)

    async def _notify(self, message: NewMessage) -> None:
        project = await self._stores.projects.get(message.project_id)
        if project is None:
            return
        profiles = await self._stores.projects.profiles([m.user_id for m in project.members])
        meeting = await self._stores.meetings.get(message.meeting_id)
        title = f"{message.user_name} mentioned you" + (f" in {meeting.title}" if meeting else "")
        for user_id in mentioned(message.text, profiles):
            if user_id == message.user_id:
                continue
            await self._notices.send(user_id, "mention", title, message.text[:SNIPPET], {
                "meeting_id": message.meeting_id, "project_id": message.project_id,
                "message_id": message.id, "by": message.user_id})
