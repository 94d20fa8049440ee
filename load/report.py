"""The end of a run: the JSON report, the table on stdout, and the PNG."""

from __future__ import annotations

import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from load.histogram import Histogram
from load.scenarios.base import Options
from load.stats import Stats

# Scenarios whose events carry per-room offsets on Roomcast: losses are also counted by offset.
BY_OFFSET = ("fanout", "rooms", "recovery", "jobs")
METRIC_LINES = 8  # server metric changes shown in the table; the JSON has them all


def build(
    opts: Options, *, target: str, stats: Stats, clock: str, elapsed: float,
    server: dict[str, Any] | None = None,
) -> dict[str, Any]:
    counters = stats.counters
    timeline = _timeline(stats.timeline, "deliveries")
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
        "reconnect": opts.reconnect,
        "by_offset": target == "roomcast" and opts.scenario in BY_OFFSET,
        "clock": clock,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "elapsed_s": round(elapsed, 3),
        "host": {"python": platform.python_version(), "machine": platform.machine()},
        "connect": _connect(stats, opts),
        "delivery": {
            "published": counters["published"],
            "listeners": counters["listeners"],
            "expected": counters["expected"],
            "delivered": counters["delivered"],
            # Never clamped: a negative figure would show a counting bug, not hide a loss.
            "lost": counters["expected"] - counters["delivered"],
            "extra": counters["extra"],
            "duplicates": counters["duplicates"],
            "out_of_order": counters["out_of_order"],
            # deliveries that came by replay after a reconnect, and offsets skipped
            "replayed": counters["replayed"],
            "offset_gaps": counters["gaps"],
            "reconnects": counters["reconnects"],
            "reconnect_attempts": counters["reconnect_attempts"],
            "per_second": round(counters["delivered"] / opts.duration, 1)
            if opts.duration else 0.0,
            "peak_per_second": max((row["deliveries"] for row in timeline), default=0),
            "latency_ms": stats.delivery.summary_ms(),
        },
        "everyone": _everyone(stats) if opts.scenario == "presence" else None,
        "herd": _herd(stats) if opts.scenario == "herd" else None,
        "errors": dict(sorted(stats.errors.items())),
        "failures": list(stats.failures),
        "counters": {k: v for k, v in sorted(counters.items())},
        "timeline": timeline,
        "server_metrics": server,
    }


def _timeline(seconds: dict[int, Histogram], count_key: str) -> list[dict[str, Any]]:
    return [{"t": second, count_key: hist.count, **_no_count(hist.summary_ms())}
            for second, hist in sorted(seconds.items())]


def _connect(stats: Stats, opts: Options) -> dict[str, Any]:
    counters = stats.counters
    timeline = _timeline(stats.connect_timeline, "connects")
    by_second = {row["t"]: row for row in timeline}
    for second, failed in stats.connect_failures.items():
        by_second.setdefault(second, {"t": second, "connects": 0})["failures"] = failed
    by_url: dict[str, dict[str, int]] = {}
    for key, n in counters.items():
        kind, at, url = key.partition("@")
        if at and kind in ("connected", "reconnected"):
            by_url.setdefault(url, {"connected": 0, "reconnected": 0})[kind] = n
    return {
        "attempted": counters["connect_attempts"],
        "connected": counters["connected"],
        "failed": counters["connect_attempts"] - counters["connected"],
        "not_attempted": counters["not_attempted"],
        "by_url": by_url,
        "latency_ms": stats.connect.summary_ms(),
        "timeline": [{"failures": 0, **by_second[t]} for t in sorted(by_second)],
    }


def _everyone(stats: Stats) -> dict[str, Any]:
    """presence: per change, from the change to the last member owed it seeing it."""
    return {
        "changes": stats.counters["changes"],
        "not_seen_by_all": stats.counters["changes_not_seen_by_all"],
        "latency_ms": stats.named.get("everyone", Histogram()).summary_ms(),
    }


def _herd(stats: Stats) -> dict[str, Any]:
    """herd: who was dropped and came back, how long it took, what was missed."""
    counters = stats.counters
    return {
        "dropped": counters["herd_dropped"],
        "back": counters["herd_back"],
        "all_back_s": round(counters["herd_all_back_ms"] / 1000.0, 3)
        if counters["herd_back"] else None,
        "spread_s": round(counters["herd_spread_ms"] / 1000.0, 3)
        if counters["herd_back"] else None,
        "missed": counters["expected"] - counters["delivered"],
        "history_reset": counters["history_reset"],
        "back_ms": stats.named.get("herd_back", Histogram()).summary_ms(),
        "attempt_ms": stats.named.get("herd_attempt", Histogram()).summary_ms(),
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
    rows = [("connect", conn["latency_ms"]), ("delivery", dlv["latency_ms"])]
    if report.get("everyone"):
        rows.append(("everyone sees", report["everyone"]["latency_ms"]))
    if report.get("herd"):
        rows += [("herd: back", report["herd"]["back_ms"]),
                 ("herd: attempt", report["herd"]["attempt_ms"])]
    for name, summary in rows:
        lines.append(f"{name:<16}{summary['count']:>9}" + "".join(
            f"{summary[k]:>10.2f}" for k in ("mean", "p50", "p95", "p99", "max")))
    lines.append(
        f"connections attempted {conn['attempted']}  connected {conn['connected']}  "
        f"failed {conn['failed']}  not attempted {conn['not_attempted']}"
    )
    lines.append(_delivery_line(report))
    if report.get("by_offset"):
        line = f"by offset: replayed {dlv['replayed']}  offset gaps {dlv['offset_gaps']}"
        if report["scenario"] == "jobs":
            counters = report["counters"]
            line += (f"  job events {counters.get('jobs:events', 0)}  seen by no watcher "
                     f"{counters.get('jobs:events_nobody_saw', 0)}")
        lines.append(line)
    if report.get("reconnect"):
        lines.append(f"reconnects {dlv['reconnects']} ({dlv['reconnect_attempts']} attempts)")
    if report.get("herd"):
        herd = report["herd"]
        lines.append(f"herd: dropped {herd['dropped']}  back {herd['back']}  all back in "
                     f"{herd['all_back_s']} s (the first back to the last: "
                     f"{herd['spread_s']} s)  missed {herd['missed']}  "
                     f"history reset {herd['history_reset']}")
    if report.get("everyone"):
        everyone = report["everyone"]
        lines.append(f"changes {everyone['changes']}  not seen by everyone "
                     f"{everyone['not_seen_by_all']}")
    lines.append(f"deliveries/s {dlv['per_second']:.0f} (peak second {dlv['peak_per_second']})")
    errors = report["errors"]
    lines.append("errors " + (", ".join(f"{k}={v}" for k, v in errors.items()) or "none"))
    lines.extend(_server_lines(report.get("server_metrics")))
    lines.extend(f"run FAILED: {why}" for why in report.get("failures", []))
    for slo in report.get("slo", []):
        verdict = "ok" if slo["ok"] else "MISSED"
        measured = (f"measured {slo['measured']}" if slo["measured"] is not None
                    else f"not measured: {slo['unmeasured']}")
        lines.append(f"slo {slo['expr']}: {verdict} ({measured})")
    return "\n".join(lines)


def _delivery_line(report: dict[str, Any]) -> str:
    dlv = report["delivery"]
    line = (f"published {dlv['published']}  expected {dlv['expected']}  "
            f"delivered {dlv['delivered']}  lost {dlv['lost']}  "
            f"out of order {dlv['out_of_order']}")
    if dlv["extra"] or report["scenario"] in ("presence", "jobs"):
        line += f"  extra {dlv['extra']}"
    if dlv["duplicates"]:
        line += f"  duplicates {dlv['duplicates']}"
    return line


def _server_lines(server: dict[str, Any] | None) -> list[str]:
    """A few of the server's own figures that changed during the run (--metrics)."""
    if server is None:
        return []
    if not server.get("available"):
        return ["server /metrics: not readable"]
    delta: dict[str, float] = server["delta"]

    def rank(name: str) -> tuple[int, str]:
        # The realtime figures first, then the REST side's, then anything else.
        ours = name.startswith("roomcast_")
        return (0 if ours and "_http_" not in name else 1 if ours else 2, name)

    shown = sorted(delta, key=rank)[:METRIC_LINES]
    lines = [f"server /metrics, changed during the run ({len(shown)} of {len(delta)} shown; "
             "all in the JSON report):"]
    width = max((len(name) for name in shown), default=0)
    lines.extend(f"  {name:<{width}}  {delta[name]:+g}  (now {server['after'][name]:g})"
                 for name in shown)
    return lines


def chart(report: dict[str, Any]) -> tuple[str, str, list[dict[str, Any]], str]:
    """What the PNG shows: the latency chart's label, the count chart's label, the rows (one
    a second) and each row's count key. The connect scenario charts connect latency and
    connections per second; the others, delivery latency and deliveries per second."""
    if report["scenario"] == "connect":
        return ("connect latency (ms)", "connections per second",
                report["connect"]["timeline"], "connects")
    return "delivery latency (ms)", "deliveries per second", report["timeline"], "deliveries"


def write_png(report: dict[str, Any], path: Path) -> None:
    """Latency percentiles over time, and how many completed each second."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    latency_label, count_label, rows, count_key = chart(report)
    seconds = [row["t"] for row in rows]
    figure, (latency, throughput) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    for key in ("p50", "p95", "p99", "max"):
        latency.plot(seconds, [row.get(key, float("nan")) for row in rows], label=key, marker=".")
    latency.set_ylabel(latency_label)
    latency.legend(loc="upper left")
    latency.grid(alpha=0.3)
    throughput.bar(seconds, [row[count_key] for row in rows], width=0.8, label="completed")
    failures = [row.get("failures", 0) for row in rows]
    if any(failures):
        throughput.bar(seconds, failures, width=0.8, bottom=[row[count_key] for row in rows],
                       color="tab:red", label="failed")
        throughput.legend(loc="upper left")
    throughput.set_ylabel(count_label)
    throughput.set_xlabel("seconds since start")
    throughput.grid(alpha=0.3)
    if not rows:
        latency.text(0.5, 0.5, "nothing completed in this run", ha="center",
                     transform=latency.transAxes)
    figure.suptitle(f"roomcast load {report['scenario']}: {report['clients']} clients, "
                    f"rate {report['rate']}, {report['target']} @ {report['url']}")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
