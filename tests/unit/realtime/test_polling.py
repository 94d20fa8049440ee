"""Long-polling refused with its reason where it is not served (realtime/polling.py)."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
from starlette.types import Receive, Scope, Send

from realtime.polling import PollingRefusal


async def behind(scope: Scope, receive: Receive, send: Send) -> None:
    """What stands behind the refusal (the Socket.IO app): answers 204."""
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def client(**options: Any) -> httpx.AsyncClient:
    app = PollingRefusal(behind, **options)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.mark.parametrize("query", ["EIO=4&transport=polling", "EIO=4",
                                   "EIO=4&transport=polling&sid=abc"])
async def test_a_polling_request_is_refused_with_polling_disabled(query: str) -> None:
    refused: list[None] = []
    async with client(cors_origins=[], on_refused=lambda: refused.append(None)) as http:
        answer = await http.get(f"/socket.io/?{query}")
        posted = await http.post(f"/socket.io/?{query}", content=b"40")
        await http.get("/socket.io/?EIO=4&transport=websocket")  # passed on, not counted
    assert len(refused) == 2
    for refused in (answer, posted):
        assert refused.status_code == 400
        assert refused.headers["content-type"] == "application/json"
        assert refused.json()["code"] == "polling_disabled"
        assert "websocket" in refused.json()["message"]
        assert "access-control-allow-origin" not in refused.headers


async def test_other_requests_pass_through() -> None:
    async with client(cors_origins=[]) as http:
        assert (await http.get("/socket.io/?EIO=4&transport=websocket")).status_code == 204
        assert (await http.options("/socket.io/?EIO=4&transport=polling")).status_code == 204
        assert (await http.get("/api/v1/health?transport=polling")).status_code == 204


async def test_an_allowed_origin_can_read_the_reason() -> None:
    async with client(cors_origins=["https://app.example"]) as http:
        allowed = await http.get("/socket.io/?EIO=4&transport=polling",
                                 headers={"origin": "https://app.example"})
        other = await http.get("/socket.io/?EIO=4&transport=polling",
                               headers={"origin": "https://elsewhere.example"})
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    assert allowed.headers["access-control-allow-credentials"] == "true"
    assert orjson.loads(other.content)["code"] == "polling_disabled"
    assert "access-control-allow-origin" not in other.headers
