"""A meeting's history pages in the order its messages were sent, also within one millisecond
(the web app asks for the last page by offset and total: a random order among messages of the
same millisecond showed one of them twice over a page boundary and hid another)."""

from __future__ import annotations

from pathlib import Path

from core.store.messages import MeetingMessageRepository
from tests.support.domain import check_same_millisecond_order
from tests.support.embedded import embedded_database


async def test_messages_of_one_millisecond_page_in_their_room_order(tmp_path: Path) -> None:
    messages = MeetingMessageRepository(embedded_database(tmp_path))
    await messages.ensure_indexes()
    await check_same_millisecond_order(messages)
