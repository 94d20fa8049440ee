"""What admins see of, and do to, the live side: the seam between the REST admin views and the
socket server, which the composition root fills (`realtime.live_admin.LiveAdmin`)."""

from __future__ import annotations

from typing import Literal, Protocol

from pydantic import BaseModel

AnnouncementLevel = Literal["info", "warning", "critical"]
LIVE_ADMIN_KEY = "live_admin"  # where the composition root puts it in the app's extras


class LiveSocket(BaseModel):
    sid: str
    user_id: str
    client: str | None
    connected_seconds: float
    rooms: list[str]


class ProcessCensus(BaseModel):
    """One serving process's sockets, as it reported them."""

    process_id: str
    sockets: list[LiveSocket]


class Census(BaseModel):
    processes: list[ProcessCensus]
    # False when a live process did not answer in time: its sockets are missing.
    complete: bool


class LiveControl(Protocol):
    async def census(self) -> Census:
        """Every serving process's sockets (asked over the room bus, answered within ~1 s)."""
        ...

    async def disconnect_user(self, user_id: str) -> None:
        """Tell every socket of the user, on every process, `session:ending` and close it."""
        ...

    async def announce(self, message: str, level: AnnouncementLevel) -> None:
        """`server:announcement` to every socket on every process (not stored)."""
        ...
