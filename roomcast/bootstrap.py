"""The first admin: from ROOMCAST_ADMIN_EMAIL/PASSWORD, or generated once on an empty store."""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import ConfigError
from core.ids import new_secret
from core.models import Role
from core.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, PasswordHasher
from core.settings import Settings
from core.store.audit import AuditKind
from core.store.stores import Stores

GENERATED_ADMIN_EMAIL = "admin@roomcast.local"


@dataclass(frozen=True)
class AdminAccount:
    email: str
    password: str | None  # set only when it was generated now and must be shown once
    created: bool


async def create_admin(
    stores: Stores, passwords: PasswordHasher, *, email: str, password: str, name: str = "Admin"
) -> AdminAccount:
    """Create an admin, or promote and reset an existing account with that email."""
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise ConfigError(f"an admin password needs {MIN_PASSWORD_LENGTH} to "
                          f"{MAX_PASSWORD_LENGTH} characters")
    password_hash = await passwords.hash_async(password)
    existing = await stores.users.by_email(email)
    if existing is not None:
        await stores.users.update(existing.id, role=Role.ADMIN, password_hash=password_hash,
                                  active=True)
        if existing.role != Role.ADMIN:
            await stores.audit.record(AuditKind.ROLE_CHANGED, subject_id=existing.id,
                                      data={"from": existing.role.value, "to": "admin",
                                            "by": "create-admin"})
        return AdminAccount(existing.email, None, created=False)
    user = await stores.users.create(
        email=email, name=name, password_hash=password_hash, role=Role.ADMIN
    )
    await stores.audit.record(AuditKind.REGISTERED, subject_id=user.id,
                              data={"role": "admin", "by": "create-admin"})
    return AdminAccount(user.email, None, created=True)


async def ensure_first_admin(
    settings: Settings, stores: Stores, passwords: PasswordHasher
) -> AdminAccount | None:
    """The admin to announce at start-up: from ROOMCAST_ADMIN_EMAIL/PASSWORD if set (created
    only if missing), else one generated with a one-time password on an empty development
    store; None otherwise (production never generates one)."""
    if settings.roomcast_admin_email and settings.roomcast_admin_password:
        if await stores.users.by_email(settings.roomcast_admin_email) is not None:
            return AdminAccount(settings.roomcast_admin_email, None, created=False)
        return await create_admin(
            stores, passwords, email=settings.roomcast_admin_email,
            password=settings.roomcast_admin_password.get_secret_value(),
        )
    if settings.env == "production" or await stores.users.count() > 0:
        return None
    password = new_secret(12)
    account = await create_admin(stores, passwords, email=GENERATED_ADMIN_EMAIL, password=password)
    return AdminAccount(account.email, password, created=True)
