"""The malformed-frame corpus (tests/integration/realtime/corpus.py) over real WebSockets: every
event is answered (an error ack of docs/protocol.md) or the connection is closed with a
documented code; refusals are logged in a line at most, throttled, never with a traceback."""

from __future__ import annotations

import time

import pytest

from tests.integration.realtime.conftest import StartServer
from tests.integration.realtime.corpus import ACK_CODES, CLOSE_CODES, Case, cases
from tests.integration.realtime.support import Seed
from tests.integration.realtime.wire import TEXT, RawWebSocket, ack_of, text

pytestmark = pytest.mark.slow

PROBE = 999_999  # the ack id of the well-formed event sent after each case


async def answers(ws: RawWebSocket, wanted: set[int]) -> tuple[dict[int, object], int | None]:
    """The acks for `wanted` ids, until all came or the server closed (its close code), or a
    connection dropped without a close frame (-1) or silence (0)."""
    got: dict[int, object] = {}
    while not wanted <= got.keys():
        try:
            opcode, payload = await ws.recv()
        except TimeoutError:
            return got, 0
        except (OSError, EOFError, ConnectionError):  # IncompleteReadError is an EOFError
            return got, -1
        if opcode == 0x8:
            return got, int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
        found = ack_of(payload.decode()) if opcode == TEXT else None
        if found is not None:
            got[found[0]] = found[1]
    return got, None


async def run_case(ws: RawWebSocket, case: Case) -> tuple[str | None, bool]:
    """(what was wrong, whether the connection is still open)."""
    ws.writer.write(case.data)
    probe = "leave" if case.connected else "join"
    ws.writer.write(text(f'42{PROBE}["{probe}",{{"room":"project:nosuchroom"}}]'))
    wanted = {PROBE} | ({case.ack_id} if case.ack_id is not None else set())
    got, closed = await answers(ws, wanted)
    if closed is not None:
        if closed not in CLOSE_CODES:
            return f"closed with {closed} (acks {got})", False
        return None, False
    for ack_id, ack in got.items():
        assert isinstance(ack, dict)
        if not ack.get("ok") and ack["error"]["code"] not in ACK_CODES:
            return f"ack {ack_id}: {ack}", True
    return None, True


async def test_every_malformed_packet_is_answered_or_closed(
    seed: Seed, start_server: StartServer, long_form: bool
) -> None:
    alice = seed.user("alice")
    room = f"meeting:{seed.meeting(seed.project(alice), alice)}"
    # A rate that never refuses: here every frame must be judged on its own.
    server = start_server(socket_events_per_second="100000", socket_event_burst="100000")
    corpus = cases(room, long_form=long_form)
    open_ws: dict[bool, RawWebSocket | None] = {True: None, False: None}
    failures: list[str] = []
    closes = 0
    started = time.monotonic()
    for case in corpus:
        ws = open_ws[case.connected]
        if ws is None:
            ws = await RawWebSocket.open(server.url, alice.token if case.connected else None)
            if case.connected:
                ws.writer.write(text(f'421["join",{{"room":"{room}"}}]'))
                got, _ = await answers(ws, {1})
                assert got[1], got
        problem, still_open = await run_case(ws, case)
        if problem is not None:
            failures.append(f"{case.name}: {problem}")
        if not still_open:
            closes += 1
            ws.close()
            ws = None
        open_ws[case.connected] = ws
    for ws in open_ws.values():
        if ws is not None:
            ws.close()
    elapsed = time.monotonic() - started
    assert not failures, "\n".join(failures[:40])
    log = server.log()
    assert "Traceback" not in log, log[-4000:]
    refusal_lines = [line for line in log.splitlines() if "refused" in line or "closing with"
                     in line]
    # Throttled: one line per 10 s at most, whatever the number of refused frames.
    assert len(refusal_lines) <= 1 + elapsed / 10, refusal_lines
    print(f"\n{len(corpus)} malformed frames sent, {closes} connections closed with a "
          f"documented code, the rest answered; 0 tracebacks ({elapsed:.1f} s)")
