"""One connected socket's state: who it is, its token's expiry, its rooms, its rate bucket."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import socketio

from core.errors import RoomcastError, Unauthorized
from core.revocations import TokenRevocations
from core.tokens import Claims, TokenService
from realtime.contract import ERR_TOKEN_REVOKED, ERR_UNAUTHORIZED
from realtime.limits import EventBucket
from realtime.rooms import RoomGrant


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
    # Rooms with a join in progress: a second join of the same room waits for the first.
    entering: dict[str, Entering] = field(default_factory=dict)
    status: str = "online"
    expiry: asyncio.TimerHandle | None = None
    closing: bool = False


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


def refuse(exc: RoomcastError) -> socketio.exceptions.ConnectionRefusedError:
    """The connect_error a client sees: `message` and `data: {code, message}`."""
    code = exc.code if exc.code else ERR_UNAUTHORIZED
    return socketio.exceptions.ConnectionRefusedError(
        exc.message, {"code": code, "message": exc.message}
    )


def auth_token(auth: Any) -> object:
    return auth.get("token") if isinstance(auth, dict) else None
