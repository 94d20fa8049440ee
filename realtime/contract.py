"""The wire contract: event names, room names, payload models, ack shapes and error codes.

Clients (tests, the browser console, docs/protocol.md) follow this module; nothing else in
Roomcast spells an event name or an error code.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

from pydantic import BaseModel, ConfigDict, Field

# Client -> server events (each answered through its ack).
JOIN = "join"
LEAVE = "leave"
MESSAGE = "message"
PRESENCE_SET = "presence:set"
TYPING = "typing"
AUTH_REFRESH = "auth:refresh"
CLIENT_EVENTS = (JOIN, LEAVE, MESSAGE, PRESENCE_SET, TYPING, AUTH_REFRESH)

# Server -> client events. Those marked "stored" carry `room`, `offset` and `epoch` and are
# recoverable.
NOTIFICATION = "notification"  # stored, in user:{id}
MEETING_MESSAGE = "message"  # stored, in meeting:{id}
# Events published through the emitter by the REST side and workers (all stored):
MEETING_STARTED = "meeting.started"  # meeting:{id} and project:{id}
MEETING_ENDED = "meeting.ended"  # meeting:{id} and project:{id}
JOB_PROGRESS = "job.progress"  # job:{id} and project:{id}
JOB_COMPLETED = "job.completed"
JOB_FAILED = "job.failed"
JOB_CANCELLED = "job.cancelled"
TASK_EVENTS = ("task.created", "task.updated", "task.deleted")  # project:{id}
# People (docs/protocol.md, "People events"): all stored. Payloads follow the REST documents.
MEETING_EVENTS = ("meeting.scheduled",  # project:{id} ({meeting, by})
                  "meeting.changed", "meeting.cancelled", "meeting.deleted")  # and meeting:{id}
MEETING_REMINDED = "meeting.reminded"  # user:{id} ({meeting, lead_minutes, notification_id})
PROJECT_EVENTS = ("project.updated", "project.deleted")  # project:{id}; deleted: user:{id} too
MEMBER_EVENTS = ("member.added", "member.removed", "member.role_changed")  # project:{id}
INVITATION_EVENTS = ("invitation.created", "invitation.revoked")  # project:{id}
UPLOAD_EVENTS = ("upload.created", "upload.deleted")  # project:{id}
RECORD_EVENTS = ("record.created", "record.updated", "record.deleted")  # project:{id}
VISUALIZATION_EVENTS = ("visualization.created", "visualization.deleted")  # project:{id}
DOCUMENT_EVENTS = ("document.created", "document.updated", "document.deleted")  # project:{id}
DATASET_DELETED = "dataset.deleted"  # project:{id} ({dataset_id, by})
# project:{id} ({dataset, by, job_id}): published once by the job that made it (workers/announce)
DATASET_CREATED = "dataset.created"
NOTIFICATION_READ = "notification.read"  # user:{id} ({notification_id}): every tab in step
NOTIFICATION_READ_ALL = "notification.read_all"  # user:{id} ({updated})
PRESENCE_JOINED = "presence:joined"  # volatile: a user's first connection entered the room
PRESENCE_LEFT = "presence:left"  # volatile: a user's last connection left the room
PRESENCE_UPDATED = "presence:updated"  # volatile: status or connection count changed
PRESENCE_TYPING = "presence:typing"  # volatile, never stored
ROOM_REVOKED = "room:revoked"  # the socket was removed from a room (membership revoked)
SESSION_ENDING = "session:ending"  # sent right before the server disconnects the socket
SERVER_ANNOUNCEMENT = "server:announcement"  # volatile, to every socket: an admin's message

# Error codes in acks, `connect_error` data and `session:ending` payloads.
ERR_UNAUTHORIZED = "unauthorized"
ERR_TOKEN_EXPIRED = "token_expired"
ERR_TOKEN_REVOKED = "token_revoked"
ERR_NOT_FOUND = "not_found"
ERR_NOT_JOINED = "not_joined"
ERR_VALIDATION = "validation_error"
ERR_PAYLOAD_TOO_LARGE = "payload_too_large"
ERR_RATE_LIMITED = "rate_limited"
ERR_UNKNOWN_EVENT = "unknown_event"
ERR_UNAVAILABLE = "service_unavailable"
ERR_INTERNAL = "internal"
# The body of the HTTP 400 answering a long-polling request where polling is not served.
ERR_POLLING_DISABLED = "polling_disabled"
# Reasons in `session:ending`.
REASON_SLOW_CONSUMER = "slow_consumer"
REASON_SHUTDOWN = "server_shutdown"
REASON_MEMBERSHIP_REVOKED = "membership_revoked"
REASON_MISSED_EVENTS = "missed_events"
REASON_ADMIN_DISCONNECT = "disconnected_by_admin"
REASON_ACCOUNT_DEACTIVATED = "account_deactivated"  # session:ending, on every process
REASON_ACCOUNT_DELETED = "account_deleted"  # session:ending, on every process

RoomKind = Literal["user", "project", "meeting", "job"]
JOINABLE_KINDS: tuple[str, ...] = ("project", "meeting", "job")
ROOM_ID_MAX = 64


def user_room(user_id: str) -> str:
    return f"user:{user_id}"


def parse_room(room: str) -> tuple[str, str] | None:
    """Split `kind:id`; None when the name is not a room Roomcast knows."""
    kind, sep, room_id = room.partition(":")
    if not sep or kind not in ("user", *JOINABLE_KINDS) or not room_id:
        return None
    if len(room_id) > ROOM_ID_MAX or not (room_id.isascii() and room_id.isalnum()):
        return None
    return kind, room_id


class _In(BaseModel):
    # Strict, as the REST API: `"typing": "yes"`, `"since": "3"` or `5.0` are refused.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=True)


class JoinIn(_In):
    room: str = Field(min_length=3, max_length=80)
    since: int | None = Field(default=None, ge=0)
    # The room's epoch the client's `since` counts in (from a join ack or a stored event).
    epoch: str | None = Field(default=None, min_length=1, max_length=64,
                              pattern=r"^[0-9A-Za-z]+$")
    status: str | None = Field(default=None, min_length=1, max_length=64)
    # A rejoin's socket id before its reconnect: the presence place that connection still
    # has, on a process that died, goes to this one (docs/protocol.md, Presence).
    previous: str | None = Field(default=None, min_length=1, max_length=64,
                                 pattern=r"^[0-9A-Za-z_-]+$")


class LeaveIn(_In):
    room: str = Field(min_length=3, max_length=80)


class MessageIn(_In):
    room: str = Field(min_length=3, max_length=80)
    text: str = Field(min_length=1)
    client_id: str | None = Field(default=None, max_length=64)


class PresenceSetIn(_In):
    room: str = Field(min_length=3, max_length=80)
    status: str = Field(min_length=1, max_length=64)


class TypingIn(_In):
    room: str = Field(min_length=3, max_length=80)
    typing: bool


class RefreshIn(_In):
    token: str = Field(min_length=1, max_length=8192)


class PresenceEntry(BaseModel):
    """One user in a room: every connection of theirs counts once here."""

    user_id: str
    name: str
    status: str = "online"
    connections: int = 1

    def wire(self) -> PresenceUser:
        return {"user_id": self.user_id, "name": self.name, "status": self.status,
                "connections": self.connections}


# Acks: every client event is answered with exactly one of these.


class ErrorBody(TypedDict):
    code: str  # one of the ERR_* codes above
    message: str
    # Only when there is something to add: `fields` (validation), `retry_after` (rate
    # limit), `events` (unknown event).
    details: NotRequired[dict[str, Any]]


class ErrorAck(TypedDict):
    ok: Literal[False]
    error: ErrorBody


class PresenceUser(TypedDict):
    user_id: str
    name: str
    status: str  # the one most recently set on any of the user's connections
    connections: int  # the user's connections in the room, over every process


class JoinAck(TypedDict):
    ok: Literal[True]
    room: str
    offset: int  # the room's latest offset when the join happened
    epoch: str  # what the room's offsets count in: send it back with `since`
    presence: list[PresenceUser]  # empty in user rooms
    recovered: NotRequired[bool]  # only when `since` was given
    replayed: NotRequired[int]  # only when `since` was given
    state: NotRequired[dict[str, Any]]  # job rooms: the job as GET /api/v1/jobs/{id} has it


class LeaveAck(TypedDict):
    ok: Literal[True]
    room: str


class MessageAck(TypedDict):
    ok: Literal[True]
    room: str
    offset: int
    id: str  # the stored message's id


class PresenceSetAck(TypedDict):
    ok: Literal[True]
    room: str
    user: PresenceUser


class TypingAck(TypedDict):
    ok: Literal[True]


class RefreshAck(TypedDict):
    ok: Literal[True]
    exp: int  # the new token's expiry (Unix seconds)


Ack = JoinAck | LeaveAck | MessageAck | PresenceSetAck | TypingAck | RefreshAck | ErrorAck


# Payloads of the server events the socket server builds itself. Stored events (those with
# an offset) also carry `room`, `offset` and `epoch`; the REST side's and the workers' follow the
# documents the REST API returns (docs/protocol.md lists them).


class PresenceChangeOut(TypedDict):
    """`presence:joined` (a user's first connection entered) and `presence:updated`."""

    room: str
    user: PresenceUser


class PresenceLeftOut(TypedDict):
    """`presence:left`: the user's last connection left the room."""

    room: str
    user_id: str


class PresenceTypingOut(TypedDict):
    room: str
    user_id: str
    typing: bool


class RoomRevokedOut(TypedDict):
    """`room:revoked`: the socket has left the room; its user left the project."""

    room: str
    code: str  # membership_revoked
    message: str


class SessionEndingOut(TypedDict):
    """`session:ending`: sent right before the server disconnects the socket."""

    code: str  # token_expired, rate_limited, server_shutdown, slow_consumer, missed_events,
    # account_deactivated, account_deleted
    message: str


class MeetingMessageOut(TypedDict):
    """`message` (stored): core.store.messages.MeetingMessage as JSON, without project_id."""

    room: str
    offset: int
    epoch: str
    id: str
    meeting_id: str
    user_id: str
    user_name: str
    text: str
    client_id: str | None
    created_at: str  # ISO 8601, UTC


def session_ending(code: str, message: str) -> SessionEndingOut:
    return {"code": code, "message": message}


def error(code: str, message: str, **details: Any) -> ErrorAck:
    body: ErrorBody = {"code": code, "message": message}
    if details:  # left out when empty
        body["details"] = details
    return {"ok": False, "error": body}
