"""One connected socket's state: who it is, its token's expiry, its rooms, its rate bucket."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import socketio

from core.errors import (
    RoomcastError,
    ServiceUnavailable,
    StoreFailed,
    StoreUnavailable,
    Unauthorized,
)
from core.revocations import TokenRevocations
from core.store.stores import Stores
from core.store.users import User
from core.tokens import Claims, TokenService
from realtime.contract import ERR_TOKEN_REVOKED, ERR_UNAUTHORIZED
from realtime.limits import EventBucket
from realtime.rooms import RoomGrant

log = logging.getLogger("roomcast.realtime")

@dataclass
class Entering:
    """A join in progress; `revoked` collects the projects whose membership ended meanwhile."""

    done: asyncio.Event = field(default_factory=asyncio.Event)
    revoked: set[str] = field(default_factory=set)


@dataclass
class Session:
    sid: str
    user_id: str
    name: str
    jti: str
    exp: int
    bucket: EventBucket
    rooms: dict[str, RoomGrant] = field(default_factory=dict)
    # The meeting stays this socket opened (room -> the attendance record's id), so leaving
    # ends its own by id instead of searching every stay for the socket's.
    stays: dict[str, str] = field(default_factory=dict)
    # Rooms with a join in progress: a second join of the same room waits for the first.
    entering: dict[str, Entering] = field(default_factory=dict)
    status: str = "online"
    # The users collection's version (`Repository.version`) when the account was last read
    # active for this socket; None when it was not, or when the store cannot prove it unchanged.
    account_seen: int | None = None
    expiry: asyncio.TimerHandle | None = None
    closing: bool = False
    # For the access log: the client's address and when the socket connected (monotonic).
    client: str | None = None
    connected_at: float = field(default_factory=time.monotonic)


class TokenRevoked(Unauthorized):
    code = ERR_TOKEN_REVOKED
    default_message = "the token has been revoked"


async def verify_token(
    tokens: TokenService, revocations: TokenRevocations, token: object
) -> Claims:
    """Check an access token as connect and `auth:refresh` receive it."""
    if not isinstance(token, str) or not token:
        raise Unauthorized("an access token is required in auth.token")
    claims = tokens.verify(token, typ="access")
    if await revocations.is_revoked(claims.jti):
        raise TokenRevoked()
    return claims


async def active_user(stores: Stores, user_id: str) -> User:
    """The stored account, refused when it is deactivated or deleted: connect, `join` and
    `auth:refresh` ask the store, so an ended account gets nothing more on any process."""
    user = await stores.users.get(user_id)
    if user is None or not user.active:
        raise Unauthorized("the account is not active")
    return user


async def still_active(stores: Stores, session: Session) -> None:
    """Refuse the socket's request when its account has ended meanwhile: an ended account gets
    nothing more, even before the end of its sessions reaches this process.

    The store is asked again unless it proves that no account changed since the socket's last
    read (the embedded store: this process is its only writer, and every write to the users
    collection changes its version). Over MongoDB, written by other processes unseen, every
    call reads the account."""
    users = stores.users
    version = users.version()  # before the read: a write meanwhile leaves it stale, not wrong
    if version is not None and version == session.account_seen:
        return
    await active_user(stores, session.user_id)
    session.account_seen = version


def refuse(exc: RoomcastError) -> socketio.exceptions.ConnectionRefusedError:
    """The connect_error a client sees: `message` and `data: {code, message}`."""
    code = exc.code if exc.code else ERR_UNAUTHORIZED
    return socketio.exceptions.ConnectionRefusedError(
        exc.message, {"code": code, "message": exc.message}
    )


# The document store's errors as core/store raises them; the socket edge answers both alike.
STORE_ERRORS = (StoreUnavailable, StoreFailed)


def store_unavailable(exc: StoreUnavailable | StoreFailed) -> ServiceUnavailable:
    """A document store failure as the socket edge answers it: `service_unavailable`, retry
    later (the code the socket contract has always given it)."""
    if isinstance(exc, StoreUnavailable):  # unreachable, timed out, no primary, disk full
        log.warning("the document store cannot be reached: %r", exc.__cause__ or exc)
        return ServiceUnavailable(exc.message)
    # An answer from the store that Roomcast did not expect: worth a traceback.
    log.error("the document store failed", exc_info=exc)
    return ServiceUnavailable(StoreUnavailable.default_message)


def auth_token(auth: Any) -> object:
    return auth.get("token") if isinstance(auth, dict) else None
