"""A scenario run's report: the JSON, the table printed at the end, and the live view."""

from __future__ import annotations

import platform
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any, TextIO

from load.flow.meter import Meter
from load.flow.model import Scenario
from load.histogram import Histogram

MODELS = {
    "open": "open model: users arrive at a rate whatever the server's speed (each runs its "
            "flow once), so a slow server faces a growing crowd",
    "closed": "closed model: a fixed number of users, each starting over when done, so a "
              "slow server slows the offered load",
}


def _phase_windows(scenario: Scenario) -> list[tuple[str, str, int, int]]:
    """Each phase's whole seconds: figures are kept per second, so a phase that starts or
    ends inside a second shares that second with its neighbour (whole-second durations
    avoid it)."""
    out, at = [], 0.0
    for phase in scenario.phases:
        lo, at = at, at + phase.duration
        out.append((phase.name, phase.model, round(lo), max(round(at), round(lo) + 1)))
    return out


def _steps(meter: Meter, lo: int, hi: int | None, seconds: float) -> dict[str, Any]:
    errors = meter.errors(lo, hi)
    out = {}
    # Error keys are `<step>:<kind>`; a kind never holds a colon, a step name may.
    for name in sorted(set(meter.names("done:")) | {k.rpartition(":")[0] for k in errors}):
        done = meter.summed(f"done:{name}", lo, hi)
        failed = {k.rpartition(":")[2]: n for k, n in errors.items()
                  if k.rpartition(":")[0] == name}
        out[name] = {
            "count": done,
            "errors": dict(sorted(failed.items())),
            "timeouts": failed.get("timeout", 0),
            "rate_per_s": round(done / seconds, 2) if seconds > 0 else 0.0,
            "latency_ms": meter.merged(f"step:{name}", lo, hi).summary_ms(),
        }
    return out


def _events(meter: Meter, seconds: float, tracked: set[str]) -> dict[str, Any]:
    """Every event received; those the scenario's `delivery` names (`tracked`) also with
    their delivery latency (when they carry a send time) and losses."""
    out = {}
    for name in sorted(set(meter.names("received:")) | set(meter.names("event:"))):
        received = meter.summed(f"received:{name}")
        hist = meter.merged(f"event:{name}")
        entry: dict[str, Any] = {
            "received": received,
            "rate_per_s": round(received / seconds, 2) if seconds > 0 else 0.0,
        }
        if name in tracked or hist.count:
            entry.update(
                delivery_latency_ms=hist.summary_ms(),
                lost=meter.totals[f"lost:{name}"],
                out_of_order=meter.totals[f"out_of_order:{name}"],
                duplicates=meter.totals[f"duplicates:{name}"],
            )
        out[name] = entry
    return out


def _by_prefix(meter: Meter, prefix: str) -> dict[str, int]:
    return {name: meter.summed(prefix + name) for name in meter.names(prefix)}


def _timeline(meter: Meter) -> list[dict[str, Any]]:
    rows = []
    for second in range(meter.last_second() + 1):
        done, errors, hist = meter.step_totals(second, second + 1)
        summary = hist.summary_ms()
        rows.append({"t": second, "steps": done, "errors": errors,
                     "p50": summary["p50"], "p99": summary["p99"],
                     "users": meter.summed("users:started", second, second + 1)})
    return rows


def _series(meter: Meter) -> dict[str, list[dict[str, Any]]]:
    """Per step, per second: count, errors, p50, p95, p99 (for the HTML charts)."""
    out: dict[str, list[dict[str, Any]]] = {}
    errors_at: dict[str, Counter[int]] = {}
    for key, by in meter.counts.items():
        if key.startswith("error:"):
            errors_at.setdefault(key[len("error:"):].rpartition(":")[0], Counter()).update(by)
    for name in sorted(set(meter.names("done:")) | set(errors_at)):
        rows = []
        for second in range(meter.last_second() + 1):
            hist = meter.series.get(f"step:{name}", {}).get(second, Histogram())
            summary = hist.summary_ms()
            rows.append({"t": second, "count": meter.summed(f"done:{name}", second, second + 1),
                         "timed": hist.count, "errors": errors_at.get(name, Counter())[second],
                         "p50": summary["p50"], "p95": summary["p95"], "p99": summary["p99"]})
        out[name] = rows
    return out


def _event_series(meter: Meter) -> dict[str, list[dict[str, Any]]]:
    """Per event carrying a send time, per second: received, delivery p50 and p99."""
    out = {}
    for name in meter.names("event:"):
        rows = []
        for second in range(meter.last_second() + 1):
            hist = meter.series[f"event:{name}"].get(second, Histogram())
            summary = hist.summary_ms()
            rows.append({"t": second, "count": meter.summed(f"received:{name}", second,
                                                            second + 1),
                         "timed": hist.count, "p50": summary["p50"], "p99": summary["p99"]})
        out[name] = rows
    return out


def build(scenario: Scenario, meter: Meter, *, source: str, elapsed: float,
          procs: int, agents: list[dict[str, Any]] | None = None,
          stopped: str | None = None) -> dict[str, Any]:
    duration = scenario.duration
    # Rates over the whole run divide by the time it was active: users may go on after the
    # last phase (for `grace` seconds).
    span = max(duration, meter.last_second() + 1)
    models = sorted({p.model for p in scenario.phases})
    done, errors, hist = meter.step_totals()
    connect_failed = _by_prefix(meter, "connect:failed:")
    phases = []
    for index, (name, model, lo, hi) in enumerate(_phase_windows(scenario)):
        p_done, p_errors, p_hist = meter.step_totals(lo, hi)
        phases.append({
            "name": name, "model": model, "from_s": lo, "to_s": hi,
            "users_started": meter.totals[f"phase:{index}:users"],
            "steps_done": p_done, "errors": p_errors,
            "latency_ms": p_hist.summary_ms(),
            "steps": _steps(meter, lo, hi, hi - lo),
        })
    return {
        "kind": "scenario",
        "scenario": scenario.name,
        "source": source,
        "url": scenario.url,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "elapsed_s": round(elapsed, 3),
        "duration_s": duration,
        "procs": procs,
        "agents": agents or [],
        "host": {"python": platform.python_version(), "machine": platform.machine()},
        "model": " and ".join(models),
        "model_note": [MODELS[m] for m in models],
        "max_users": scenario.max_users,
        "stopped": stopped,
        "phases": phases,
        "users": {k: meter.summed(f"users:{k}") for k in
                  ("started", "iterations", "failed", "ended", "dropped")}
        | {"cut_short": meter.totals["users:cut_short"]},
        "active_s": span,
        "steps": _steps(meter, 0, None, span),
        "events": _events(meter, span, {d.event for d in scenario.delivery}),
        "connect": {
            "attempts": meter.summed("connect:attempts"),
            "connected": meter.merged("connect").count,
            "failed": connect_failed,
            "latency_ms": meter.merged("connect").summary_ms(),
            "disconnects": _by_prefix(meter, "disconnect:"),
        },
        "totals": {"steps_done": done, "errors": errors,
                   "error_rate": round(errors / (done + errors), 4) if done + errors else 0.0,
                   "latency_ms": hist.summary_ms()},
        "errors": dict(sorted(meter.errors().items())),
        "timeline": _timeline(meter),
        "series": _series(meter),
        "event_series": _event_series(meter),
        "histograms": {name: meter.merged(name).to_wire() for name in sorted(meter.series)},
        "failures": list(meter.failures),
    }


def diagnosis(report: dict[str, Any]) -> str | None:
    """A plain sentence when nothing could connect: the target is down, refuses, or is not a
    Socket.IO server."""
    conn = report["connect"]
    if not conn["attempts"] or conn["connected"]:
        return None
    failed = conn["failed"]
    kinds = ", ".join(f"{k}={v}" for k, v in sorted(failed.items()))
    if "refused" in failed:
        why = "nothing listens there (connection refused): is the server running?"
    elif "timeout" in failed:
        why = "it did not answer in time"
    elif any(k.startswith("http_") for k in failed):
        why = ("it answers HTTP but refuses the Socket.IO WebSocket handshake: is it a "
               "Socket.IO v4 server, and is target.path right?")
    elif "connect_error" in failed:
        why = "the Socket.IO server refused the connection (auth or namespace)"
    else:
        why = "it does not speak Socket.IO over WebSocket"
    return (f"target {report['url']}: 0 of {conn['attempts']} connections succeeded "
            f"({kinds}); {why}")


def table(report: dict[str, Any]) -> str:
    lines = [
        f"scenario {report['scenario']}  url {report['url']}  duration "
        f"{report['duration_s']:g}s  procs {report['procs']}  {report['model']} model",
        f"{'step':<24}{'count':>8}{'rate/s':>9}{'errors':>8}{'p50 ms':>9}{'p95 ms':>9}"
        f"{'p99 ms':>9}{'max ms':>9}",
    ]
    for name, step in report["steps"].items():
        lat = step["latency_ms"]
        # A step without a latency (an emit without ack, a disconnect) shows dashes.
        figures = "".join(f"{lat[k]:>9.2f}" if lat["count"] else f"{'-':>9}"
                          for k in ("p50", "p95", "p99", "max"))
        lines.append(f"{name[:23]:<24}{step['count']:>8}{step['rate_per_s']:>9.1f}"
                     f"{sum(step['errors'].values()):>8}{figures}")
    for name, event in report["events"].items():
        line = f"event {name}: received {event['received']} ({event['rate_per_s']:.1f}/s)"
        if "delivery_latency_ms" in event:
            lat = event["delivery_latency_ms"]
            if lat["count"]:
                line += f"  delivery p50 {lat['p50']:.2f} ms p99 {lat['p99']:.2f} ms"
            line += f"  lost {event['lost']}  out of order {event['out_of_order']}"
        lines.append(line)
    conn, users = report["connect"], report["users"]
    lines.append(f"connections attempted {conn['attempts']}  connected {conn['connected']}  "
                 f"connect p99 {conn['latency_ms']['p99']:.2f} ms  failed "
                 + (", ".join(f"{k}={v}" for k, v in conn["failed"].items()) or "0")
                 + "  disconnects "
                 + (", ".join(f"{k}={v}" for k, v in conn["disconnects"].items()) or "0"))
    lines.append(f"users started {users['started']}  failed {users['failed']}  dropped "
                 f"(max_users) {users['dropped']}  cut short {users['cut_short']}")
    for phase in report["phases"]:
        lat = phase["latency_ms"]
        lines.append(f"phase {phase['name']} ({phase['model']}, {phase['from_s']}-"
                     f"{phase['to_s']}s): users {phase['users_started']}  steps "
                     f"{phase['steps_done']}  errors {phase['errors']}  p50 {lat['p50']:.2f} "
                     f"p99 {lat['p99']:.2f} ms")
    errors = report["errors"]
    lines.append("errors " + (", ".join(f"{k}={v}" for k, v in errors.items()) or "none"))
    why = diagnosis(report)
    if why:
        lines.append(why)
    lines.extend(f"run FAILED: {f}" if not f.startswith("stopped early") else f
                 for f in report["failures"])
    for gate in report.get("slo", []):
        measured = (f"measured {gate['measured']}" if gate["measured"] is not None
                    else f"not measured: {gate['unmeasured']}")
        lines.append(f"slo {gate['expr']}: {'ok' if gate['ok'] else 'MISSED'} ({measured})")
    return "\n".join(lines)


class LiveView:
    """While running: one block on the terminal, redrawn each second (rate, p50/p99 and errors
    of the last second, per phase)."""

    def __init__(self, stream: TextIO, scenario: Scenario, *, redraw: bool) -> None:
        self.stream = stream
        self.scenario = scenario
        self.redraw = redraw
        self.height = 0

    def update(self, meter: Meter) -> None:
        second = max(meter.second(time.time_ns()) - 1, 0)
        phase = "after the phases"
        for name, model, lo, hi in _phase_windows(self.scenario):
            if lo <= second < hi:
                phase = f"{name} ({model})"
                break
        done, errors, hist = meter.step_totals(second, second + 1)
        all_done, all_errors, _ = meter.step_totals()
        active = meter.summed("users:started") - meter.summed("users:ended")
        lines = [f"[{second + 1:>5}s] {phase}  users {active}  steps/s {done}  p50 "
                 f"{hist.percentile(50) / 1000:.1f} ms  p99 {hist.percentile(99) / 1000:.1f} "
                 f"ms  errors/s {errors}  (total {all_done} steps, {all_errors} errors)"]
        if self.redraw:
            for name in meter.names("done:")[:8]:
                step = meter.merged(f"step:{name}", second, second + 1)
                rate = meter.summed("done:" + name, second, second + 1)
                lines.append(f"    {name[:30]:<30} {rate:>6}/s  p99 "
                             f"{step.percentile(99) / 1000:8.1f} ms")
            if self.height:
                self.stream.write(f"\x1b[{self.height}F\x1b[J")
            self.height = len(lines)
        self.stream.write("\n".join(lines) + "\n")
        self.stream.flush()
