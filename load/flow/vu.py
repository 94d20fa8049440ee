"""One virtual user: a Socket.IO connection walking through its kind's steps."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from random import Random
from typing import Any

from load.client import ConnectFailed, SioClient
from load.flow.meter import Meter
from load.flow.model import (
    Answer,
    Connect,
    Delivery,
    Disconnect,
    Emit,
    Expect,
    Loop,
    Reconnect,
    Scenario,
    SetNames,
    Step,
    Think,
    UserKind,
)
from load.flow.template import Context, Template, TemplateError, dig, render

INBOX = 256  # events kept for a later `expect`, per user


class StepFailed(Exception):
    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


@dataclass
class Shared:
    """What the users of one load process share."""

    scenario: Scenario
    meter: Meter
    counters: dict[str, int] = field(default_factory=dict)
    procs: int = 1
    index: int = 0
    deliveries: dict[str, Delivery] = field(default_factory=dict)
    stopping: bool = False
    # The events some `expect` step waits for: only those are kept for later (a user that
    # receives a busy room's traffic and never expects it keeps none of it).
    expected: frozenset[str] = frozenset()


def matches(expected: Any, value: Any) -> bool:
    """`expected` a mapping: each `path: value` holds in `value`; otherwise equality."""
    if isinstance(expected, dict):
        for path, want in expected.items():
            try:
                got = dig(value, tuple(str(path).split(".")))
            except TemplateError:
                return False
            if not matches(want, got) if isinstance(want, dict) else got != want:
                return False
        return True
    return bool(expected == value)


class VirtualUser:
    def __init__(self, shared: Shared, kind: UserKind, user_index: int) -> None:
        self.shared = shared
        self.kind = kind
        self.index = user_index
        scenario = shared.scenario
        self.names: dict[str, Any] = {
            "user": {"index": user_index, "kind": kind.name, "id": f"{kind.name}-{user_index}"},
            "iteration": 0,
        }
        if scenario.rows:
            self.names["row"] = scenario.rows[user_index % len(scenario.rows)]
        self.ctx = Context(self.names, Random(f"{scenario.seed}:{user_index}"), shared.counters,
                           shared.procs, shared.index)
        for name, value in scenario.variables.items():
            self.names[name] = render(value, self.ctx)
        self.client: SioClient | None = None
        self.connect_step: Connect | None = None
        self.inbox: deque[tuple[str, list[Any], int]] = deque(maxlen=INBOX)
        self.waiting: tuple[str, Any, asyncio.Future[tuple[list[Any], int]]] | None = None
        self.last_sent_ns = time.perf_counter_ns()
        self.last_seq: dict[tuple[str, Any], int] = {}

    # -- running ------------------------------------------------------------------------------

    async def run_once(self) -> bool:
        """The flow once; False when a step failed (the user's flow ends there)."""
        try:
            await self.steps(self.kind.steps)
        except StepFailed:
            return False
        return True

    async def steps(self, steps: tuple[Step, ...]) -> None:
        for step in steps:
            if self.shared.stopping:
                return
            await self.step(step)

    async def step(self, step: Step) -> None:
        if isinstance(step, Think):
            await asyncio.sleep(self.ctx.rng.uniform(step.low, step.high))
        elif isinstance(step, Loop):
            await self.loop(step)
        elif isinstance(step, SetNames):
            for name, value in step.values.items():
                self.names[name] = self.guarded("set", render, value, self.ctx)
        else:
            await self.measured(step)

    async def loop(self, step: Loop) -> None:
        count = step.max
        if step.count is not None:
            raw = self.guarded("loop", render, step.count, self.ctx)
            if isinstance(raw, bool) or not isinstance(raw, int):
                self.fail("loop", "template")
            count = min(raw, step.max)
        outer = self.names["iteration"]
        for n in range(count):
            self.names["iteration"] = n
            if step.while_ is not None and not self.truthy(step.while_):
                break
            await self.steps(step.steps)
        self.names["iteration"] = outer

    def truthy(self, condition: Template | str) -> bool:
        return bool(self.guarded("loop", render, condition, self.ctx))

    def guarded(self, step: str, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return fn(*args)
        except (TemplateError, TypeError, ValueError):
            self.fail(step, "template")

    def fail(self, step: str, kind: str) -> Any:
        self.shared.meter.step_error(step, kind, time.time_ns())
        raise StepFailed(kind)

    async def measured(self, step: Connect | Emit | Expect | Disconnect | Reconnect) -> None:
        began = time.perf_counter_ns()
        micros: float | None
        if isinstance(step, Connect):
            name, micros = step.name, await self.connect(step)
        elif isinstance(step, Emit):
            name, micros = step.name, await self.emit(step)
        elif isinstance(step, Expect):
            name, micros = step.name, await self.expect(step)
        elif isinstance(step, Disconnect):
            name, micros = "disconnect", None
            if self.client is not None:
                self.client.close()
        else:
            name = "reconnect"
            if self.connect_step is None:
                self.fail(name, "never_connected")
            assert self.connect_step is not None
            if self.client is not None:
                self.client.close()
            await self.connect(self.connect_step, name)
            micros = (time.perf_counter_ns() - began) / 1000.0
        self.shared.meter.step_done(name, micros, time.time_ns())

    async def connect(self, step: Connect, name: str | None = None) -> float:
        name = name or step.name
        scenario = self.shared.scenario
        url = self.guarded(name, render, step.url, self.ctx) if step.url else scenario.url
        auth = self.guarded(name, render, step.auth, self.ctx)
        query = self.guarded(name, render, step.query, self.ctx) or {}
        if not isinstance(query, dict) or (auth is not None and not isinstance(auth, dict)):
            self.fail(name, "template")
        if self.client is None:
            self.client = SioClient(on_event=self.on_event, on_close=self.on_close,
                                    clock=time.time_ns)
        self.connect_step = step
        meter = self.shared.meter
        meter.count("connect:attempts", time.time_ns())
        self.last_seq.clear()  # a new connection: sequences are followed from here
        began = time.perf_counter_ns()
        try:
            await self.client.connect(
                str(url), auth=auth, within=step.timeout, path=step.path or scenario.path,
                namespace=step.namespace, query={str(k): str(v) for k, v in query.items()})
        except ConnectFailed as exc:
            meter.count(f"connect:failed:{exc.kind}", time.time_ns())
            self.fail(name, exc.kind)  # refused, timeout, http_404, connect_error, ...
        micros = (time.perf_counter_ns() - began) / 1000.0
        meter.latency("connect", micros, time.time_ns())
        return micros

    def live(self, step: str) -> SioClient:
        if self.client is None or not self.client.connected:
            self.fail(step, "not_connected")
        assert self.client is not None
        return self.client

    async def emit(self, step: Emit) -> float | None:
        client = self.live(step.name)
        args = [self.guarded(step.name, render, a, self.ctx) for a in step.args]
        if step.room_change:
            self.last_seq.clear()
        self.last_sent_ns = time.perf_counter_ns()
        if step.ack is None:
            try:
                client.emit(step.event, *args)
            except ConnectionError:
                self.fail(step.name, "not_connected")
            return None
        try:
            answer = await client.call(step.event, *args, within=step.ack.within)
        except TimeoutError:
            self.fail(step.name, "timeout")
        except ConnectionError:
            self.fail(step.name, "disconnected")
        micros = (time.perf_counter_ns() - self.last_sent_ns) / 1000.0
        self.answered(step.name, step.ack, answer)
        return micros

    async def expect(self, step: Expect) -> float:
        self.live(step.name)
        want = self.guarded(step.name, render, step.answer.match, self.ctx)
        for n, (event, args, received_ns) in enumerate(self.inbox):
            if event == step.event and matches_args(want, args):
                del self.inbox[n]
                return self.got(step, args, received_ns)
        future: asyncio.Future[tuple[list[Any], int]] = \
            asyncio.get_running_loop().create_future()
        self.waiting = (step.event, want, future)
        try:
            async with asyncio.timeout(step.answer.within):
                args, received_ns = await future
        except TimeoutError:
            self.fail(step.name, "timeout")
        except ConnectionError:
            self.fail(step.name, "disconnected")
        finally:
            self.waiting = None
        return self.got(step, args, received_ns)

    def got(self, step: Expect, args: list[Any], received_ns: int) -> float:
        self.answered(step.name, step.answer, args)
        # From the user's last send to the answer's arrival (what the user waited).
        waited = received_ns - (time.time_ns() - (time.perf_counter_ns() - self.last_sent_ns))
        return max(waited, 0) / 1000.0

    def answered(self, name: str, answer: Answer, args: list[Any]) -> None:
        first = args[0] if args else None
        if answer.match is not None:
            want = self.guarded(name, render, answer.match, self.ctx)
            if not matches(want, first):
                self.fail(name, "mismatch")
        for key, path in answer.capture.items():
            try:
                self.names[key] = dig(first, path, "the answer")
            except TemplateError:
                self.fail(name, "capture")

    # -- callbacks from the connection -----------------------------------------------------

    def on_event(self, client: SioClient, event: str, args: list[Any], received_ns: int) -> None:
        meter = self.shared.meter
        meter.count(f"received:{event}", received_ns)
        spec = self.shared.deliveries.get(event)
        if spec is not None and args and isinstance(args[0], dict):
            self.delivery(spec, args[0], received_ns)
        waiting = self.waiting
        if waiting is not None and waiting[0] == event and matches_args(waiting[1], args):
            if not waiting[2].done():
                waiting[2].set_result((args, received_ns))
            return
        if event in self.shared.expected:
            self.inbox.append((event, args, received_ns))

    def delivery(self, spec: Delivery, payload: dict[str, Any], received_ns: int) -> None:
        meter = self.shared.meter
        ts = payload.get(spec.ts) if spec.ts else None
        if isinstance(ts, int | float) and not isinstance(ts, bool) and ts > 0:
            sent_ns = int(ts * 1_000_000) if ts < 1e14 else int(ts)  # ms or ns since the epoch
            meter.latency(f"event:{spec.event}", max(received_ns - sent_ns, 0) / 1000.0,
                          received_ns)
        seq = payload.get(spec.seq) if spec.seq else None
        if not isinstance(seq, int) or isinstance(seq, bool):
            return
        key = (spec.event, payload.get(spec.sender) if spec.sender else None)
        last = self.last_seq.get(key)
        if last is None or seq > last:
            if last is not None and seq > last + 1:
                meter.total(f"lost:{spec.event}", seq - last - 1)
            self.last_seq[key] = seq
        elif seq == last:
            meter.total(f"duplicates:{spec.event}")
        else:
            meter.total(f"out_of_order:{spec.event}")

    def on_close(self, client: SioClient, reason: str) -> None:
        self.shared.meter.count(f"disconnect:{reason}", time.time_ns())
        waiting = self.waiting
        if waiting is not None and not waiting[2].done():
            waiting[2].set_exception(ConnectionError(reason))

    def close(self) -> None:
        if self.client is not None and self.client.connected:
            self.client.close()


def expected_events(steps: tuple[Step, ...]) -> set[str]:
    """The event names `expect` steps wait for, loops included."""
    found: set[str] = set()
    for step in steps:
        if isinstance(step, Expect):
            found.add(step.event)
        elif isinstance(step, Loop):
            found |= expected_events(step.steps)
    return found


def matches_args(want: Any, args: list[Any]) -> bool:
    return want is None or matches(want, args[0] if args else None)
