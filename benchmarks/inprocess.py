"""The options and the first line of an in-process CPU measure (handshake_cost.py,
socket_log_lines.py): `--rounds` per measure, `--repeat` measures of which the best is kept,
and when it ran on how loaded a machine."""

from __future__ import annotations

import argparse
import os
import time


def measure_options(doc: str | None, what: str) -> tuple[int, int]:
    """Rounds and repeats from the command line; prints the time and the load average."""
    options = argparse.ArgumentParser(description=doc,
                                      formatter_class=argparse.RawDescriptionHelpFormatter)
    options.add_argument("--rounds", type=int, default=20000, help=f"{what} per measure")
    options.add_argument("--repeat", type=int, default=5, help="measures; the best is kept")
    args = options.parse_args()
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC, load average "
          f"{os.getloadavg()[0]:.2f}")
    return args.rounds, args.repeat
