"""The malformed-frame corpus: frames a hostile or broken client sends, generated here (no data
file), from the WebSocket frame up to the event payload."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from realtime import contract as c
from tests.integration.realtime.wire import BINARY, CLOSE, CONT, PING, PONG, TEXT, frame, text

# Every code docs/protocol.md lists for a refused frame or packet, and for an error ack.
CLOSE_CODES = {1000, 1002, 1003, 1007, 1008, 1009}
ACK_CODES = {c.ERR_VALIDATION, c.ERR_NOT_FOUND, c.ERR_NOT_JOINED, "bad_request",
             c.ERR_PAYLOAD_TOO_LARGE, c.ERR_RATE_LIMITED, c.ERR_UNKNOWN_EVENT,
             c.ERR_UNAUTHORIZED, c.ERR_TOKEN_EXPIRED, c.ERR_TOKEN_REVOKED, c.ERR_UNAVAILABLE}

ACK_ID = re.compile(r"^42(\d{1,18})[^\d-]")


@dataclass(frozen=True)
class Case:
    name: str
    data: bytes  # what goes on the wire
    connected: bool  # sent after a CONNECT (else on a fresh WebSocket before any)

    @property
    def ack_id(self) -> int | None:
        """The ack id a client would expect an answer to, when the frame is an event."""
        if not self.data or self.data[0] != 0x81:
            return None
        length = self.data[1] & 0x7F
        start = 2 + (2 if length == 126 else 8 if length == 127 else 0) + 4
        mask = self.data[start - 4:start]
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(self.data[start:]))
        match = ACK_ID.match(payload.decode(errors="replace"))
        return int(match.group(1)) if match else None


def nested(depth: int) -> str:
    return "[" * depth + "1" + "]" * depth


def _event_payloads(room: str) -> list[str]:
    """Events with an ack id whose payload is hostile JSON, or JSON of the wrong types."""
    numbers = ["1e400", "-1e400", "NaN", "Infinity", "-Infinity", "1" + "0" * 400, "1e-400",
               "18446744073709551616", "-1", "0.5", "true", '"3"', "[]", "{}", "null"]
    payloads = [f'["join",{{"room":"{room}","since":{n}}}]' for n in numbers]
    payloads += [
        '["join",' + nested(1025) + "]", '["join",' + '{"a":' * 1025 + "1" + "}" * 1025 + "]",
        nested(1025), '["join",' + nested(200) + "]",
        f'["typing",{{"room":"{room}","typing":"yes"}}]',
        f'["typing",{{"room":"{room}","typing":1}}]',
        f'["typing",{{"room":"{room}","typing":null}}]',
        f'["message",{{"room":"{room}","text":5}}]',
        f'["message",{{"room":"{room}","text":"\\ud800"}}]',
        f'["message",{{"room":"{room}","text":"a\\u0000b"}}]',
        f'["message",{{"room":"{room}","text":"x","text":"y"}}]',
        f'["presence:set",{{"room":"{room}","status":["busy"]}}]',
        f'["presence:set",{{"room":"{room}","status":""}}]',
        f'["join",{{"room":"{room}","since":0,"previous":"proc/sid"}}]',
        f'["join",{{"room":"{room}","since":0,"previous":7}}]',
        f'["join",{{"room":"{room}","since":0,"previous":""}}]',
        f'["join",{{"room":"{room}","since":0,"previous":"{"s" * 65}"}}]',
        '["leave",{"room":{"$ne":null}}]', '["leave","project:x"]', '["leave"]',
        '["auth:refresh",{"token":7}]', '["auth:refresh",{"token":"' + "a" * 9000 + '"}]',
        '["join",{"room":"' + "p" * 100 + '"}]', '["join",{"room":"project:x"},{"extra":1}]',
        '["nope",{}]', '["",{}]', '["join",{"room":"project:x","admin":true}]',
        "[1]", "[null]", '{"0":"join"}', '"join"', "", "[", '["join",{"room":"a"}]trailing',
        "['join']", '["join",{room:"a"}]',
    ]
    return payloads


def _packets() -> list[str]:
    """Engine.IO and Socket.IO packets of the wrong kind, on their own."""
    return [
        "", " ", "\x00", "0", "0{}", "2", "2probe", "5", "7", "8", "9", "b", "bAAEC", "x",
        "4", "43", "431[{}]", "44", '44{"message":"x"}', "45", '451-["message",{}]',
        '459999999999-["message",{}]', "46", "461-[{}]", "47", "48", "49", "4x", "4/", "4/admin,",
        '40/admin,{"token":"t"}', '40{"token":"t"}', "40", '42/admin,1["join",{}]', "40{",
        "40[]", '40"x"', "41{}",
        "4" + "2" * 30 + '["e"]', '42["join"', "42", "421", "42-1[]", "4-", "41-",
    ]


def _wire() -> list[bytes]:
    """Frames that break RFC 6455 itself."""
    bad = [frame(opcode, b"x") for opcode in (3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF)]
    bad += [
        frame(CONT, b"stray continuation"),
        frame(TEXT, b"42[", fin=False) + frame(BINARY, b"x"),
        frame(TEXT, b"42[", fin=False) + text('42["typing",{}]'),
        frame(TEXT, b'42["typing",\xff]'), frame(TEXT, b"\xc3"),
        frame(TEXT, b"\xed\xa0\x80"),  # an encoded surrogate
        frame(TEXT, b"4" + b"2" * 70_000),  # over SOCKET_MAX_PAYLOAD_BYTES
        frame(TEXT, b'42["typing",{}]', masked=False),
        frame(TEXT, b'42["typing",{}]', rsv=2), frame(TEXT, b'42["typing",{}]', rsv=1),
        frame(PING, b"p" * 126), frame(PING, b"", fin=False), frame(PONG, b"unasked"),
        frame(CLOSE, b"\x03\xe7"),  # close code 999
        frame(CLOSE, b"\x03"),  # a one-byte close payload
        frame(BINARY, b""), frame(BINARY, b"\x00" * 2000),
        frame(TEXT, b"", fin=False) + frame(CONT, b"", fin=False) + frame(CONT, b"4"),
    ]
    return bad


def _tiny(long_form: bool) -> list[str]:
    """Every text of up to two characters over an alphabet of packet types and JSON marks."""
    alphabet = "0123456789-[]{}\"/,ab" if long_form else "012345-[{\"/,"
    texts = [""]
    for size in (1, 2):
        texts += ["".join(chars) for chars in itertools.product(alphabet, repeat=size)]
    return texts


def cases(room: str, *, long_form: bool) -> list[Case]:
    """The corpus: event payloads after CONNECT; packets, wire-level frames and tiny frames
    both after CONNECT and before any."""
    out: list[Case] = []
    for i, payload in enumerate(_event_payloads(room)):
        out.append(Case(f"payload-{i}", text(f"42{100 + i}" + payload), True))
    for state in (True, False):
        tag = "connected" if state else "fresh"
        out += [Case(f"packet-{tag}-{p!r}", text(p), state) for p in _packets()]
        out += [Case(f"wire-{tag}-{i}", raw, state) for i, raw in enumerate(_wire())]
    out += [Case(f"tiny-{t!r}", text(t), False) for t in _tiny(long_form)]
    out += [Case(f"tiny-4-{t!r}", text("4" + t), False) for t in _tiny(long_form)]
    return out
