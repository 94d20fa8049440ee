"""Phases: who starts when. Open phases start users at a rate, each running its flow once;
closed phases keep a number of users running, each repeating its flow. A load process runs
its share of every phase from a common start time (wall clock), so several processes and
machines move through the phases together: of N processes, process k starts the arrivals
k, k+N, k+2N... of the whole run, and its part of a closed phase's users and of
`max_users`, so the parts add up to exactly what the scenario says."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable
from random import Random

from load.flow.meter import Meter
from load.flow.model import Phase, Scenario, StopWhen, UserKind, part_of
from load.flow.vu import Shared, VirtualUser, expected_events

TICK = 0.05


def stop_reason(meter: Meter, stop: StopWhen) -> str | None:
    """Why the run should end now, by the scenario's stop conditions; None to go on."""
    if stop.error_rate is None and stop.p99_ms is None:
        return None
    done, errors, hist = meter.step_totals()
    if stop.error_rate is not None and done + errors >= stop.min_samples:
        rate = errors / (done + errors)
        if rate > stop.error_rate:
            return (f"error rate {rate:.1%} above {stop.error_rate:.1%} "
                    f"({errors} errors in {done + errors} steps)")
    if stop.p99_ms is not None and hist.count >= stop.min_samples:
        p99 = hist.percentile(99) / 1000.0
        if p99 > stop.p99_ms:
            return f"step p99 {p99:.1f} ms above {stop.p99_ms:g} ms ({hist.count} samples)"
    return None


class Engine:
    def __init__(self, scenario: Scenario, meter: Meter, *, index: int = 0, procs: int = 1,
                 external_stop: Callable[[], str | None] | None = None,
                 on_second: Callable[[Meter], None] | None = None) -> None:
        self.scenario = scenario
        self.meter = meter
        expected = set().union(*(expected_events(k.steps) for k in scenario.kinds))
        self.shared = Shared(scenario, meter, procs=procs, index=index,
                             deliveries={d.event: d for d in scenario.delivery},
                             expected=frozenset(expected))
        self.external_stop = external_stop
        self.on_second = on_second
        self.rng = Random(f"{scenario.seed}:arrivals:{index}")
        self.started = 0
        self.opened = 0  # arrivals of the whole run so far, this process's and the others'
        self.cap = None if scenario.max_users is None else \
            part_of(scenario.max_users, index, procs)
        self.phase_no = 0
        self.active: set[asyncio.Task[None]] = set()
        self.closed_active = 0
        self.target = 0
        self.in_closed = False
        self.stopped: str | None = None
        self.users: list[VirtualUser] = []

    def pick(self) -> UserKind:
        kinds = self.scenario.kinds
        return self.rng.choices(kinds, weights=[k.weight for k in kinds])[0]

    def spawn(self, closed: bool) -> None:
        meter, now = self.meter, time.time_ns()
        if self.cap is not None and len(self.active) >= self.cap:
            meter.count("users:dropped", now)  # over max_users: the arrival is not started
            return
        user_index = self.started * self.shared.procs + self.shared.index
        self.started += 1
        meter.count("users:started", now)
        meter.total(f"phase:{self.phase_no}:users")
        user = VirtualUser(self.shared, self.pick(), user_index)
        if closed:
            self.closed_active += 1
        task = asyncio.create_task(self.user(user, closed))
        self.active.add(task)  # hold a reference until it ends
        task.add_done_callback(self.active.discard)

    async def user(self, user: VirtualUser, closed: bool) -> None:
        meter = self.meter
        counted = closed
        try:
            while True:
                ok = await user.run_once()
                meter.count("users:iterations" if ok else "users:failed", time.time_ns())
                if not ok or not closed:
                    break
                if not self.keep_looping():
                    counted = False  # keep_looping already let it go
                    break
        finally:
            if counted:
                self.closed_active -= 1
            user.close()
            meter.count("users:ended", time.time_ns())

    def keep_looping(self) -> bool:
        """After a closed-model user's iteration: go on, or leave (the count drops at once,
        so on a ramp down exactly the excess leaves)."""
        if self.shared.stopping or not self.in_closed or self.closed_active > self.target:
            self.closed_active -= 1
            return False
        return True

    async def run(self, start_ns: int) -> None:
        """Run every phase from `start_ns` (wall clock), then give users `grace` seconds to
        finish; the meter holds everything."""
        delay = (start_ns - time.time_ns()) / 1e9
        if delay > 0:
            await asyncio.sleep(delay)
        ends, at = [], 0.0
        for phase in self.scenario.phases:
            at += phase.duration
            ends.append(at)
        opened_before = 0.0
        last_second = -1
        while self.phase_no < len(self.scenario.phases) and self.stopped is None:
            t = (time.time_ns() - start_ns) / 1e9
            while self.phase_no < len(ends) and t >= ends[self.phase_no]:
                phase = self.scenario.phases[self.phase_no]
                if phase.model == "open":
                    # A late wake-up near the end still starts every arrival the phase owes.
                    self.arrive(opened_before, phase, phase.duration)
                opened_before += phase.arrivals(phase.duration)
                self.phase_no += 1
            if self.phase_no >= len(ends):
                break
            phase = self.scenario.phases[self.phase_no]
            into = t - (ends[self.phase_no] - phase.duration)
            if phase.model == "open":
                self.in_closed = False
                self.arrive(opened_before, phase, into)
            else:
                self.in_closed = True
                self.target = part_of(round(phase.level(into)), self.shared.index,
                                      self.shared.procs)
                while self.closed_active < self.target and not self.capped():
                    self.spawn(closed=True)
            second = int(t)
            if second != last_second:
                last_second = second
                self.check_stop()
            await asyncio.sleep(TICK)
        self.in_closed = False
        await self.finish()

    def arrive(self, before: float, phase: Phase, into: float) -> None:
        """Start the open phase's arrivals due `into` seconds into it (`before` accrued in
        the phases before). Arrival n is due once n have accrued, the first at once: 3 a
        second for 1 s starts users at 0, 1/3 and 2/3 s. Of N processes, this one starts
        the arrivals whose number is its index modulo N."""
        accrued = before + phase.arrivals(into)
        due = min(math.floor(accrued + 1e-9) + 1,
                  math.ceil(before + phase.arrivals(phase.duration) - 1e-9))
        while self.opened < due:
            if self.opened % self.shared.procs == self.shared.index:
                self.spawn(closed=False)
            self.opened += 1

    def capped(self) -> bool:
        if self.cap is not None and len(self.active) >= self.cap:
            self.meter.count("users:capped", time.time_ns())
            return True
        return False

    def check_stop(self) -> None:
        reason = stop_reason(self.meter, self.scenario.stop)
        if reason is None and self.external_stop is not None:
            reason = self.external_stop()
        if reason is not None:
            self.stop(reason)
        if self.on_second is not None:
            self.on_second(self.meter)

    def stop(self, reason: str) -> None:
        if self.stopped is None:
            self.stopped = reason
            self.meter.failures.append(f"stopped early: {reason}")

    async def finish(self) -> None:
        if self.stopped is not None:
            self.shared.stopping = True
        pending = set(self.active)
        if pending:
            await asyncio.wait(pending, timeout=self.scenario.grace)
        cut = [task for task in self.active if not task.done()]
        if cut:
            self.meter.total("users:cut_short", len(cut))
            for task in cut:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*cut, return_exceptions=True)
