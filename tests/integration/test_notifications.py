"""Notifications over REST: list, unread filter and count, mark read, mark all read."""

from __future__ import annotations

from datetime import timedelta

import httpx

from roomcast.factory import Services
from tests.support.domain import make_user

API = "/api/v1"


async def test_list_count_and_mark(client: httpx.AsyncClient, services: Services) -> None:
    alice = await make_user(services, "Alice")
    bob = await make_user(services, "Bob")
    repo = services.ctx.stores.notifications
    created = [await repo.create(alice.id, "task.assigned", f"n{i}", data={"i": i})
               for i in range(3)]
    await repo.create(bob.id, "project.added", "not alice's")
    listing = (await client.get(f"{API}/notifications", headers=alice.headers)).json()
    assert listing["total"] == 3
    # Newest first, ties (same millisecond) broken by id, newest-id first.
    expected = sorted(created, key=lambda n: (n.created_at, n.id), reverse=True)
    assert [n["id"] for n in listing["items"]] == [n.id for n in expected]
    assert {n["read"] for n in listing["items"]} == {False}
    count_url = f"{API}/notifications/unread-count"
    assert (await client.get(count_url, headers=alice.headers)).json() == {"count": 3}

    marked = await client.post(f"{API}/notifications/{created[0].id}/read", headers=alice.headers)
    assert (marked.status_code, marked.json()["read"]) == (200, True)
    assert (await client.get(count_url, headers=alice.headers)).json() == {"count": 2}
    unread = (await client.get(f"{API}/notifications", params={"unread_only": "true"},
                               headers=alice.headers)).json()
    assert sorted(n["id"] for n in unread["items"]) == sorted([created[1].id, created[2].id])

    everything = await client.post(f"{API}/notifications/read-all", headers=alice.headers)
    assert everything.json() == {"updated": 2}
    assert (await client.get(count_url, headers=alice.headers)).json() == {"count": 0}
    assert (await client.get(count_url, headers=bob.headers)).json() == {"count": 1}


async def test_others_notifications_are_not_found(
    client: httpx.AsyncClient, services: Services
) -> None:
    alice = await make_user(services, "Alice")
    bob = await make_user(services, "Bob")
    theirs = await services.ctx.stores.notifications.create(bob.id, "x", "bob's")
    for notification_id in (theirs.id, "missing"):
        response = await client.post(f"{API}/notifications/{notification_id}/read",
                                     headers=alice.headers)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    stored = await services.ctx.stores.notifications.get(theirs.id)
    assert stored is not None and stored.read is False


async def test_pagination_and_bad_query(client: httpx.AsyncClient, services: Services) -> None:
    alice = await make_user(services, "Alice")
    for i in range(5):
        await services.ctx.stores.notifications.create(alice.id, "x", f"n{i}")
    page = (await client.get(f"{API}/notifications", params={"limit": 2, "offset": 4},
                             headers=alice.headers)).json()
    assert (len(page["items"]), page["total"], page["limit"], page["offset"]) == (1, 5, 2, 4)
    for bad in ({"unread_only": "maybe"}, {"limit": "many"}):
        response = await client.get(f"{API}/notifications", params=bad, headers=alice.headers)
        assert response.status_code == 422, bad
    assert (await client.get(f"{API}/notifications")).status_code == 401


async def test_expiry_is_stored_and_indexed(services: Services) -> None:
    repo = services.ctx.stores.notifications
    made = await repo.create("u", "x", "t", ttl=timedelta(days=2))
    assert made.expires_at - made.created_at == timedelta(days=2)
    default = await repo.create("u", "x", "t")
    assert default.expires_at - default.created_at == timedelta(days=30)
    indexes = await services.ctx.stores.db["notifications"].index_information()
    ttl = [i for i in indexes.values() if i["key"] == [("expires_at", 1)]]
    assert [i.get("expireAfterSeconds") for i in ttl] == [0]
