"""The load client's Engine.IO/Socket.IO packets and RFC 6455 frames, read and written."""

from __future__ import annotations

import os
import struct

import orjson
import pytest

from load import packets as p
from load.frames import OP_CLOSE, OP_TEXT, FrameError, FrameParser, _xor, encode_frame


def test_connect_packets() -> None:
    assert p.encode_connect({"token": "t"}) == b'40{"token":"t"}'
    assert p.encode_connect(None) == b"40"
    assert p.encode_connect({}, namespace="/admin") == b"40/admin,{}"


def test_event_and_ack_packets() -> None:
    assert p.encode_event("join", "r1") == b'42["join","r1"]'
    assert p.encode_event("join", {"room": "r"}, ack_id=12) == b'4212["join",{"room":"r"}]'
    assert p.encode_ack(7, {"ok": True}) == b'437[{"ok":true}]'
    assert p.encode_disconnect() == b"41"


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b'0{"sid":"abc"}', p.SioPacket(p.SIO_CONNECT, "/", None, {"sid": "abc"})),
        (b'2["news",{"a":1}]', p.SioPacket(p.SIO_EVENT, "/", None, ["news", {"a": 1}])),
        (b'231["ask"]', p.SioPacket(p.SIO_EVENT, "/", 31, ["ask"])),
        (b'312[{"ok":true}]', p.SioPacket(p.SIO_ACK, "/", 12, [{"ok": True}])),
        (b'4{"message":"no"}', p.SioPacket(p.SIO_CONNECT_ERROR, "/", None, {"message": "no"})),
        (b'2/chat,5["x"]', p.SioPacket(p.SIO_EVENT, "/chat", 5, ["x"])),
        (b"1", p.SioPacket(p.SIO_DISCONNECT, "/", None, None)),
        (b"1/chat,", p.SioPacket(p.SIO_DISCONNECT, "/chat", None, None)),
    ],
)
def test_decode_sio(payload: bytes, expected: p.SioPacket) -> None:
    assert p.decode_sio(payload) == expected


def test_encoded_event_decodes_back() -> None:
    packet = p.encode_event("broadcast", {"seq": 3, "ts": 123456789}, ack_id=4)
    assert packet[0:1] == b"4"
    assert p.decode_sio(packet[1:]) == p.SioPacket(
        p.SIO_EVENT, "/", 4, ["broadcast", {"seq": 3, "ts": 123456789}])


@pytest.mark.parametrize("payload", [b"", b"9[]", b'5-0["bin"]'])
def test_decode_rejects_unreadable_packets(payload: bytes) -> None:
    with pytest.raises(p.ProtocolError):
        p.decode_sio(payload)


def test_decode_open() -> None:
    assert p.decode_open(b'0{"sid":"s","pingInterval":25000}')["pingInterval"] == 25000
    with pytest.raises(p.ProtocolError):
        p.decode_open(b"3")


def _unmask(frame: bytes) -> tuple[int, bytes]:
    """Read back a client frame the way a server does."""
    first, second = frame[0], frame[1]
    assert second & 0x80, "client frames must be masked"
    size, pos = second & 0x7F, 2
    if size == 126:
        size, pos = struct.unpack("!H", frame[2:4])[0], 4
    elif size == 127:
        size, pos = struct.unpack("!Q", frame[2:10])[0], 10
    mask = frame[pos : pos + 4]
    body = frame[pos + 4 :]
    assert len(body) == size
    return first & 0x0F, bytes(b ^ mask[i % 4] for i, b in enumerate(body))


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 70000])
def test_client_frames_are_masked_and_sized(size: int) -> None:
    payload = os.urandom(size)
    opcode, body = _unmask(encode_frame(payload))
    assert (opcode, body) == (OP_TEXT, payload)


def _server_frame(payload: bytes, opcode: int = OP_TEXT, fin: bool = True) -> bytes:
    size = len(payload)
    head = bytes([(0x80 if fin else 0) | opcode])
    if size < 126:
        head += bytes([size])
    elif size < 65536:
        head += bytes([126]) + struct.pack("!H", size)
    else:
        head += bytes([127]) + struct.pack("!Q", size)
    return head + payload


def test_parser_reads_frames_split_anywhere() -> None:
    messages: list[tuple[int, bytes]] = []
    parser = FrameParser(lambda op, data: messages.append((op, data)))
    big = orjson.dumps(["broadcast", {"pad": "x" * 70000}])
    stream = (_server_frame(b"2") + _server_frame(b"4" + big) + _server_frame(b"x" * 300)
              + _server_frame(b"\x03\xe8", OP_CLOSE))
    for start in range(0, len(stream), 977):  # odd chunks cut through headers and bodies
        parser.feed(stream[start : start + 977])
    assert messages == [(OP_TEXT, b"2"), (OP_TEXT, b"4" + big), (OP_TEXT, b"x" * 300),
                        (OP_CLOSE, b"\x03\xe8")]


def test_parser_reads_a_stream_fed_one_byte_at_a_time() -> None:
    # Every cut: inside the 2-byte header, the 16- and 64-bit lengths, the mask and the body.
    messages: list[tuple[int, bytes]] = []
    parser = FrameParser(lambda op, data: messages.append((op, data)))
    mask = b"\x05\x06\x07\x08"
    masked = bytes([0x81, 0x80 | 126]) + struct.pack("!H", 200) + mask + _xor(b"m" * 200, mask)
    bodies = [b"a", b"b" * 300, b"c" * 70000]
    stream = b"".join(_server_frame(body) for body in bodies) + masked
    for at in range(len(stream)):
        parser.feed(stream[at : at + 1])
    assert messages == [(OP_TEXT, body) for body in [*bodies, b"m" * 200]]
    parser.feed(_server_frame(b"d") + _server_frame(b"e")[:1])  # a whole frame, a cut one
    parser.feed(_server_frame(b"e")[1:])
    assert messages[-2:] == [(OP_TEXT, b"d"), (OP_TEXT, b"e")]


def test_parser_joins_fragments_and_unmasks() -> None:
    messages: list[tuple[int, bytes]] = []
    parser = FrameParser(lambda op, data: messages.append((op, data)))
    parser.feed(_server_frame(b"42[", fin=False) + _server_frame(b'"a"]', opcode=0))
    mask = b"\x01\x02\x03\x04"
    parser.feed(bytes([0x81, 0x80 | 3]) + mask + _xor(b"abc", mask))
    assert messages == [(OP_TEXT, b'42["a"]'), (OP_TEXT, b"abc")]


def test_parser_rejects_a_stray_continuation() -> None:
    parser = FrameParser(lambda op, data: None)
    with pytest.raises(FrameError):
        parser.feed(_server_frame(b"x", opcode=0))
