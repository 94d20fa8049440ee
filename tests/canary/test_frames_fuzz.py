"""The server's frame codec (realtime/wire/frames.py) against websockets' own parser, on random
and adversarial input: the same frames, and the same close code for a frame the fast path
refuses from its header (unmasked: 1002, over the limit: 1009); and the load tool's parser
against the frames the server writes.

Bounded in `make test`; `pytest --long` runs many more examples.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.speedups import apply_mask

from load.frames import FrameParser
from realtime.wire.frames import (
    BINARY,
    MASKED,
    PING,
    PONG,
    TEXT,
    TEXT_FIN,
    encode_frame,
    frame_header,
    ws_frame,
)

LIMIT = 300  # the connection's message limit in these tests (SOCKET_MAX_PAYLOAD_BYTES)
Frame = tuple[int, bool, bytes]  # opcode, FIN, payload


def ours(stream: bytes) -> tuple[list[Frame], int | None]:
    """The frames as the server's codec reads them, and the close code it refuses with."""
    frames: list[Frame] = []
    start = 0
    while (header := frame_header(stream, start)) is not None:
        length, head = header
        if not stream[start + 1] & MASKED:
            return frames, 1002
        if length > LIMIT:
            return frames, 1009
        end = head + 4 + length
        if end > len(stream):
            break
        first = stream[start]
        frames.append((first & 0x0F, bool(first & 0x80),
                       apply_mask(stream[head + 4:end], stream[head:head + 4])))
        start = end
    return frames, None


def theirs(stream: bytes, cuts: list[int]) -> tuple[list[Frame], int | None]:
    """The frames as websockets' parser reads the same bytes, fed in pieces at `cuts`."""
    conn = ServerProtocol(state=State.OPEN, max_size=LIMIT)
    frames: list[Frame] = []
    previous = 0
    for cut in [*sorted(set(cuts)), len(stream)]:
        conn.receive_data(stream[previous:cut])
        previous = cut
        frames += [(int(f.opcode), f.fin, bytes(f.data)) for f in conn.events_received()]
        if conn.parser_exc is not None:
            assert conn.close_sent is not None
            return frames, int(conn.close_sent.code)
    return frames, None


def client_frame(draw: st.DrawFn) -> bytes:
    opcode = draw(st.sampled_from([TEXT, BINARY, PING, PONG]))
    control = opcode in (PING, PONG)
    sizes = st.integers(0, 125) if control else st.one_of(
        st.integers(0, LIMIT), st.sampled_from([125, 126, 127, 255, 256, LIMIT]))
    size = draw(sizes)  # the boundaries of the 7-bit and 16-bit lengths drawn often
    payload = draw(st.binary(min_size=size, max_size=size))
    return encode_frame(opcode, payload, mask=draw(st.binary(min_size=4, max_size=4)))


@st.composite
def streams(draw: st.DrawFn) -> bytes:
    """Valid client frames, then perhaps one the fast path refuses from its header."""
    body = b"".join(client_frame(draw) for _ in range(draw(st.integers(0, 6))))
    last = draw(st.sampled_from(["none", "unmasked", "too large", "truncated"]))
    if last == "unmasked":
        body += encode_frame(TEXT, draw(st.binary(max_size=200)))
    elif last == "too large":
        size = draw(st.sampled_from([LIMIT + 1, 65_535, 70_000, 2**40]))
        length = (bytes((MASKED | 126,)) + size.to_bytes(2, "big") if size < 65536
                  else bytes((MASKED | 127,)) + size.to_bytes(8, "big"))
        body += bytes((TEXT_FIN,)) + length + b"abcd" + draw(st.binary(max_size=50))
    elif last == "truncated":
        whole = client_frame(draw)
        body += whole[:draw(st.integers(1, len(whole) - 1))]
    return body


def test_frames_agree_with_websockets(long_form: bool) -> None:
    @settings(max_examples=3000 if long_form else 200, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(stream=streams(), cuts=st.lists(st.integers(0, 2000), max_size=5))
    def check(stream: bytes, cuts: list[int]) -> None:
        cuts = [cut for cut in cuts if cut < len(stream)]
        assert ours(stream) == theirs(stream, cuts)

    check()


def test_any_bytes_after_a_text_header_read_the_same(long_form: bool) -> None:
    """Adversarial: arbitrary bytes after the first byte of an unfragmented text frame, the
    one frame the fast path reads without websockets."""

    @settings(max_examples=5000 if long_form else 300, deadline=None, database=None)
    @given(rest=st.binary(max_size=400))
    def check(rest: bytes) -> None:
        stream = bytes((TEXT_FIN,)) + rest
        mine, refused = ours(stream)
        theirs_frames, their_code = theirs(stream, [])
        assert mine[:1] == theirs_frames[:1]
        if refused is not None and not mine:
            assert their_code == refused

    check()


def test_the_load_tools_parser_reads_the_servers_frames(long_form: bool) -> None:
    """The load tool keeps its own codec (it imports nothing of ours): what the server writes
    (`ws_frame`, any size, split anywhere by TCP) it reads as the same messages."""

    @settings(max_examples=2000 if long_form else 150, deadline=None, database=None)
    @given(messages=st.lists(st.one_of(st.text(max_size=300), st.binary(max_size=300),
                                       st.sampled_from(["x" * 70_000, b"y" * 65_536])),
                             max_size=6),
           cuts=st.lists(st.integers(0, 150_000), max_size=6))
    def check(messages: list[str | bytes], cuts: list[int]) -> None:
        stream = b"".join(ws_frame(message) for message in messages)
        read: list[tuple[int, bytes]] = []
        parser = FrameParser(lambda opcode, payload: read.append((opcode, bytes(payload))))
        previous = 0
        for cut in [*sorted({cut for cut in cuts if cut < len(stream)}), len(stream)]:
            parser.feed(stream[previous:cut])
            previous = cut
        assert read == [(TEXT, m.encode()) if isinstance(m, str) else (BINARY, m)
                        for m in messages]

    check()
