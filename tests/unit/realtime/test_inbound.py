"""Parsing client EVENT packets for the inbound fast path, and framing their acks."""

from __future__ import annotations

import orjson
import socketio

from realtime.inbound import ack_text, parse_event


def test_events_with_and_without_an_ack_id() -> None:
    assert parse_event('2["join",{"room":"project:p"}]') == (None, ["join", {"room": "project:p"}])
    assert parse_event('217["message",{"text":"hi"}]') == (17, ["message", {"text": "hi"}])
    assert parse_event('20["x"]') == (0, ["x"])
    assert parse_event('2["typing",{"room":"r"},2,"more"]') == (None, ["typing", {"room": "r"},
                                                                    2, "more"])


def test_the_parser_agrees_with_python_socketio() -> None:
    for text in ('2["join",{"room":"project:p"}]', '212["message",{"text":"\\u00e9 \\"q\\""}]',
                 '2999999999["e",[1,2,{"a":null}]]'):
        ours = parse_event(text)
        theirs = socketio.packet.Packet(encoded_packet=text)
        assert ours == (theirs.id, theirs.data), text


def test_everything_else_is_left_to_python_socketio() -> None:
    for text in ("", "2", "2[", '0{"token":"t"}', "1", '3["ok"]', '21-["e",{"_placeholder":true}]',
                 '2/admin,["join",{}]', '2/admin,5["join",{}]', "2[1,2]", "2[]", '2{"a":1}',
                 "2garbage", '2["unterminated"', '2' + '9' * 19 + '["e"]', '2["e"]trailing'):
        assert parse_event(text) is None, text


def test_ack_text_is_the_packet_python_socketio_would_send() -> None:
    result = {"ok": True, "room": "meeting:m", "offset": 12, "text": "é"}
    ours = ack_text(41, result)
    theirs = socketio.packet.Packet(socketio.packet.ACK, data=[result], id=41).encode()
    assert ours[:3] == theirs[:3] == "341"
    assert orjson.loads(ours[3:]) == orjson.loads(theirs[3:]) == [result]
