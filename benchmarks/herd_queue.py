"""A queueing model of the reconnect herd: what a server that takes `--rate` clients a second
gives the clients' time from their attempt to being back, served first come first served or
all at once (processor sharing), and what rate a p99 under `--target` seconds needs.

    python benchmarks/herd_queue.py --clients 2500 --rate 880

The clients' attempts are spread evenly over `--spread` seconds from `--first` (the official
socket.io-client's first reconnection attempt comes 0.5 to 1.5 s after the drop: `--first 0.5
--spread 1`). Every client costs the server the same, 1 / rate seconds. First come first
served: each client waits for those before it. Processor sharing: the server divides itself
evenly among every client in progress, as an event loop interleaving every handshake does
when it accepts each connection as it comes. Compare the p50 and p99 with a run's
(`benchmarks/herd_survivor.py` prints `attempt_p50_ms`, `attempt_p99_ms` and `spread_s`; the
rate a run achieved is about the clients back over `spread_s`).
"""

from __future__ import annotations

import argparse


def arrivals(clients: int, first: float, spread: float) -> list[float]:
    return [first + spread * (i + 0.5) / clients for i in range(clients)]


def first_come(times: list[float], rate: float) -> list[float]:
    waits, free = [], 0.0
    for at in times:
        free = max(free, at) + 1.0 / rate
        waits.append(free - at)
    return waits


def shared(times: list[float], rate: float) -> list[float]:
    """Processor sharing, exactly: between events, each of the n clients in progress gets
    rate / n of a client's work per second; with equal costs they finish in arrival order."""
    done: list[float] = []
    now, served = 0.0, 0.0  # served: the work each client present all along has had
    start: list[float] = []  # `served` when each client in progress arrived
    head, i = 0, 0
    while i < len(times) or head < len(start):
        active = len(start) - head
        if active == 0:
            now = times[i]
            start.append(served)
            i += 1
            continue
        finish = now + (1.0 - (served - start[head])) * active / rate
        if i < len(times) and times[i] < finish:
            served += (times[i] - now) * rate / active
            now = times[i]
            start.append(served)
            i += 1
        else:
            served = start[head] + 1.0
            now = finish
            done.append(now - times[head])
            head += 1
    return done


def summary(waits: list[float]) -> tuple[float, float, float]:
    ordered = sorted(waits)
    return (ordered[len(ordered) // 2], ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
            ordered[-1])


def needed(clients: int, first: float, spread: float, target: float) -> float:
    """The lowest rate (clients a second) whose first-come-first-served p99 is under target."""
    low, high = 1.0, 1e6
    times = arrivals(clients, first, spread)
    while high - low > 1.0:
        mid = (low + high) / 2
        low, high = (low, mid) if summary(first_come(times, mid))[1] < target else (mid, high)
    return high


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=2500)
    parser.add_argument("--rate", type=float, action="append",
                        help="clients the server takes a second (repeatable; default 880)")
    parser.add_argument("--first", type=float, default=0.5)
    parser.add_argument("--spread", type=float, default=1.0)
    parser.add_argument("--target", type=float, default=1.0)
    args = parser.parse_args()
    times = arrivals(args.clients, args.first, args.spread)
    print(f"{args.clients} clients attempting over {args.spread} s from {args.first} s")
    print("rate/s | first come first served p50, p99, max (s) | processor sharing p50, p99, max")
    for rate in args.rate or [880.0]:
        fifo = ", ".join(f"{x:.2f}" for x in summary(first_come(times, rate)))
        ps = ", ".join(f"{x:.2f}" for x in summary(shared(times, rate)))
        print(f"{rate:6.0f} | {fifo} | {ps}")
    rate = needed(args.clients, args.first, args.spread, args.target)
    print(f"a p99 under {args.target} s from the attempt needs {rate:.0f} clients/s "
          f"({1000 / rate:.2f} ms of server per client)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
