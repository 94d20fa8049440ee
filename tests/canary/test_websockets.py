"""websockets internals that realtime/wire/uvicorn_protocol.py reads."""

from __future__ import annotations

from importlib.metadata import version

from websockets.protocol import State
from websockets.server import ServerProtocol

from realtime.wire.frames import TEXT, encode_frame
from realtime.wire.uvicorn_protocol import _waits_for_a_frame
from tests.canary.upstream import recheck

VERIFIED = "17.4"
OURS = "realtime/wire/uvicorn_protocol.py (_waits_for_a_frame, SocketProtocol.detach)"


def message(what: str) -> str:
    return recheck(what, OURS, "websockets", VERIFIED)


def test_the_verified_release_is_installed() -> None:
    assert version("websockets") == VERIFIED, message("its release")


def test_the_parser_state_is_read_through_its_generator() -> None:
    conn = ServerProtocol(state=State.OPEN)
    # Waiting at the start of a frame: the parser generator's innermost frame is `at_eof`.
    assert _waits_for_a_frame(conn), message(
        "ServerProtocol.parser (a generator waiting in `at_eof`), `reader.buffer` or "
        "`current_size`")
    conn.receive_data(encode_frame(TEXT, b"hello", mask=b"abcd")[:3])
    assert not _waits_for_a_frame(conn), message(
        "ServerProtocol.parser: half a frame no longer moves it off `at_eof`")


def test_the_c_mask_is_built() -> None:
    from websockets import speedups

    assert speedups.apply_mask(b"\x00\x00", b"abcd") == b"ab", message(
        "websockets.speedups.apply_mask (the C extension realtime/wire/frames.py uses)")
