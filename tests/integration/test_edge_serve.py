"""The edge under a real `roomcast serve` (uvicorn, real sockets): JSON log lines carry the
request id, uvicorn's own lines go through the same formatter, its access log is replaced."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.support.services import start_roomcast


def json_lines(text: str) -> list[dict[str, Any]]:
    # The start-up banner is printed for humans; every log line is JSON.
    return [orjson.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.mark.slow
def test_real_server_logs_json_with_request_ids(tmp_path: Path) -> None:
    server = start_roomcast(
        {"MAX_BODY_BYTES": "2048", "LOG_JSON": "true", "DATA_DIR": str(tmp_path / "data")},
        tmp_path,
    )
    try:
        live = httpx.get(server.url + "/health/live", headers={"X-Request-ID": "serve-1"})
        big = httpx.post(server.url + "/api/v1/auth/login", content=b"{" + b" " * 5000 + b"}",
                         headers={"X-Request-ID": "serve-2",
                                  "Content-Type": "application/json"})
    finally:
        server.stop()
    assert live.status_code == 200 and live.headers["x-request-id"] == "serve-1"
    assert big.status_code == 413
    assert big.json()["error"]["request_id"] == "serve-2"

    lines = json_lines(server.log())
    access = {x["request_id"]: x for x in lines if x["logger"] == "roomcast.access"}
    assert access["serve-1"]["route"] == "/health/live"
    assert access["serve-1"]["status"] == 200
    assert access["serve-2"]["status"] == 413
    assert access["serve-2"]["method"] == "POST"
    assert any(x["logger"].startswith("uvicorn") for x in lines)
    assert not any(x["logger"] == "uvicorn.access" for x in lines)
