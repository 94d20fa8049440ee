"""A join's account and membership checks answer as a read of the store would, and read it
again only when the embedded store cannot prove that nothing changed since the last read."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from core.errors import NotFound, Unauthorized
from core.ids import utcnow
from core.models import ProjectRole
from core.settings import Settings
from core.store.database import open_mongo
from core.store.stores import Stores
from realtime.limits import EventBucket
from realtime.rooms import RoomAuthorizer
from realtime.session import Session, still_active


@pytest.fixture
async def stores(tmp_path: Path) -> AsyncIterator[Stores]:
    settings = Settings(env="test", data_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]
    client, db = open_mongo(settings)
    yield Stores.over(db)
    await client.close()


class Reads:
    """Counts a repository method's calls (the real one answers)."""

    def __init__(self, target: Any, name: str) -> None:
        self.count = 0
        real = getattr(target, name)

        async def counted(*args: Any) -> Any:
            self.count += 1
            return await real(*args)

        setattr(target, name, counted)


async def test_an_account_ended_after_connect_joins_nothing(stores: Stores) -> None:
    ada = await stores.users.create(email="ada@example.com", name="Ada", password_hash=None)
    session = Session(sid="s1", user_id=ada.id, name="Ada", jti="j", exp=0,
                      bucket=EventBucket(10, 10))
    reads = Reads(stores.users, "get")
    await still_active(stores, session)  # never read for this socket: read now
    await still_active(stores, session)  # no account changed since
    assert reads.count == 1

    # Written to the store only: the end of its sessions has not reached the socket.
    await stores.users.update(ada.id, active=False)
    with pytest.raises(Unauthorized):
        await still_active(stores, session)
    with pytest.raises(Unauthorized):
        await still_active(stores, session)  # refused again, not remembered as active
    assert reads.count == 3


async def test_a_deleted_account_joins_nothing(stores: Stores) -> None:
    ada = await stores.users.create(email="ada@example.com", name="Ada", password_hash=None)
    session = Session(sid="s1", user_id=ada.id, name="Ada", jti="j", exp=0,
                      bucket=EventBucket(10, 10))
    await still_active(stores, session)
    await stores.users.delete(ada.id)
    with pytest.raises(Unauthorized):
        await still_active(stores, session)


async def test_another_accounts_change_makes_the_join_read_again(stores: Stores) -> None:
    ada = await stores.users.create(email="ada@example.com", name="Ada", password_hash=None)
    session = Session(sid="s1", user_id=ada.id, name="Ada", jti="j", exp=0,
                      bucket=EventBucket(10, 10))
    await still_active(stores, session)
    reads = Reads(stores.users, "get")
    await stores.users.create(email="bob@example.com", name="Bob", password_hash=None)
    await still_active(stores, session)
    assert reads.count == 1


async def test_a_removed_member_and_a_deleted_meeting_are_refused(stores: Stores) -> None:
    ada = await stores.users.create(email="ada@example.com", name="Ada", password_hash=None)
    bob = await stores.users.create(email="bob@example.com", name="Bob", password_hash=None)
    project = await stores.projects.create(name="P", owner_id=ada.id)
    await stores.projects.add_member(project.id, bob.id, ProjectRole.MEMBER)
    meeting = await stores.meetings.create(project_id=project.id, title="M", agenda="",
                                           scheduled_at=utcnow() + timedelta(hours=1),
                                           created_by=ada.id)
    room = f"meeting:{meeting.id}"
    authorizer = RoomAuthorizer(stores)
    members, meetings = Reads(stores.projects, "member_ids"), Reads(stores.meetings, "get")
    for _ in range(3):
        assert (await authorizer.grant(room, bob.id)).project_id == project.id
        assert (await authorizer.grant(room, ada.id)).project_id == project.id
    assert (members.count, meetings.count) == (1, 1)  # the store was read once, for both

    await stores.projects.remove_member(project.id, bob.id)
    with pytest.raises(NotFound):
        await authorizer.grant(room, bob.id)
    assert (await authorizer.grant(room, ada.id)).project_id == project.id

    await stores.meetings.delete(meeting.id, allowed=list(type(meeting.status)))
    with pytest.raises(NotFound):
        await authorizer.grant(room, ada.id)


async def test_a_teams_members_are_answered_from_one_read_and_strangers_refused(
    stores: Stores,
) -> None:
    people = [await stores.users.create(email=f"u{n}@example.com", name=f"U{n}",
                                        password_hash=None) for n in range(6)]
    project = await stores.projects.create(name="P", owner_id=people[0].id)
    for person in people[1:4]:
        await stores.projects.add_member(project.id, person.id, ProjectRole.MEMBER)
    other = await stores.projects.create(name="Q", owner_id=people[5].id)
    authorizer = RoomAuthorizer(stores)
    rosters = Reads(stores.projects, "member_ids")
    for person in people:
        member = await stores.projects.member_role(project.id, person.id) is not None
        if member:
            assert (await authorizer.grant(f"project:{project.id}", person.id)).project_id == (
                project.id)
        else:
            with pytest.raises(NotFound):
                await authorizer.grant(f"project:{project.id}", person.id)
    assert rosters.count == 1
    with pytest.raises(NotFound):  # another project's member, and a project that is not
        await authorizer.grant(f"project:{other.id}", people[0].id)
    with pytest.raises(NotFound):
        await authorizer.grant(f"project:{'f' * 32}", people[0].id)
    assert rosters.count == 3
    await stores.projects.add_member(project.id, people[4].id, ProjectRole.MEMBER)
    assert (await authorizer.grant(f"project:{project.id}", people[4].id)).project_id == (
        project.id)  # the write made the kept members stale: read again
    assert rosters.count == 4
