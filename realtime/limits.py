"""Per-connection event rate limit: a token bucket, and a count of refusals in a row."""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass
class EventBucket:
    rate: float
    burst: int
    tokens: float = 0.0
    refused: int = 0  # consecutive refusals; reset by any accepted event
    at: float = 0.0

    def __post_init__(self) -> None:
        self.tokens = float(self.burst)
        self.at = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(float(self.burst), self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            self.refused = 0
            return True
        self.refused += 1
        return False

    def retry_after(self) -> float:
        return max(0.0, (1.0 - self.tokens) / self.rate)
