"""A collection's version: what lets a reader prove that nothing changed since its last read."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from core.settings import Settings
from core.store.database import open_mongo
from core.store.stores import Stores


def settings(**values: Any) -> Settings:
    return Settings(env="test", _env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
async def stores(tmp_path: Path) -> AsyncIterator[Stores]:
    client, db = open_mongo(settings(data_dir=tmp_path))
    yield Stores.over(db)
    await client.close()


async def test_every_write_changes_the_version_and_nothing_else_does(stores: Stores) -> None:
    users = stores.users
    before = users.version()
    assert before is not None
    ada = await users.create(email="ada@example.com", name="Ada", password_hash=None)
    created = users.version()
    assert created != before

    await users.get(ada.id)  # reads
    await users.by_email("ada@example.com")
    await stores.projects.create(name="P", owner_id=ada.id)  # another collection's write
    assert users.version() == created

    await users.update(ada.id, active=False)
    updated = users.version()
    assert updated not in (before, created)
    await users.update("nobody", active=False)  # a write that matched nothing still counts
    assert users.version() != updated


async def test_over_mongodb_there_is_no_version() -> None:
    # Other processes write to MongoDB unseen: nothing can be proven unchanged (the client
    # connects lazily: no server is needed to ask).
    client, db = open_mongo(settings(mongo_uri="mongodb://127.0.0.1:1/"))
    try:
        assert Stores.over(db).users.version() is None
    finally:
        await client.close()
