"""A scenario as the engine runs it: user kinds with their steps, phases, stop conditions.

Values that hold templates are compiled (`load.flow.template`); everything else is plain data.
Read from YAML by `load.flow.parse`, or built in Python (`load.flow.api`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from load.flow.template import Template


@dataclass(frozen=True)
class Connect:
    url: Any = None  # None: the scenario's target
    path: str | None = None
    namespace: str = "/"
    auth: Any = None
    query: Any = None
    timeout: float = 10.0
    name: str = "connect"
    line: int = 0


@dataclass(frozen=True)
class Answer:
    """What an ack or an event must look like, and what to keep from it."""

    within: float = 5.0
    match: Any = None  # None, or {path: expected} on the first argument, or a whole value
    capture: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Emit:
    event: str
    args: tuple[Any, ...] = ()
    ack: Answer | None = None
    name: str = ""
    line: int = 0
    # A join or leave: the user's view of the senders' sequences starts over (what was sent
    # while it was away from the room is not a loss).
    room_change: bool = False


@dataclass(frozen=True)
class Expect:
    event: str
    answer: Answer = field(default_factory=Answer)
    name: str = ""
    line: int = 0


@dataclass(frozen=True)
class Think:
    low: float
    high: float
    line: int = 0


@dataclass(frozen=True)
class Loop:
    steps: tuple[Step, ...]
    count: Any = None  # an int or a template giving one
    while_: Template | str | None = None
    max: int = 1000
    line: int = 0


@dataclass(frozen=True)
class SetNames:
    values: dict[str, Any]
    line: int = 0


@dataclass(frozen=True)
class Disconnect:
    line: int = 0


@dataclass(frozen=True)
class Reconnect:
    within: float = 10.0
    line: int = 0


Step = Connect | Emit | Expect | Think | Loop | SetNames | Disconnect | Reconnect


@dataclass(frozen=True)
class UserKind:
    name: str
    steps: tuple[Step, ...]
    weight: float = 1.0


@dataclass(frozen=True)
class Phase:
    """Open model: `arrival_rate` users start per second (each runs its flow once), ramping to
    `ramp_to`. Closed model: `users` run at once (each repeats its flow), ramping to
    `ramp_to`."""

    duration: float
    arrival_rate: float | None = None
    users: int | None = None
    ramp_to: float | None = None
    name: str = ""

    @property
    def model(self) -> str:
        return "open" if self.arrival_rate is not None else "closed"

    def level(self, t: float) -> float:
        """The rate (open) or the user count (closed) `t` seconds into the phase."""
        start = self.arrival_rate if self.arrival_rate is not None else float(self.users or 0)
        if self.ramp_to is None or self.duration <= 0:
            return start
        return start + (self.ramp_to - start) * min(max(t / self.duration, 0.0), 1.0)

    def arrivals(self, t: float) -> float:
        """Open model: users due to have arrived `t` seconds into the phase (the integral)."""
        if self.arrival_rate is None:
            return 0.0
        t = min(max(t, 0.0), self.duration)
        return (self.arrival_rate + self.level(t)) / 2.0 * t


@dataclass(frozen=True)
class StopWhen:
    error_rate: float | None = None  # errors / (steps done + errors), 0..1
    p99_ms: float | None = None  # over every step's latency
    min_samples: int = 20


@dataclass(frozen=True)
class Delivery:
    """Events whose first argument carries the send time (`ts`, ms or ns since the epoch)
    and a per-sender sequence: their delivery latency and losses are measured."""

    event: str
    ts: str | None = "ts"
    seq: str | None = "seq"
    sender: str | None = "from"


@dataclass(frozen=True)
class Scenario:
    kinds: tuple[UserKind, ...]
    phases: tuple[Phase, ...]
    url: str = "http://127.0.0.1:8000"
    path: str = "/socket.io/"
    name: str = "scenario"
    seed: int = 0
    variables: dict[str, Any] = field(default_factory=dict)
    rows: tuple[dict[str, str], ...] = ()
    max_users: int | None = None
    stop: StopWhen = field(default_factory=StopWhen)
    delivery: tuple[Delivery, ...] = ()
    grace: float = 5.0  # seconds users get to finish after the last phase

    @property
    def duration(self) -> float:
        return sum(phase.duration for phase in self.phases)


def part_of(total: int, index: int, procs: int) -> int:
    """Load process `index`'s part of `total` whole users, the parts adding up to `total`."""
    return total * (index + 1) // procs - total * index // procs
