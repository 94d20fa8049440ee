"""Reading a client's Socket.IO packets strictly: what Roomcast accepts, and the close code of
what it refuses (docs/protocol.md, "Refused frames and packets").

python-socketio's own decoder accepts more than Roomcast serves: binary packets whose
attachments it keeps until they all arrive (a header may announce ten billion), JSON it
cannot decode (it raises in a background task, which logs a traceback), acks nobody asked
for. Every packet a client sends is read here instead, once; python-socketio only sees the
CONNECT and DISCONNECT packets that passed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

CONNECT, DISCONNECT, EVENT, ACK = 0, 1, 2, 3
MAX_ID_DIGITS = 18  # python-socketio refuses ids of 100 digits; ours stay within an int64

# WebSocket close codes (RFC 6455) the server closes a connection with.
CLOSE_NORMAL = 1000  # the client asked to close (Engine.IO CLOSE, Socket.IO DISCONNECT)
CLOSE_PROTOCOL = 1002  # a frame or packet that breaks the protocol
CLOSE_UNSUPPORTED = 1003  # a binary message, a binary packet or an attachment header
CLOSE_POLICY = 1008  # sustained abuse of the rate limit; no CONNECT in time


@dataclass(frozen=True, slots=True)
class ClientPacket:
    kind: int  # CONNECT, DISCONNECT or EVENT
    namespace: str
    ack_id: int | None
    data: Any


class BadPacket(Exception):
    """A packet Roomcast refuses: answered with an error ack when it carries an ack id and
    its only fault is its payload, otherwise the connection is closed with `close_code`."""

    def __init__(self, reason: str, close_code: int = CLOSE_PROTOCOL,
                 ack_id: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.close_code = close_code
        self.ack_id = ack_id


def _digits_end(text: str, start: int) -> int:
    end = start
    while end < len(text) and "0" <= text[end] <= "9":
        end += 1
    return end


def parse_packet(text: str) -> ClientPacket:
    """A Socket.IO packet (the text after Engine.IO's `4`), or BadPacket."""
    if not text:
        raise BadPacket("an empty Socket.IO packet")
    first = text[0]
    if first in "56":
        raise BadPacket("binary packets are not accepted", CLOSE_UNSUPPORTED)
    if first not in "0123":
        raise BadPacket(f"unknown Socket.IO packet type {first!r}")
    kind = ord(first) - ord("0")
    if kind == ACK:
        raise BadPacket("the server asks for no acknowledgements")
    i = 1
    digits = _digits_end(text, i)
    if digits > i and digits < len(text) and text[digits] == "-":
        raise BadPacket("binary attachments are not accepted", CLOSE_UNSUPPORTED)
    namespace = "/"
    if text[i:i + 1] == "/":
        comma = text.find(",", i)
        comma = len(text) if comma == -1 else comma
        namespace = text[i:comma].partition("?")[0]
        i = comma + 1
    ack_id = None
    digits = _digits_end(text, i)
    if digits > i:
        if digits - i > MAX_ID_DIGITS:
            raise BadPacket("the ack id is longer than 18 digits")
        ack_id = int(text[i:digits])
        i = digits
    data = None
    if i < len(text):
        try:
            data = orjson.loads(text[i:])
        except orjson.JSONDecodeError as exc:
            raise BadPacket(f"the payload is not JSON Roomcast accepts ({exc})",
                            ack_id=ack_id) from None
    return _checked(ClientPacket(kind, namespace, ack_id, data))


def _checked(pkt: ClientPacket) -> ClientPacket:
    if pkt.kind == EVENT:
        data = pkt.data
        if not (isinstance(data, list) and data and isinstance(data[0], str)):
            raise BadPacket("an event is a JSON array that starts with its name",
                            ack_id=pkt.ack_id)
    elif pkt.kind == CONNECT and not (pkt.data is None or isinstance(pkt.data, dict)):
        raise BadPacket("a CONNECT payload is a JSON object")
    elif pkt.kind == DISCONNECT and pkt.data is not None:
        raise BadPacket("a DISCONNECT packet has no payload")
    return pkt


def ack_text(ack_id: int, result: Any) -> str:
    """The Socket.IO ACK packet answering `ack_id` with one argument."""
    return "3" + str(ack_id) + orjson.dumps([result]).decode()
