"""The two routes the web app needs beyond the rest of the API: the sign-up mode before
signing in, and the operator's live socket counts."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from core.models import Role
from core.settings import Settings
from tests.support.domain import make_user


@pytest.mark.parametrize("mode", ["open", "invite", "closed"])
async def test_auth_options_name_the_registration_mode(make_settings: Any, mode: str) -> None:
    from api.app import create_app
    from roomcast.factory import build_services

    settings: Settings = make_settings(registration=mode)
    services = build_services(settings)
    await services.start()
    try:
        transport = httpx.ASGITransport(app=create_app(services.ctx))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            answer = await http.get("/api/v1/auth/options")
    finally:
        await services.close()
    assert answer.status_code == 200
    assert answer.json() == {"registration": mode, "oidc": False}


async def test_realtime_counts_are_for_admins_only(client: httpx.AsyncClient,
                                                  services: Any) -> None:
    member = await make_user(services, "Member")
    admin = await make_user(services, "Admin", role=Role.ADMIN)
    refused = await client.get("/api/v1/admin/realtime", headers=member.headers)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"
    assert (await client.get("/api/v1/admin/realtime")).status_code == 401

    answer = await client.get("/api/v1/admin/realtime", headers=admin.headers)
    assert answer.status_code == 200
    counts = answer.json()
    assert set(counts) == {"at", "sockets", "rooms", "presence_connections", "events_in_total",
                           "events_out_total", "slow_client_disconnects_total",
                           "refused_events_total", "session_endings", "outbox_pending"}
    assert counts["sockets"] == 0 and counts["events_in_total"] == 0
