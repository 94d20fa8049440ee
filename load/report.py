"""The end of a run: the JSON report, the table on stdout, and the PNG."""

from __future__ import annotations

import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from load.scenarios.base import Options
from load.stats import Stats


def build(
    opts: Options, *, target: str, stats: Stats, clock: str, elapsed: float,
    server: dict[str, Any] | None = None,
) -> dict[str, Any]:
    counters = stats.counters
    delivered = counters["delivered"]
    expected = counters["expected"]
    timeline = [
        {"t": second, "deliveries": hist.count, **_no_count(hist.summary_ms())}
        for second, hist in sorted(stats.timeline.items())
    ]
    return {
        "scenario": opts.scenario,
        "target": target,
        "url": opts.url,
        "more_urls": list(opts.more_urls),
        "clients": opts.clients,
        "procs": opts.procs,
        "duration_s": opts.duration,
        "rate": opts.rate,
        "room_size": opts.room_size if opts.scenario == "rooms" else None,
        "clock": clock,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "elapsed_s": round(elapsed, 3),
        "host": {"python": platform.python_version(), "machine": platform.machine()},
        "connect": {
            "attempted": counters["connect_attempts"],
            "connected": counters["connected"],
            "failed": counters["connect_attempts"] - counters["connected"],
            "latency_ms": stats.connect.summary_ms(),
        },
        "delivery": {
            "published": counters["published"],
            "listeners": counters["listeners"],
            "expected": expected,
            "delivered": delivered,
            "lost": max(0, expected - delivered),
            "out_of_order": counters["out_of_order"],
            # recovery: deliveries that came by replay after a reconnect, and offsets skipped
            "replayed": counters["replayed"],
            "offset_gaps": counters["gaps"],
            "reconnects": counters["reconnects"],
            "per_second": round(delivered / opts.duration, 1) if opts.duration else 0.0,
            "peak_per_second": max((row["deliveries"] for row in timeline), default=0),
            "latency_ms": stats.delivery.summary_ms(),
        },
        "errors": dict(sorted(stats.errors.items())),
        "counters": {k: v for k, v in sorted(counters.items())},
        "timeline": timeline,
        "server_metrics": server,
    }


def _no_count(summary: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in summary.items() if k != "count"}


def table(report: dict[str, Any]) -> str:
    """The human summary printed at the end of a run."""
    conn, dlv = report["connect"], report["delivery"]
    lines = [
        f"scenario {report['scenario']} ({report['target']})  url {report['url']}  "
        f"clients {report['clients']}  procs {report['procs']}  "
        f"duration {report['duration_s']}s  rate {report['rate']}",
        f"{'latency (ms)':<16}{'count':>9}{'mean':>10}{'p50':>10}{'p95':>10}{'p99':>10}"
        f"{'max':>10}",
    ]
    for name, summary in (("connect", conn["latency_ms"]), ("delivery", dlv["latency_ms"])):
        lines.append(f"{name:<16}{summary['count']:>9}" + "".join(
            f"{summary[k]:>10.2f}" for k in ("mean", "p50", "p95", "p99", "max")))
    lines.append(
        f"connected {conn['connected']}/{conn['attempted']}  published {dlv['published']}  "
        f"expected {dlv['expected']}  delivered {dlv['delivered']}  lost {dlv['lost']}  "
        f"out of order {dlv['out_of_order']}"
    )
    lines.append(f"deliveries/s {dlv['per_second']:.0f} (peak second {dlv['peak_per_second']})")
    errors = report["errors"]
    lines.append("errors " + (", ".join(f"{k}={v}" for k, v in errors.items()) or "none"))
    for slo in report.get("slo", []):
        verdict = "ok" if slo["ok"] else "MISSED"
        measured = (f"measured {slo['measured']}" if slo["measured"] is not None
                    else f"not measured: {slo['unmeasured']}")
        lines.append(f"slo {slo['expr']}: {verdict} ({measured})")
    return "\n".join(lines)


def write_png(report: dict[str, Any], path: Path) -> None:
    """Latency percentiles over time, and deliveries per second."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report["timeline"]
    seconds = [row["t"] for row in rows]
    figure, (latency, throughput) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    for key in ("p50", "p95", "p99", "max"):
        latency.plot(seconds, [row[key] for row in rows], label=key, marker=".")
    latency.set_ylabel("delivery latency (ms)")
    latency.legend(loc="upper left")
    latency.grid(alpha=0.3)
    throughput.bar(seconds, [row["deliveries"] for row in rows], width=0.8)
    throughput.set_ylabel("deliveries per second")
    throughput.set_xlabel("seconds since start")
    throughput.grid(alpha=0.3)
    if not rows:
        latency.text(0.5, 0.5, "no deliveries in this run", ha="center",
                     transform=latency.transAxes)
    figure.suptitle(f"roomcast load {report['scenario']}: {report['clients']} clients, "
                    f"rate {report['rate']}, {report['target']} @ {report['url']}")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
