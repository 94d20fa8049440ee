"""Messages sent in a meeting room."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from pymongo import ASCENDING

from core.ids import new_id, utcnow
from core.models import Page, PageParams
from core.store.base import GroupedInserts, Repository
from core.store.schema import SCHEMA_VERSION, VERSION_FIELD


class MeetingMessage(BaseModel):
    id: str = Field(default_factory=new_id)
    meeting_id: str
    project_id: str
    user_id: str
    user_name: str
    text: str
    offset: int = 0  # the meeting room's stream offset the message was broadcast with
    client_id: str | None = None
    created_at: datetime = Field(default_factory=utcnow)


class NewMessage:
    """A message being sent: made for every message, from values the socket edge has already
    validated, so it is a plain object rather than a model validated a second time. Stored, it
    reads back as a `MeetingMessage`."""

    __slots__ = ("client_id", "created_at", "id", "meeting_id", "offset", "project_id", "text",
                 "user_id", "user_name")

    def __init__(self, *, meeting_id: str, project_id: str, user_id: str, user_name: str,
                 text: str, client_id: str | None) -> None:
        self.id = new_id()
        self.meeting_id, self.project_id = meeting_id, project_id
        self.user_id, self.user_name = user_id, user_name
        self.text, self.client_id = text, client_id
        self.offset = 0  # the meeting room's stream offset, once broadcast
        self.created_at = utcnow()

    def wire(self) -> dict[str, Any]:
        """The `message` event's fields: the message as JSON without project_id and offset."""
        return {"id": self.id, "meeting_id": self.meeting_id, "user_id": self.user_id,
                "user_name": self.user_name, "text": self.text, "client_id": self.client_id,
                "created_at": self.created_at.isoformat().replace("+00:00", "Z")}

    def document(self) -> dict[str, Any]:
        """The document stored for it."""
        return {"_id": self.id, "meeting_id": self.meeting_id, "project_id": self.project_id,
                "user_id": self.user_id, "user_name": self.user_name, "text": self.text,
                "offset": self.offset, "client_id": self.client_id,
                "created_at": self.created_at, VERSION_FIELD: SCHEMA_VERSION}


class MeetingMessageRepository(Repository[MeetingMessage]):
    """Messages are written in groups (`GroupedInserts`): `create` still returns only once its
    message is stored, or raises that message's error."""

    collection_name = "meeting_messages"
    model = MeetingMessage
    MAX_GROUP = GroupedInserts.MAX_GROUP

    def __init__(self, db: Any) -> None:
        super().__init__(db)
        self._inserts = GroupedInserts(
            lambda docs: self._c.insert_many(docs, ordered=False), "roomcast-message-writer")

    async def ensure_indexes(self) -> None:
        # The history's order, whole: messages stored in the same millisecond come in the
        # order they were sent (their room offset), not by their random ids.
        await self._c.create_index([("meeting_id", ASCENDING), ("created_at", ASCENDING),
                                    ("offset", ASCENDING), ("_id", ASCENDING)])

    async def create(self, message: NewMessage) -> NewMessage:
        await self._inserts.insert(message.document())
        return message

    async def set_offset(self, message_id: str, offset: int) -> None:
        await self._c.update_one({"_id": message_id}, {"$set": {"offset": offset}})

    async def list_for_meeting(self, meeting_id: str, params: PageParams) -> Page[MeetingMessage]:
        return await self._page(
            {"meeting_id": meeting_id}, params,
            [("created_at", ASCENDING), ("offset", ASCENDING), ("_id", ASCENDING)]
        )

    async def count_by_user(self, meeting_id: str) -> dict[str, int]:
        counts: Counter[str] = Counter()
        async for doc in self._c.find({"meeting_id": meeting_id}, {"user_id": 1}):
            counts[doc["user_id"]] += 1
        return dict(counts)

    async def delete_for_meeting(self, meeting_id: str) -> int:
        result = await self._c.delete_many({"meeting_id": meeting_id})
        return int(result.deleted_count)
