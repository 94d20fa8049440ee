"""CPU of the log lines a WebSocket connection writes at LOG_LEVEL=INFO (the default) beside
Roomcast's own two (`socket connected`, `socket disconnected`): uvicorn's `[accepted]` and
websockets' `connection open` and `connection closed`, through Roomcast's JSON formatter to
/dev/null, written (as before roomcast/logs.py dropped them) and dropped (now).

    python benchmarks/socket_log_lines.py --rounds 20000

CPU is `time.process_time()` per connection's three lines, the best of --repeat.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from inprocess import measure_options

from roomcast.logs import _without_socket_lines, configure_logging

WHERE = ("127.0.0.1:50000", "/socket.io/?EIO=4&transport=websocket")


def three_lines(rounds: int) -> float:
    error = logging.getLogger("uvicorn.error")
    started = time.process_time()
    for _ in range(rounds):
        error.info('%s - "WebSocket %s" [accepted]', *WHERE)
        error.info("connection open")
        error.info("connection closed")
    return (time.process_time() - started) / rounds


def main() -> None:
    rounds, repeat = measure_options(__doc__, "connections")
    out = os.dup(2)
    os.dup2(os.open(os.devnull, os.O_WRONLY), 2)  # the lines go to /dev/null
    try:
        configure_logging("INFO", json=True)
        error = logging.getLogger("uvicorn.error")
        error.removeFilter(_without_socket_lines)
        written = min(three_lines(rounds) for _ in range(repeat))
        error.addFilter(_without_socket_lines)
        dropped = min(three_lines(rounds) for _ in range(repeat))
    finally:
        os.dup2(out, 2)
    print(f"written: {written * 1e6:6.1f} us of CPU per connection's three lines")
    print(f"dropped: {dropped * 1e6:6.1f} us of CPU per connection's three lines")


if __name__ == "__main__":
    main()
