"""Roomcast's Socket.IO packet parser and ack encoder (realtime/packets.py) against
python-socketio's packet module, on random and adversarial packets: whatever Roomcast accepts,
python-socketio decodes the same; whatever python-socketio refuses, Roomcast refuses too
(Roomcast refuses more: binary packets, attachments, acks from clients, JSON orjson does not
read, long ack ids). Every ack Roomcast writes decodes in python-socketio as the same ack.

Bounded in `make test`; `pytest --long` runs many more examples.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from socketio import packet as sio_packet

from realtime.packets import BadPacket, ack_text, parse_packet

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@st.composite
def packets(draw: st.DrawFn) -> str:
    """A Socket.IO packet from parts, some of them wrong, or arbitrary text."""
    if draw(st.integers(0, 4)) == 0:
        return draw(st.text(max_size=40))
    kind = draw(st.sampled_from("0123456789x"))
    namespace = draw(st.sampled_from(["", "/", "/admin,", "/a?x=1,", "/,"]))
    ack_id = draw(st.sampled_from(["", "1", "42", "007", "9" * 19, "2-"]))
    payload = draw(st.one_of(
        st.just(""),
        json_values.map(lambda value: sio_packet.Packet.json.dumps(value)),
        st.lists(json_values, max_size=3).map(
            lambda args: sio_packet.Packet.json.dumps(["event", *args])),
        st.text(max_size=10),
    ))
    return kind + namespace + ack_id + payload


def decoded_by_socketio(text: str) -> tuple[int, str, int | None, Any] | None:
    try:
        pkt = sio_packet.Packet(encoded_packet=text)
    except Exception:  # python-socketio refuses it
        return None
    return pkt.packet_type, pkt.namespace or "/", pkt.id, pkt.data


def test_accepted_packets_decode_the_same_in_python_socketio(long_form: bool) -> None:
    @settings(max_examples=5000 if long_form else 400, deadline=None, database=None)
    @given(text=packets())
    def check(text: str) -> None:
        theirs = decoded_by_socketio(text)
        try:
            mine = parse_packet(text)
        except BadPacket:
            return  # refused: allowed whatever python-socketio makes of it
        assert theirs is not None, f"accepted what python-socketio refuses: {text!r}"
        assert (mine.kind, mine.namespace, mine.ack_id, mine.data) == theirs, text

    check()


def test_acks_decode_as_the_same_ack_in_python_socketio(long_form: bool) -> None:
    @settings(max_examples=3000 if long_form else 200, deadline=None, database=None)
    @given(ack_id=st.integers(0, 10**18 - 1), result=json_values)
    def check(ack_id: int, result: Any) -> None:
        pkt = sio_packet.Packet(encoded_packet=ack_text(ack_id, result))
        assert (pkt.packet_type, pkt.namespace, pkt.id, pkt.data) == (
            sio_packet.ACK, None, ack_id, [result])

    check()
