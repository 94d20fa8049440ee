"""A server stopping while a WebSocket's peer is closing it: SocketProtocol.shutdown closes the
connection without a second close frame (websockets refuses one, and the refusal stopped the
server's shutdown midway, leaving the other connections open and the lifespan's shutdown, with
its pending writes, unrun)."""

from __future__ import annotations

from websockets.frames import Close
from websockets.protocol import State

from realtime.wire.frames import CLOSE, encode_frame
from tests.support.wire import RecordingTransport, accepted


def close_frames(written: list[bytes]) -> list[bytes]:
    """The close frames among what the server wrote after its 101 response."""
    out = b"".join(written)
    out = out[out.index(b"\r\n\r\n") + 4:]
    frames = []
    while out:
        length = out[1] & 0x7F
        head = 2 if length < 126 else 4
        length = length if length < 126 else int.from_bytes(out[2:4], "big")
        if out[0] & 0x0F == CLOSE:
            frames.append(out[head:head + length])
        out = out[head + length:]
    return frames


async def test_a_stop_after_the_peer_started_closing_closes_without_a_second_close() -> None:
    transport = RecordingTransport()
    protocol = await accepted(transport)
    protocol.data_received(encode_frame(CLOSE, Close(1000, "bye").serialize(), mask=b"abcd"))
    assert protocol.conn.state is State.CLOSING and transport.closed
    assert close_frames(transport.written) == [Close(1000, "bye").serialize()]

    protocol.shutdown()  # before the loop ran connection_lost: raised InvalidState

    assert transport.closed
    assert close_frames(transport.written) == [Close(1000, "bye").serialize()]


async def test_a_stop_of_an_open_connection_still_sends_going_away() -> None:
    transport = RecordingTransport()
    protocol = await accepted(transport)
    protocol.shutdown()
    assert transport.closed
    assert close_frames(transport.written) == [Close(1012, "").serialize()]
