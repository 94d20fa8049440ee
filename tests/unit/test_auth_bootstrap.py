"""The first admin: `roomcast create-admin`'s logic and the one generated on an empty store."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from core.errors import ConfigError
from core.models import PageParams, Role
from core.passwords import PasswordHasher
from core.settings import Settings
from core.store.audit import AuditKind
from core.store.stores import Stores
from roomcast.bootstrap import GENERATED_ADMIN_EMAIL, create_admin, ensure_first_admin
from tests.support.embedded import embedded_database

MakeSettings = Callable[..., Settings]


@pytest.fixture
async def stores(tmp_path: Path) -> Stores:
    built = Stores.over(embedded_database(tmp_path, "bootstrap"))
    await built.ensure_indexes()
    return built


@pytest.fixture
def passwords() -> PasswordHasher:
    return PasswordHasher(time_cost=1, memory_cost=8 * 1024)


async def test_create_admin_creates_an_admin_who_can_sign_in(
    stores: Stores, passwords: PasswordHasher
) -> None:
    account = await create_admin(stores, passwords, email=" Root@Example.com ",
                                 password="long-password", name="Root")
    assert account.created and account.password is None and account.email == "root@example.com"
    user = await stores.users.by_email("root@example.com")
    assert user is not None and user.role == Role.ADMIN and user.name == "Root"
    assert passwords.verify(user.password_hash, "long-password")


async def test_create_admin_promotes_and_reactivates_an_existing_account(
    stores: Stores, passwords: PasswordHasher
) -> None:
    member = await stores.users.create(email="m@example.com", name="M",
                                       password_hash=passwords.hash("old-password"))
    await stores.users.update(member.id, active=False)
    account = await create_admin(stores, passwords, email="M@example.com",
                                 password="new-password")
    assert not account.created
    user = await stores.users.get(member.id)
    assert user is not None and user.role == Role.ADMIN and user.active
    assert passwords.verify(user.password_hash, "new-password")
    assert not passwords.verify(user.password_hash, "old-password")
    events = await stores.audit.list(PageParams(), kind=AuditKind.ROLE_CHANGED)
    assert events.total == 1 and events.items[0].subject_id == member.id


@pytest.mark.parametrize("password", ["short", "x" * 257])
async def test_create_admin_refuses_a_bad_password(
    stores: Stores, passwords: PasswordHasher, password: str
) -> None:
    with pytest.raises(ConfigError):
        await create_admin(stores, passwords, email="a@example.com", password=password)
    assert await stores.users.count() == 0


async def test_first_admin_is_generated_once_on_an_empty_store(
    stores: Stores, passwords: PasswordHasher, make_settings: MakeSettings
) -> None:
    settings = make_settings()
    first = await ensure_first_admin(settings, stores, passwords)
    assert first is not None and first.created and first.email == GENERATED_ADMIN_EMAIL
    assert first.password is not None and len(first.password) >= 12
    user = await stores.users.by_email(GENERATED_ADMIN_EMAIL)
    assert user is not None and user.role == Role.ADMIN
    assert passwords.verify(user.password_hash, first.password)
    # Not again: the store is no longer empty.
    assert await ensure_first_admin(settings, stores, passwords) is None
    assert await stores.users.count() == 1


async def test_no_generated_admin_when_accounts_exist_or_in_production(
    stores: Stores, passwords: PasswordHasher, make_settings: MakeSettings
) -> None:
    production = make_settings(env="production", jwt_secret="p" * 40)
    assert await ensure_first_admin(production, stores, passwords) is None
    assert await stores.users.count() == 0
    await stores.users.create(email="someone@example.com", name="S", password_hash=None)
    assert await ensure_first_admin(make_settings(), stores, passwords) is None
    assert await stores.users.by_email(GENERATED_ADMIN_EMAIL) is None


async def test_admin_from_settings_is_created_once_and_never_reset(
    stores: Stores, passwords: PasswordHasher, make_settings: MakeSettings
) -> None:
    values: dict[str, Any] = {"roomcast_admin_email": "boss@example.com",
                              "roomcast_admin_password": SecretStr("boss-password")}
    first = await ensure_first_admin(make_settings(**values), stores, passwords)
    assert first is not None and first.created and first.password is None
    values["roomcast_admin_password"] = SecretStr("another-password")
    again = await ensure_first_admin(make_settings(**values), stores, passwords)
    assert again is not None and not again.created
    user = await stores.users.by_email("boss@example.com")
    assert user is not None and passwords.verify(user.password_hash, "boss-password")
