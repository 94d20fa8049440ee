"""Messages sent in a meeting room."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from pydantic import BaseModel, Field
from pymongo import ASCENDING

from core.ids import new_id, utcnow
from core.models import Page, PageParams
from core.store.base import Repository


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


class MeetingMessageRepository(Repository[MeetingMessage]):
    collection_name = "meeting_messages"
    model = MeetingMessage

    async def ensure_indexes(self) -> None:
        await self._c.create_index([("meeting_id", ASCENDING), ("created_at", ASCENDING)])

    async def create(self, message: MeetingMessage) -> MeetingMessage:
        await self._c.insert_one(self._dump(message))
        return message

    async def set_offset(self, message_id: str, offset: int) -> None:
        await self._c.update_one({"_id": message_id}, {"$set": {"offset": offset}})

    async def list_for_meeting(self, meeting_id: str, params: PageParams) -> Page[MeetingMessage]:
        return await self._page(
            {"meeting_id": meeting_id}, params, [("created_at", ASCENDING), ("_id", ASCENDING)]
        )

    async def count_by_user(self, meeting_id: str) -> dict[str, int]:
        counts: Counter[str] = Counter()
        async for doc in self._c.find({"meeting_id": meeting_id}, {"user_id": 1}):
            counts[doc["user_id"]] += 1
        return dict(counts)
