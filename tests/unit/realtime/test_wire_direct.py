"""The prepared frame a broadcast writes straight to transports, and the unsent count."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from realtime.wire.asyncio_queue import CountingQueue
from realtime.wire.engineio_driver import DirectWrites
from realtime.wire.frames import text_frame


def parse(data: bytes) -> Frame:
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    parser = Frame.parse(reader.read_exact, mask=False)
    try:
        next(parser)
    except StopIteration as done:
        frame: Frame = done.value
        assert reader.at_eof()  # the whole buffer was one frame
        return frame
    raise AssertionError("the frame is incomplete")


@pytest.mark.parametrize("size", [0, 1, 124, 125, 200, 65534, 65535, 70000])
def test_text_frame_is_one_engineio_message_frame(size: int) -> None:
    body = '2["message",' + "é" * size + "]"
    frame = parse(text_frame(body))
    assert frame.opcode is Opcode.TEXT and frame.fin
    assert not (frame.rsv1 or frame.rsv2 or frame.rsv3)
    assert frame.data.decode() == "4" + body


async def test_counting_queue_counts_every_put() -> None:
    queue = CountingQueue()
    queue.put_nowait("a")
    await queue.put("b")
    assert queue.unsent == 2
    assert await queue.get() == "a"
    assert queue.unsent == 2  # taken off the queue is not written yet


async def test_counting_queue_keeps_asyncio_queue_semantics_on_lists() -> None:
    queue = CountingQueue()
    getters = [asyncio.create_task(queue.get()) for _ in range(3)]
    await asyncio.sleep(0)
    getters[1].cancel()  # a waiter that gives up leaves the line
    await asyncio.sleep(0)
    queue.put_nowait("first")
    queue.put_nowait("second")
    assert await getters[0] == "first" and await getters[2] == "second"
    assert getters[1].cancelled()
    for item in range(5):
        queue.put_nowait(item)
    assert [queue.get_nowait() for _ in range(5)] == [0, 1, 2, 3, 4]  # first in, first out
    assert queue.empty()

    bounded = CountingQueue(maxsize=1)
    bounded.put_nowait("x")
    putter = asyncio.create_task(bounded.put("y"))
    await asyncio.sleep(0)
    assert not putter.done()  # a full queue makes a putter wait
    assert bounded.get_nowait() == "x"
    await putter
    assert bounded.get_nowait() == "y"


class _Socket:
    def __init__(self, queue: Any) -> None:
        self.sid = "s1"
        self.queue = queue
        self.upgrading = False
        self._protocol = None  # as a LeanSocket whose connection is not detached


def test_write_refuses_unknown_or_backlogged_sockets() -> None:
    direct = DirectWrites()
    assert not direct.write(_Socket(asyncio.Queue()), b"x")  # not a counted queue
    queue = CountingQueue()
    assert not direct.write(_Socket(queue), b"x")  # no known protocol for it
    queue.put_nowait("pending")
    assert not direct.write(_Socket(queue), b"x")
