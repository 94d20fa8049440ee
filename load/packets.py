"""Engine.IO v4 and Socket.IO v5 text packets: what goes inside one WebSocket text frame.

Engine.IO: one type digit then the payload (`0{open json}`, `2` ping, `3` pong, `4` message).
Socket.IO rides in Engine.IO messages: type digit, optional `/namespace,`, optional ack id,
then JSON (`40{"token":..}` connect, `42["event",...]`, `43<id>[...]` ack,
`44{...}` connect error). Binary packets are not spoken by this client.

The encoders return whole Engine.IO message payloads (with the leading `4`); `decode_sio`
takes the payload after that `4`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

# Engine.IO packet types
EIO_OPEN = 0x30  # b"0"
EIO_CLOSE = 0x31
EIO_PING = 0x32
EIO_PONG = 0x33
EIO_MESSAGE = 0x34
EIO_UPGRADE = 0x35
EIO_NOOP = 0x36

# Socket.IO packet types
SIO_CONNECT = 0
SIO_DISCONNECT = 1
SIO_EVENT = 2
SIO_ACK = 3
SIO_CONNECT_ERROR = 4
SIO_BINARY_EVENT = 5
SIO_BINARY_ACK = 6

PONG = b"3"
PING = b"2"


class ProtocolError(ValueError):
    """A packet this client cannot read."""


@dataclass(frozen=True, slots=True)
class SioPacket:
    type: int
    namespace: str = "/"
    ack_id: int | None = None
    data: Any = None


def encode_connect(auth: dict[str, Any] | None = None, namespace: str = "/") -> bytes:
    body = orjson.dumps(auth) if auth is not None else b""
    return b"40" + _nsp(namespace) + body


def encode_event(
    event: str, *args: Any, ack_id: int | None = None, namespace: str = "/"
) -> bytes:
    ack = str(ack_id).encode() if ack_id is not None else b""
    return b"42" + _nsp(namespace) + ack + orjson.dumps([event, *args])


def encode_ack(ack_id: int, *args: Any, namespace: str = "/") -> bytes:
    return b"43" + _nsp(namespace) + str(ack_id).encode() + orjson.dumps(list(args))


def encode_disconnect(namespace: str = "/") -> bytes:
    return b"41" + _nsp(namespace)


def _nsp(namespace: str) -> bytes:
    # The default namespace is implicit; others are written `/name,`.
    return b"" if namespace == "/" else namespace.encode() + b","


def decode_open(payload: bytes) -> dict[str, Any]:
    """The Engine.IO open packet's JSON: sid, pingInterval, pingTimeout, maxPayload."""
    if not payload or payload[0] != EIO_OPEN:
        raise ProtocolError(f"expected an open packet, got {payload[:40]!r}")
    data = orjson.loads(payload[1:])
    if not isinstance(data, dict):
        raise ProtocolError("open packet is not a JSON object")
    return data


def decode_sio(payload: bytes) -> SioPacket:
    """Read the Socket.IO packet carried by an Engine.IO message (`payload` without the `4`)."""
    if not payload:
        raise ProtocolError("empty Socket.IO packet")
    kind = payload[0] - 0x30
    if not 0 <= kind <= 6:
        raise ProtocolError(f"unknown Socket.IO packet type {payload[:1]!r}")
    if kind in (SIO_BINARY_EVENT, SIO_BINARY_ACK):
        raise ProtocolError("binary packets are not supported")
    pos, end = 1, len(payload)
    namespace = "/"
    if pos < end and payload[pos] == 0x2F:  # "/"
        comma = payload.find(b",", pos)
        stop = comma if comma >= 0 else end
        namespace = payload[pos:stop].decode()
        pos = stop + 1 if comma >= 0 else end
    start = pos
    while pos < end and 0x30 <= payload[pos] <= 0x39:
        pos += 1
    ack_id = int(payload[start:pos]) if pos > start else None
    data = orjson.loads(payload[pos:]) if pos < end else None
    return SioPacket(kind, namespace, ack_id, data)
