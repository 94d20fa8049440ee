"""Who may do what on the socket: joining project, meeting and job rooms, and sending into a
meeting, for an admin who is not a member, the project's head, a member, an outsider, a
deactivated account and a deleted one (the embedded default)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import socketio

from core.models import Role
from tests.integration.realtime.conftest import StartServer
from tests.integration.realtime.support import Seed, SeedUser, Sock

pytestmark = pytest.mark.slow

NOT_FOUND = {"ok": False, "error": {"code": "not_found", "message": "no such room"}}
NOT_JOINED = {"ok": False, "error": {"code": "not_joined", "message": "join the room first"}}


async def test_the_socket_authorization_matrix(
    seed: Seed, start_server: StartServer, socks: Callable[[], Sock]
) -> None:
    head, member = seed.user("head"), seed.user("member")
    users: dict[str, SeedUser] = {
        "admin": seed.user("admin", role=Role.ADMIN),  # site admin, not in the project
        "head": head,
        "member": member,
        "outsider": seed.user("outsider"),
        "deactivated": seed.user("deactivated", active=False),
        "deleted": seed.user("deleted", stored=False),
    }
    project = seed.project(head, member, users["deactivated"], users["deleted"])
    rooms = {"project": f"project:{project}", "meeting": f"meeting:{seed.meeting(project, head)}",
             "job": f"job:{seed.job(project, head)}"}
    server = start_server()

    for role, user in users.items():
        sock = socks()
        if role in ("deactivated", "deleted"):  # a member on paper, but the account is over
            with pytest.raises(socketio.exceptions.ConnectionError):
                await sock.connect(server.url, user.token)
            assert sock.connect_error["data"] == {"code": "unauthorized",
                                                  "message": "the account is not active"}, role
            continue
        await sock.connect(server.url, user.token)
        allowed = role in ("head", "member")
        for kind, room in rooms.items():
            ack = await sock.join(room)
            if allowed:
                assert ack["ok"] is True and ack["room"] == room, (role, kind, ack)
            else:
                assert ack == NOT_FOUND, (role, kind)
        said = await sock.call("message", {"room": rooms["meeting"], "text": f"from {role}"})
        assert said["ok"] is allowed, (role, said)
        if not allowed:
            assert said == NOT_JOINED, role
        for room in rooms.values():
            left = await sock.call("leave", {"room": room})
            assert left == ({"ok": True, "room": room} if allowed else NOT_JOINED), (role, room)
        other = await sock.join(f"user:{head.id}" if role != "head" else f"user:{member.id}")
        assert other == NOT_FOUND, role
