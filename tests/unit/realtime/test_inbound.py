"""Reading client Socket.IO packets strictly (realtime/packets.py), and framing their acks."""

from __future__ import annotations

import orjson
import pytest
import socketio

from realtime.inbound import ack_text
from realtime.packets import (
    CLOSE_PROTOCOL,
    CLOSE_UNSUPPORTED,
    CONNECT,
    DISCONNECT,
    EVENT,
    BadPacket,
    ClientPacket,
    parse_packet,
)


def test_events_with_and_without_an_ack_id() -> None:
    assert parse_packet('2["join",{"room":"project:p"}]') == ClientPacket(
        EVENT, "/", None, ["join", {"room": "project:p"}])
    assert parse_packet('217["message",{"text":"hi"}]') == ClientPacket(
        EVENT, "/", 17, ["message", {"text": "hi"}])
    assert parse_packet('20["x"]') == ClientPacket(EVENT, "/", 0, ["x"])
    assert parse_packet('2/admin,5["join",{}]') == ClientPacket(EVENT, "/admin", 5, ["join", {}])


def test_connect_and_disconnect() -> None:
    assert parse_packet('0{"token":"t"}') == ClientPacket(CONNECT, "/", None, {"token": "t"})
    assert parse_packet("0") == ClientPacket(CONNECT, "/", None, None)
    assert parse_packet("0/admin?x=1,") == ClientPacket(CONNECT, "/admin", None, None)
    assert parse_packet("1") == ClientPacket(DISCONNECT, "/", None, None)


def test_the_parser_agrees_with_python_socketio() -> None:
    for text in ('2["join",{"room":"project:p"}]', '212["message",{"text":"\\u00e9 \\"q\\""}]',
                 '2999999999["e",[1,2,{"a":null}]]', '0{"token":"t"}', "1"):
        ours = parse_packet(text)
        theirs = socketio.packet.Packet(encoded_packet=text)
        assert (ours.kind, ours.ack_id, ours.data) == (theirs.packet_type, theirs.id,
                                                       theirs.data), text


@pytest.mark.parametrize("text", [
    "5", "51-", '51-["message",{"_placeholder":true,"num":0}]',
    '459999999999-["message",{}]'[1:], "6", "61-[1]",
    '21-["e",{"_placeholder":true}]', '0123-{"token":"t"}',
])
def test_binary_packets_and_attachments_are_unsupported(text: str) -> None:
    with pytest.raises(BadPacket) as refused:
        parse_packet(text)
    assert refused.value.close_code == CLOSE_UNSUPPORTED
    assert refused.value.ack_id is None


@pytest.mark.parametrize("text", [
    "", "4", '4{"message":"x"}', "7", "x", "2", "2[", "2[]", "2[1,2]", '2{"a":1}', "2garbage",
    '2["unterminated"', "2" + "9" * 19 + '["e"]', '2["e"]trailing', '3["ok"]', "31[{}]",
    "0[1]", '0"t"', "1{}", "0{", "2" + "[" * 1025 + "]" * 1025,
])
def test_malformed_packets_without_an_ack_id_close_the_connection(text: str) -> None:
    with pytest.raises(BadPacket) as refused:
        parse_packet(text)
    assert refused.value.close_code == CLOSE_PROTOCOL
    assert refused.value.ack_id is None


@pytest.mark.parametrize("payload", [
    '["join",{"room":"project:p","since":1e400}]', '["join",{"since":NaN}]',
    '["join",{"since":Infinity}]', '["join",{"since":-Infinity}]',
    '["join",{"since":1' + "0" * 400 + "}]", "[" * 1025 + '"e"' + "]" * 1025, "[]", "[1]", "{}",
    '["e",\'single\']', "",
])
def test_a_bad_payload_with_an_ack_id_is_answered(payload: str) -> None:
    with pytest.raises(BadPacket) as refused:
        parse_packet("27" + payload)
    assert refused.value.ack_id == 7


def test_ack_text_is_the_packet_python_socketio_would_send() -> None:
    result = {"ok": True, "room": "meeting:m", "offset": 12, "text": "é"}
    ours = ack_text(41, result)
    theirs = socketio.packet.Packet(socketio.packet.ACK, data=[result], id=41).encode()
    assert ours[:3] == theirs[:3] == "341"
    assert orjson.loads(ours[3:]) == orjson.loads(theirs[3:]) == [result]
