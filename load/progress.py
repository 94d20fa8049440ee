"""The live progress line on stderr: connections, deliveries per second, errors."""

from __future__ import annotations

import time
from typing import TextIO


class ProgressLine:
    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._began = time.monotonic()
        self._last_time = self._began
        self._last_delivered = 0
        self._width = 0

    def update(self, snapshot: dict[str, int]) -> None:
        now = time.monotonic()
        delivered = snapshot.get("delivered", 0)
        rate = (delivered - self._last_delivered) / max(now - self._last_time, 1e-6)
        self._last_time, self._last_delivered = now, delivered
        text = (
            f"[{now - self._began:6.1f}s] connected {snapshot.get('connected', 0):>6}  "
            f"published {snapshot.get('published', 0):>7}  delivered {delivered:>9} "
            f"({rate:,.0f}/s)  errors {snapshot.get('errors', 0)}"
        )
        self._width = max(self._width, len(text))
        self._stream.write("\r" + text.ljust(self._width))
        self._stream.flush()

    def finish(self) -> None:
        if self._width:
            self._stream.write("\n")
            self._stream.flush()
