"""The domain repositories against a real MongoDB, where the in-process stand-in may differ:
member compare-and-set, `$elemMatch` projections, prefix regexes, day strings, TTL index,
messages written in groups (`insert_many`, unordered)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest

from core.errors import Conflict, DuplicateKey
from core.models import PageParams, ProjectRole, Role
from core.store.meetings import MeetingStatus
from core.store.messages import NewMessage
from core.store.tasks import Task, TaskFilter, TaskStatus
from roomcast.factory import Services, build_services
from tests.support.domain import check_same_millisecond_order

pytestmark = [
    pytest.mark.mongo,
    pytest.mark.skipif(not os.environ.get("MONGO_URI"),
                       reason="MONGO_URI is not set: no real MongoDB to run against"),
]


@pytest.fixture
async def mongo(make_settings: Any) -> AsyncIterator[Services]:
    settings = make_settings(mongo_uri=os.environ["MONGO_URI"],
                             mongo_db=f"roomcast_test_{uuid4().hex[:12]}")
    services = build_services(settings)
    await services.start()
    try:
        yield services
    finally:
        await services.ctx.stores.db.drop()
        await services.close()


async def test_members_and_profiles(mongo: Services) -> None:
    stores = mongo.ctx.stores
    ada = await stores.users.create(email="ada@m.example", name="Ada", password_hash=None)
    bob = await stores.users.create(email="bob@m.example", name="bob", password_hash=None,
                                    role=Role.MEMBER)
    project = await stores.projects.create(name="P", owner_id=ada.id)
    assert await stores.projects.add_member(project.id, bob.id) is not None
    assert await stores.projects.member_role(project.id, bob.id) == ProjectRole.MEMBER
    with pytest.raises(Conflict):
        await stores.projects.set_member_role(project.id, ada.id, ProjectRole.MEMBER)
    with pytest.raises(Conflict):
        await stores.projects.remove_member(project.id, ada.id)
    promoted = await stores.projects.set_member_role(project.id, bob.id, ProjectRole.HEAD)
    assert promoted is not None and promoted.role_of(bob.id) == ProjectRole.HEAD
    assert await stores.projects.remove_member(project.id, ada.id)
    assert await stores.projects.member_role(project.id, ada.id) is None
    found = await stores.projects.profiles([ada.id, bob.id], "B")
    assert [p.user_id for p in found] == [bob.id]
    found_page = await stores.projects.search_users("ada@", exclude=[bob.id],
                                                    params=PageParams(limit=5))
    assert ([p.user_id for p in found_page.items], found_page.total) == ([ada.id], 1)


async def test_tasks_meetings_notifications(mongo: Services) -> None:
    stores = mongo.ctx.stores
    for day, status in ((date(2030, 1, 1), TaskStatus.DONE), (date(2030, 2, 1), TaskStatus.TODO),
                        (None, TaskStatus.TODO)):
        await stores.tasks.create(Task(project_id="p", title="t", created_by="u",
                                       due_date=day, status=status))
    page = await stores.tasks.list_for_project(
        "p", PageParams(), TaskFilter(due_before=date(2030, 1, 15))
    )
    assert [t.due_date for t in page.items] == [date(2030, 1, 1)]
    assert (await stores.tasks.count_by_status("p"))[TaskStatus.TODO] == 2

    when = datetime(2030, 1, 1, tzinfo=UTC)
    meeting = await stores.meetings.create(project_id="p", title="m", agenda="",
                                           scheduled_at=when, created_by="u")
    assert (await stores.meetings.start(meeting.id)) is not None
    assert await stores.meetings.start(meeting.id) is None
    live = await stores.meetings.list_for_project("p", PageParams(), MeetingStatus.LIVE)
    assert [m.scheduled_at for m in live.items] == [when]

    made = await stores.notifications.create("u", "k", "t", ttl=timedelta(days=1))
    assert await stores.notifications.unread_count("u") == 1
    assert (await stores.notifications.mark_read("u", made.id)) is not None
    indexes = await stores.db["notifications"].index_information()
    assert any(i.get("expireAfterSeconds") == 0 for i in indexes.values())


async def test_messages_written_in_groups(mongo: Services) -> None:
    messages = mongo.ctx.stores.messages

    def message(n: int) -> NewMessage:
        return NewMessage(meeting_id="m" * 32, project_id="p" * 32, user_id="u" * 32,
                          user_name="Ada", text=f"m{n}", client_id=None)

    taken = await messages.create(message(0))
    again = message(1)
    again.id = taken.id
    group = [message(2), again, message(3)]
    results = await asyncio.gather(*(messages.create(m) for m in group),
                                   return_exceptions=True)
    assert results[0] is group[0] and results[2] is group[2]
    assert isinstance(results[1], DuplicateKey)  # MongoDB's E11000, as core/store raises it
    page = await messages.list_for_meeting("m" * 32, PageParams(limit=10, offset=0))
    assert sorted(m.text for m in page.items) == ["m0", "m2", "m3"]


async def test_messages_of_one_millisecond_page_in_their_room_order(mongo: Services) -> None:
    await check_same_millisecond_order(mongo.ctx.stores.messages)
