"""A detached connection's writes joined per loop turn (TurnWrites,
realtime/wire/uvicorn_protocol.py)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from realtime.wire.uvicorn_protocol import TurnWrites
from tests.support.wire import RecordingTransport, accepted


class Recorder:
    """Records what the OS-level transport is asked to do."""

    def __init__(self, *, fail: bool = False) -> None:
        self.writes: list[bytes] = []
        self.closed = self.aborted = False
        self.fail = fail

    def write(self, data: bytes) -> None:
        if self.fail:
            raise OSError("broken pipe")
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def get_write_buffer_size(self) -> int:
        return 7

    def get_extra_info(self, name: str) -> str:
        return f"info:{name}"


def joined(recorder: Recorder) -> tuple[Recorder, TurnWrites]:
    return recorder, TurnWrites(recorder, asyncio.get_running_loop())  # type: ignore[arg-type]


async def test_writes_of_one_turn_go_out_once_in_order() -> None:
    raw, writes = joined(Recorder())
    for n in range(5):
        writes.write(b"frame%d;" % n)
    assert raw.writes == []  # nothing before the turn ends
    assert writes.waiting() == 5 * 7 and writes.get_write_buffer_size() == 7 + 35
    await asyncio.sleep(0)
    assert raw.writes == [b"frame0;frame1;frame2;frame3;frame4;"]
    assert writes.waiting() == 0


async def test_the_101_response_goes_out_with_what_follows_it_in_its_turn() -> None:
    # Engine.IO writes its OPEN packet in the turn the upgrade is accepted: one write (one
    # system call, one TCP segment) for both, not one each.
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": '0{"sid":"s"}'})
        await receive()

    transport = RecordingTransport()
    await accepted(transport, app)
    assert len(transport.written) == 1
    response, _, frame = transport.written[0].partition(b"\r\n\r\n")
    assert response.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert frame == b'\x81\x0c0{"sid":"s"}'


async def test_each_turn_is_written_on_its_own() -> None:
    raw, writes = joined(Recorder())
    writes.write(b"a")
    await asyncio.sleep(0)
    writes.write(b"b")
    writes.write(b"c")
    await asyncio.sleep(0)
    await asyncio.sleep(0)  # nothing more to write: no empty write
    assert raw.writes == [b"a", b"bc"]


async def test_connections_are_flushed_together_and_apart() -> None:
    loop = asyncio.get_running_loop()
    raws = [Recorder() for _ in range(3)]
    conns = [TurnWrites(raw, loop) for raw in raws]  # type: ignore[arg-type]
    for n in range(3):
        for conn in conns:
            conn.write(b"%d" % n)
    await asyncio.sleep(0)
    assert [raw.writes for raw in raws] == [[b"012"]] * 3


async def test_close_sends_what_waits_and_abort_drops_it() -> None:
    raw, writes = joined(Recorder())
    writes.write(b"last words")
    writes.close()
    assert raw.writes == [b"last words"] and raw.closed
    await asyncio.sleep(0)
    assert raw.writes == [b"last words"]  # not written twice

    raw, writes = joined(Recorder())
    writes.write(b"never")
    writes.abort()
    await asyncio.sleep(0)
    assert raw.writes == [] and raw.aborted


async def test_a_transport_closed_meanwhile_is_not_written() -> None:
    raw, writes = joined(Recorder())
    writes.write(b"too late")
    raw.closed = True  # the connection was lost before the turn ended
    await asyncio.sleep(0)
    assert raw.writes == []


async def test_one_failing_connection_does_not_hold_back_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    loop = asyncio.get_running_loop()
    bad, good = Recorder(fail=True), Recorder()
    for raw in (bad, good):
        TurnWrites(raw, loop).write(b"x")  # type: ignore[arg-type]
    with caplog.at_level(logging.ERROR, logger="roomcast.realtime"):
        await asyncio.sleep(0)
    assert good.writes == [b"x"]
    assert "writing to a WebSocket connection failed" in caplog.text


async def test_other_transport_methods_pass_through() -> None:
    _, writes = joined(Recorder())
    assert writes.get_extra_info("peername") == "info:peername"
    assert not writes.is_closing()


def test_a_loop_that_closed_with_writes_waiting_does_not_stall_the_next() -> None:
    first = asyncio.new_event_loop()
    stale = Recorder()
    TurnWrites(stale, first).write(b"lost with its loop")  # type: ignore[arg-type]
    first.close()  # its flush never ran

    async def next_loop() -> list[bytes]:
        raw, writes = joined(Recorder())
        writes.write(b"delivered")
        await asyncio.sleep(0)
        return raw.writes

    assert asyncio.run(next_loop()) == [b"delivered"]
    assert stale.writes == []
