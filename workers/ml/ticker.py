"""Progress reports from inside a long computation, at a bounded rate.

A report is where a running job notices a cancellation (the callback raises), so a fit calls
its ticker often; the ticker passes a report on only every `every` seconds of the fit's own
time (time spent inside a report does not count).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

Progress = Callable[[float], None]


@dataclass
class _Clock:
    last: float = field(default_factory=time.perf_counter)


@dataclass
class Ticker:
    progress: Progress | None
    every: float
    offset: float = 0.0
    span: float = 1.0
    fraction: float = 0.0
    _clock: _Clock = field(default_factory=_Clock)

    def __call__(self, fraction: float) -> None:
        """Record that `fraction` of this ticker's share is done; report if due."""
        self.fraction = self.offset + self.span * min(max(fraction, 0.0), 1.0)
        self.within()

    def report(self, fraction: float) -> None:
        """Record `fraction` of this ticker's share and report it, due or not (a natural
        break, such as a tree level, cheap enough to report every time)."""
        self.fraction = self.offset + self.span * min(max(fraction, 0.0), 1.0)
        if self.progress is not None:
            self.progress(self.fraction)
            self._clock.last = time.perf_counter()

    def within(self) -> None:
        """A point inside a step where a report may be due (the fraction has not moved)."""
        if self.progress is not None and time.perf_counter() - self._clock.last >= self.every:
            self.progress(self.fraction)
            self._clock.last = time.perf_counter()

    def part(self, start: float, span: float) -> Ticker:
        """A ticker for the share [start, start + span) of this one, on the same clock."""
        return Ticker(self.progress, self.every, self.offset + self.span * start,
                      self.span * span, self.offset + self.span * start, self._clock)

    def done(self) -> None:
        """Report the end of this share, due or not."""
        self.report(1.0)


def silent() -> Ticker:
    return Ticker(None, 0.0)
