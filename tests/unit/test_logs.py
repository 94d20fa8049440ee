"""JSON log lines: the request id, extra fields, tracebacks; uvicorn routed through ours."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import orjson
import pytest

from roomcast.logs import JsonFormatter, TextFormatter, configure_logging, request_id_var


def record(message: str = "hello %s", *args: object, **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord("roomcast.test", logging.INFO, __file__, 1, message, args or ("x",),
                            None)
    rec.__dict__.update(extra)
    return rec


def test_json_line_has_the_basics_and_extras() -> None:
    line = orjson.loads(JsonFormatter().format(record(status=201, route="/api/v1/things")))
    assert line["level"] == "info"
    assert line["logger"] == "roomcast.test"
    assert line["message"] == "hello x"
    assert line["status"] == 201
    assert line["route"] == "/api/v1/things"
    assert line["ts"].endswith("Z")
    assert "request_id" not in line


def test_json_line_carries_the_current_request_id() -> None:
    token = request_id_var.set("req-42")
    try:
        line = orjson.loads(JsonFormatter().format(record()))
    finally:
        request_id_var.reset(token)
    assert line["request_id"] == "req-42"


def test_json_line_includes_the_traceback() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        rec = logging.LogRecord("roomcast.test", logging.ERROR, __file__, 1, "failed", (),
                                sys.exc_info())
    line = orjson.loads(JsonFormatter().format(rec))
    assert "ValueError: boom" in line["exc"]


def test_text_line_names_the_request() -> None:
    token = request_id_var.set("req-7")
    try:
        assert "[request_id=req-7]" in TextFormatter().format(record())
    finally:
        request_id_var.reset(token)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    names = ("uvicorn", "uvicorn.error", "uvicorn.access")
    loggers = {n: logging.getLogger(n) for n in names}
    states = {n: (lg.handlers[:], lg.propagate, lg.disabled, lg.filters[:])
              for n, lg in loggers.items()}
    try:
        yield
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
        for n, lg in loggers.items():
            lg.handlers[:], lg.propagate, lg.disabled, lg.filters[:] = states[n]


def test_configure_routes_uvicorn_through_json_and_drops_its_access_log(
    restore_logging: None, monkeypatch: pytest.MonkeyPatch,
) -> None:
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    logging.getLogger("uvicorn.error").addHandler(logging.StreamHandler(io.StringIO()))
    configure_logging("INFO", json=True)
    logging.getLogger("uvicorn.error").info("Started server process")
    logging.getLogger("uvicorn.access").info("GET / 200")
    lines = [orjson.loads(x) for x in stream.getvalue().splitlines()]
    assert [x["message"] for x in lines] == ["Started server process"]
    assert lines[0]["logger"] == "uvicorn.error"
    assert logging.getLogger("uvicorn.error").handlers == []


def socket_lines(level: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    configure_logging(level, json=True)
    configure_logging(level, json=True)  # configured twice, filtered once
    error = logging.getLogger("uvicorn.error")
    where = ("127.0.0.1:50000", "/socket.io/?EIO=4&transport=websocket")
    error.info('%s - "WebSocket %s" [accepted]', *where)
    error.info("connection open")
    error.info("connection closed")
    error.info('%s - "WebSocket %s" %d', *where, 403)
    error.info("Application startup complete.")
    error.warning("connection closed")  # not the INFO line: kept
    return [orjson.loads(x)["message"] for x in stream.getvalue().splitlines()]


def test_uvicorns_line_per_websocket_is_left_to_roomcast_access(
    restore_logging: None, monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert socket_lines("INFO", monkeypatch) == [
        '127.0.0.1:50000 - "WebSocket /socket.io/?EIO=4&transport=websocket" 403',
        "Application startup complete.", "connection closed"]
    assert len(logging.getLogger("uvicorn.error").filters) == 1


def test_uvicorns_line_per_websocket_is_kept_at_debug(
    restore_logging: None, monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert socket_lines("DEBUG", monkeypatch) == [
        '127.0.0.1:50000 - "WebSocket /socket.io/?EIO=4&transport=websocket" [accepted]',
        "connection open", "connection closed",
        '127.0.0.1:50000 - "WebSocket /socket.io/?EIO=4&transport=websocket" 403',
        "Application startup complete.", "connection closed"]
