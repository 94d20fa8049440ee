"""Connect auth, join authorization, acks for bad and unknown events (embedded default)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
import socketio

from core.ids import new_id
from tests.integration.realtime.conftest import StartServer
from tests.integration.realtime.support import Seed, SeedUser, Sock

pytestmark = pytest.mark.slow


async def test_connect_refused_with_codes(seed: Seed, start_server: StartServer,
                                          socks: Callable[[], Sock]) -> None:
    alice = seed.user("alice")
    server = start_server()
    cases = {
        None: "unauthorized",
        "not-a-token": "unauthorized",
        seed.token(alice, expires_in=-30): "token_expired",
    }
    for token, code in cases.items():
        sock = socks()
        with pytest.raises(socketio.exceptions.ConnectionError):
            await sock.connect(server.url, token)
        assert sock.connect_error["data"]["code"] == code
    ok = await socks().connect(server.url, alice.token)
    assert ok.client.connected

    signed_out = seed.token(alice)
    async with httpx.AsyncClient(base_url=server.url) as http:
        logout = await http.post("/api/v1/auth/logout", json={},
                                 headers={"Authorization": f"Bearer {signed_out}"})
    assert logout.status_code == 204
    revoked = socks()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await revoked.connect(server.url, signed_out)
    assert revoked.connect_error["data"]["code"] == "token_revoked"


async def test_join_only_for_members(seed: Seed, start_server: StartServer,
                                     socks: Callable[[], Sock]) -> None:
    alice, bob = seed.user("alice"), seed.user("bob")
    project = seed.project(alice)
    meeting = seed.meeting(project, alice)
    job = seed.job(project, alice)
    server = start_server()
    a = await socks().connect(server.url, alice.token)
    b = await socks().connect(server.url, bob.token)

    ack = await a.join(f"project:{project}")
    assert ack["ok"] is True and [p["user_id"] for p in ack["presence"]] == [alice.id]
    assert (await a.join(f"meeting:{meeting}"))["ok"] is True
    job_ack = await a.join(f"job:{job}")
    assert job_ack["state"]["progress"] == 40 and job_ack["state"]["stage"] == "parsing"
    assert not {"lease_owner", "lease_until", "enqueued_ms"} & set(job_ack["state"])

    for room in (f"project:{project}", f"meeting:{meeting}", f"job:{job}",
                 f"project:{'0' * 32}", f"user:{alice.id}", "nonsense"):
        denied = await b.join(room)
        assert denied == {"ok": False, "error": {"code": "not_found",
                                                 "message": "no such room"}}, room


async def test_bad_payloads_and_unknown_events(seed: Seed, start_server: StartServer,
                                               socks: Callable[[], Sock]) -> None:
    alice = seed.user("alice")
    project = seed.project(alice)
    server = start_server()
    a = await socks().connect(server.url, alice.token)
    bad = await a.call("join", {"room": f"project:{project}", "extra": 1})
    assert bad["error"]["code"] == "validation_error"
    assert (await a.call("join", "just a string"))["error"]["code"] == "validation_error"
    unknown = await a.call("fly", {})
    assert unknown["error"]["code"] == "unknown_event"
    not_joined = await a.call("typing", {"room": f"project:{project}", "typing": True})
    assert not_joined == {"ok": False, "error": {"code": "not_joined",
                                                 "message": "join the room first"}}
    assert (await a.call("leave", {"room": "nonsense"}))["error"]["code"] == "not_found"
    assert (await a.call("leave", {"room": f"user:{alice.id}"}))["error"]["code"] == (
        "not_joined")
    assert (await a.join(f"project:{project}"))["ok"] is True
    for event, payload in (("presence:set", {"room": f"project:{project}", "status": "  "}),
                           ("join", {"room": f"project:{project}", "status": ""}),
                           ("join", {"room": f"project:{project}", "since": -1}),
                           ("join", {"room": "project:" + "a" * 80})):
        refused = await a.call(event, payload)
        assert refused["error"]["code"] == "validation_error", (event, payload)
        assert refused["error"]["details"]["fields"][0]["loc"], refused
    assert (await a.join("project:caf\u00e9"))["error"]["code"] == "not_found"


async def test_expiry_disconnects_unless_refreshed(seed: Seed, start_server: StartServer,
                                                  socks: Callable[[], Sock]) -> None:
    alice = seed.user("alice")
    server = start_server()
    stale = await socks().connect(server.url, seed.token(alice, expires_in=2))
    fresh = await socks().connect(server.url, seed.token(alice, expires_in=2))
    refreshed = await fresh.call("auth:refresh", {"token": seed.token(alice)})
    assert refreshed["ok"] is True
    wrong = await fresh.call("auth:refresh", {"token": "garbage"})
    assert wrong["error"]["code"] == "unauthorized"
    expired = await fresh.call("auth:refresh", {"token": seed.token(alice, expires_in=-30)})
    assert expired["error"]["code"] == "token_expired"
    signed_out = seed.token(alice)
    async with httpx.AsyncClient(base_url=server.url) as http:
        logout = await http.post("/api/v1/auth/logout", json={},
                                 headers={"Authorization": f"Bearer {signed_out}"})
    assert logout.status_code == 204
    revoked = await fresh.call("auth:refresh", {"token": signed_out})
    assert revoked["error"]["code"] == "token_revoked"

    await stale.wait_for(lambda: not stale.client.connected)
    assert stale.named("session:ending") == [
        {"code": "token_expired", "message": stale.named("session:ending")[0]["message"]}]
    assert fresh.client.connected
    assert (await fresh.call("fly"))["error"]["code"] == "unknown_event"


async def test_recovery_on_the_embedded_default(seed: Seed, start_server: StartServer,
                                                socks: Callable[[], Sock]) -> None:
    alice, bob = seed.user("alice"), seed.user("bob")
    room = f"meeting:{seed.meeting(seed.project(alice, bob), alice)}"
    server = start_server(stream_max_len="3")
    a = await socks().connect(server.url, alice.token)
    await a.join(room)
    first = await a.call("message", {"room": room, "text": "one", "client_id": "c1"})
    sent = [await a.call("message", {"room": room, "text": t}) for t in ("two", "three")]

    b = await socks().connect(server.url, bob.token)
    epoch = a.named("message")[0]["epoch"]
    ack = await b.join(room, since=first["offset"], epoch=epoch)
    assert ack["recovered"] is True and ack["offset"] == sent[-1]["offset"]
    assert [m["text"] for m in b.named("message")] == ["two", "three"]
    for text in ("four", "five"):
        await a.call("message", {"room": room, "text": text})
    c = await socks().connect(server.url, bob.token)
    assert (await c.join(room, since=first["offset"], epoch=epoch))["recovered"] is False
    echoed = [m for m in a.named("message") if m["text"] == "one"]
    assert echoed[0]["client_id"] == "c1" and echoed[0]["user_name"] == "alice"


async def test_joins_into_a_large_project_s_meeting_follow_its_members(
        seed: Seed, start_server: StartServer, socks: Callable[[], Sock]) -> None:
    """A project of 3000 members (its membership read by the embedded store's own path,
    core/store/embedded/mongomock_collection.py): its head, a member in the middle and the
    last one join its meeting; a stranger is refused, and so is the middle one once removed,
    while the last one still joins after that write."""
    head, middle, last, stranger = (seed.user(name) for name in
                                    ("head", "middle", "last", "stranger"))
    crowd = [SeedUser(new_id(), "", "") for _ in range(3000)]  # members without an account
    project = seed.project(head, *crowd[:1500], middle, *crowd[1500:], last)
    room = f"meeting:{seed.meeting(project, head)}"
    server = start_server()
    h, m, la, s = [await socks().connect(server.url, user.token)
                   for user in (head, middle, last, stranger)]
    for sock in (h, m, la):
        assert (await sock.join(room))["ok"] is True
    refused = {"ok": False, "error": {"code": "not_found", "message": "no such room"}}
    assert await s.join(room) == refused

    async with httpx.AsyncClient(base_url=server.url) as http:
        removed = await http.delete(f"/api/v1/projects/{project}/members/{middle.id}",
                                    headers={"Authorization": f"Bearer {head.token}"})
    assert removed.status_code == 204, removed.text
    revoked = await m.wait_for(lambda: m.named("room:revoked"))
    assert [(r["room"], r["code"]) for r in revoked] == [(room, "membership_revoked")]
    assert await m.join(room) == refused
    rejoined = await socks().connect(server.url, last.token)
    assert (await rejoined.join(room))["ok"] is True
