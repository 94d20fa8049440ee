"""The standing socket fuzzer: hypothesis writes events (every client event of docs/protocol.md
and unknown ones, with payloads of any JSON shape) and raw Socket.IO texts, sent to a real
`roomcast serve` over a WebSocket. Each must be answered through its ack (`ok`, or an error
code docs/protocol.md lists) or close the connection with a documented code; the server never
crashes, never logs a traceback, and its memory stays bounded. Bounded in `make test`, larger
under `--long`."""

from __future__ import annotations

import json
import re
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from realtime import contract as c
from tests.integration.realtime.conftest import StartServer
from tests.integration.realtime.corpus import ACK_CODES, CLOSE_CODES
from tests.integration.realtime.support import Seed, rss_bytes
from tests.support.services import ServerProcess

pytestmark = pytest.mark.slow

MEMORY_BOUND = 64 * 2**20  # the growth of the server's RSS over a whole run


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                 max_size=4),
    max_leaves=12,
)


@dataclass
class Link:
    """One WebSocket to the server, connected to the namespace; reopened once closed."""

    server: ServerProcess
    token: str
    ws: ClientConnection | None = None
    stack: ExitStack = field(default_factory=ExitStack)
    next_id: int = 1
    counts: dict[str, int] = field(default_factory=lambda: {"frames": 0, "acks": 0,
                                                           "closes": 0})

    def open(self) -> ClientConnection:
        if self.ws is None:
            url = self.server.url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
            self.stack = ExitStack()
            # No keepalive: its pings draw from `random` in a thread, which hypothesis takes
            # for a strategy using it.
            ws = self.stack.enter_context(connect(url, open_timeout=10, max_size=None,
                                                  compression=None, ping_interval=None))
            assert str(ws.recv(timeout=10)).startswith("0{")
            ws.send("40" + orjson.dumps({"token": self.token}).decode())
            assert str(ws.recv(timeout=10)).startswith("40{")
            self.ws = ws
        return self.ws

    def exchange(self, frame: str, ack_id: int | None) -> str | None:
        """Send one text frame; what was wrong with the answer, or None."""
        ws = self.open()
        self.counts["frames"] += 1
        try:
            ws.send(frame)
            while True:
                try:
                    got = str(ws.recv(timeout=10))
                except TimeoutError:
                    if ack_id is None:
                        return None  # a frame nobody answers (an event without an ack id)
                    return f"no answer to {frame[:200]!r}"
                if got == "2":
                    ws.send("3")
                    continue
                if ack_id is not None and got.startswith(f"43{ack_id}["):
                    self.counts["acks"] += 1
                    ack = orjson.loads(got[len(f"43{ack_id}"):])[0]
                    if not ack["ok"] and ack["error"]["code"] not in ACK_CODES:
                        return f"{frame[:200]!r} answered {ack}"
                    return None
        except ConnectionClosed as closed:
            self.ws = None
            self.stack.close()
            self.counts["closes"] += 1
            code = closed.rcvd.code if closed.rcvd is not None else None
            if code not in CLOSE_CODES:
                return f"{frame[:200]!r} closed the connection with {code}"
            return None

    def event(self, name: str, args: list[Any]) -> str | None:
        ack_id, self.next_id = self.next_id, self.next_id + 1
        # The standard library's encoder: it writes integers beyond 64 bits too.
        body = json.dumps([name, *args], separators=(",", ":"), ensure_ascii=False)
        return self.exchange(f"42{ack_id}{body}", ack_id)

    def close(self) -> None:
        self.ws = None
        self.stack.close()


def event_payloads(room: str) -> st.SearchStrategy[dict[str, Any]]:
    """Payloads shaped like the events' own (their fields, with values of any type), and
    fields of any name."""
    fields = {
        "room": st.sampled_from([room, "project:nosuch", "user:x", "", "meeting:" + "a" * 70])
        | json_values,
        "since": st.integers() | st.floats() | json_values,
        "status": st.text(max_size=80) | json_values,
        "text": st.text(max_size=200) | json_values,
        "client_id": st.text(max_size=80) | json_values,
        "typing": st.booleans() | json_values,
        "token": st.text(max_size=50) | json_values,
    }
    known = st.fixed_dictionaries({}, optional=fields)
    return known | st.dictionaries(st.text(max_size=12), json_values, max_size=5)


def run_fuzz(server: ServerProcess, token: str, room: str, examples: int) -> Link:
    link = Link(server, token)
    link.open().send(f'420["join",{{"room":"{room}"}}]')
    failures: list[str] = []

    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(
        name=st.sampled_from(c.CLIENT_EVENTS) | st.text(max_size=20),
        payload=event_payloads(room),
        extra=st.lists(json_values, max_size=2),
        shape=st.sampled_from(["one", "none", "many", "bare"]),
    )
    def events(name: str, payload: dict[str, Any], extra: list[Any], shape: str) -> None:
        args: list[Any] = {"one": [payload], "none": [], "many": [payload, *extra],
                           "bare": extra[:1]}[shape]
        problem = link.event(name, args)
        if problem is not None:
            failures.append(problem)

    @settings(max_examples=max(examples // 4, 10), deadline=None, database=None,
              derandomize=True, suppress_health_check=list(HealthCheck))
    @given(st.text(alphabet=st.characters(codec="utf-8"), max_size=60))
    def raw_texts(body: str) -> None:
        # Any Socket.IO text, with an ack id so an event among them must be answered (digits
        # at the start of the body lengthen the id; over 18 digits it closes the connection).
        link.next_id += 1
        frame = f"42{link.next_id}{body}"
        digits = re.match(r"\d+", frame[2:])
        assert digits is not None
        ack_id = int(digits.group()) if len(digits.group()) <= 18 else None
        problem = link.exchange(frame, ack_id)
        if problem is not None:
            failures.append(problem)

    try:
        events()
        raw_texts()
    finally:
        link.close()
    assert not failures, "\n".join(failures[:20])
    return link


@pytest.mark.timeout(1200)  # the long form
def test_fuzzed_events_are_answered_or_closed(seed: Seed, start_server: StartServer,
                                              long_form: bool) -> None:
    alice = seed.user("alice")
    room = f"meeting:{seed.meeting(seed.project(alice), alice)}"
    server = start_server(socket_events_per_second="100000", socket_event_burst="100000")
    before = rss_bytes(server.proc.pid)
    link = run_fuzz(server, alice.token, room, 4000 if long_form else 300)
    grown = rss_bytes(server.proc.pid) - before
    assert server.proc.poll() is None, "the server crashed"
    log = server.log()
    assert "Traceback" not in log, log[-4000:]
    assert grown < MEMORY_BOUND, f"the server grew by {grown / 2**20:.1f} MiB"
    print(f"\nfuzz: {link.counts['frames']} frames, {link.counts['acks']} acks, "
          f"{link.counts['closes']} documented closes, 0 crashes, 0 tracebacks, "
          f"RSS +{grown / 2**20:.1f} MiB")
