"""The HTML report: one self-contained file (inline SVG charts and CSS, no script, nothing
fetched), written beside the JSON."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

W, H, PAD = 760, 180, 40
COLORS = {"p50": "#1f77b4", "p95": "#ff7f0e", "p99": "#d62728", "count": "#9ecae1",
          "errors": "#e6550d"}


def _esc(value: Any) -> str:
    return html.escape(str(value))


def _chart(title: str, rows: list[dict[str, Any]], lines: list[str], bars: list[str],
           phases: list[dict[str, Any]]) -> str:
    """Bars (counts per second, right scale) under lines (latency ms, left scale)."""
    if not rows:
        return f"<h3>{_esc(title)}</h3><p>nothing measured</p>"
    n = max(row["t"] for row in rows) + 1
    step = (W - 2 * PAD) / max(n, 1)
    top_ms = max([row.get(k, 0) for row in rows for k in lines] + [1e-9])
    top_count = max([sum(row.get(k, 0) for k in bars) for row in rows] + [1])

    def x(t: float) -> float:
        return float(PAD + t * step)

    def y(value: float, top: float) -> float:
        return H - PAD + 0.0 - (H - 2 * PAD) * value / top

    out = [f'<svg viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img">']
    for phase in phases:
        x0, x1 = x(phase["from_s"]), x(min(phase["to_s"], n))
        out.append(f'<rect x="{x0:.1f}" y="{PAD / 2}" width="{max(x1 - x0, 0):.1f}" '
                   f'height="{H - 1.5 * PAD}" fill="#f3f3f3" stroke="#ddd"/>'
                   f'<text x="{x0 + 3:.1f}" y="{PAD / 2 + 10}" font-size="10">'
                   f'{_esc(phase["name"])} ({phase["model"]})</text>')
    for row in rows:
        base = 0.0
        for key in bars:
            value = row.get(key, 0)
            if value:
                y0, y1 = y(base + value, top_count), y(base, top_count)
                out.append(f'<rect x="{x(row["t"]) + 1:.1f}" y="{y0:.1f}" '
                           f'width="{max(step - 2, 1):.1f}" height="{y1 - y0:.1f}" '
                           f'fill="{COLORS[key]}"><title>{row["t"]}s {key} {value}</title></rect>')
            base += value
    for key in lines if top_ms > 1e-9 else ():
        # Only the seconds that had samples: a second without any is no latency of 0.
        points = " ".join(f"{x(r['t'] + 0.5):.1f},{y(r.get(key, 0), top_ms):.1f}"
                          for r in rows if r.get("timed", r.get("count")))
        out.append(f'<polyline points="{points}" fill="none" stroke="{COLORS[key]}" '
                   f'stroke-width="1.5"/>')
    out.append(f'<line x1="{PAD}" y1="{H - PAD}" x2="{W - PAD}" y2="{H - PAD}" stroke="#888"/>'
               f'<text x="{PAD}" y="{H - PAD + 14}" font-size="10">0 s</text>'
               f'<text x="{W - PAD - 30}" y="{H - PAD + 14}" font-size="10">{n} s</text>'
               f'<text x="2" y="{PAD}" font-size="10">{top_ms:.1f} ms</text>'
               f'<text x="{W - PAD + 2}" y="{PAD}" font-size="10">{top_count}/s</text>')
    legend = "  ".join(f'<tspan fill="{COLORS[k]}">&#9632; {k}</tspan>' for k in bars + lines)
    out.append(f'<text x="{PAD}" y="{H - 6}" font-size="11">{legend}</text></svg>')
    return f"<h3>{_esc(title)}</h3>" + "".join(out)


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{_esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in row) + "</tr>"
                   for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def render(report: dict[str, Any]) -> str:
    phases = report["phases"]
    overall = [{**row, "count": row["steps"]} for row in report["timeline"]]
    parts = [
        f"<h1>roomcast load: {_esc(report['scenario'])}</h1>",
        f"<p>{_esc(report['url'])} &middot; {report['duration_s']:g} s &middot; "
        f"{_esc(report['model'])} model &middot; {report['procs']} load process(es) &middot; "
        f"finished {_esc(report['finished_at'])}</p>",
        "".join(f"<p class=note>{_esc(note)}</p>" for note in report["model_note"]),
    ]
    if report["failures"]:
        parts.append("".join(f"<p class=bad>{_esc(f)}</p>" for f in report["failures"]))
    for gate in report.get("slo", []):
        verdict = "ok" if gate["ok"] else "MISSED"
        parts.append(f"<p class={'ok' if gate['ok'] else 'bad'}>slo {_esc(gate['expr'])}: "
                     f"{verdict} ({_esc(gate['measured'] or gate.get('unmeasured'))})</p>")
    parts.append(_chart("All steps: steps and errors per second, latency p50/p99", overall,
                        ["p50", "p99"], ["count", "errors"], phases))
    parts.append("<h2>Steps</h2>" + _table(
        ["step", "count", "rate/s", "errors", "timeouts", "p50 ms", "p95 ms", "p99 ms",
         "max ms"],
        [[name, s["count"], s["rate_per_s"],
          ", ".join(f"{k}={v}" for k, v in s["errors"].items()) or 0, s["timeouts"],
          s["latency_ms"]["p50"], s["latency_ms"]["p95"], s["latency_ms"]["p99"],
          s["latency_ms"]["max"]] for name, s in report["steps"].items()]))
    parts.append("<h2>Phases</h2>" + _table(
        ["phase", "model", "from s", "to s", "users", "steps", "errors", "p50 ms", "p99 ms"],
        [[p["name"], p["model"], p["from_s"], p["to_s"], p["users_started"], p["steps_done"],
          p["errors"], p["latency_ms"]["p50"], p["latency_ms"]["p99"]] for p in phases]))
    if report["events"]:
        parts.append("<h2>Events received</h2>" + _table(
            ["event", "received", "rate/s", "delivery p50 ms", "delivery p99 ms", "lost",
             "out of order"],
            [[name, e["received"], e["rate_per_s"],
              e.get("delivery_latency_ms", {}).get("p50", ""),
              e.get("delivery_latency_ms", {}).get("p99", ""), e.get("lost", ""),
              e.get("out_of_order", "")] for name, e in report["events"].items()]))
    conn = report["connect"]
    parts.append("<h2>Connections</h2>" + _table(
        ["attempted", "connected", "failed", "p50 ms", "p99 ms", "disconnects"],
        [[conn["attempts"], conn["connected"],
          ", ".join(f"{k}={v}" for k, v in conn["failed"].items()) or 0,
          conn["latency_ms"]["p50"], conn["latency_ms"]["p99"],
          ", ".join(f"{k}={v}" for k, v in conn["disconnects"].items()) or 0]]))
    parts.append("<h2>Each step over time</h2>")
    for name, rows in report["series"].items():
        parts.append(_chart(name, rows, ["p50", "p95", "p99"], ["count", "errors"], phases))
    for name, rows in report.get("event_series", {}).items():
        parts.append(_chart(f"event {name}: received per second, delivery latency", rows,
                            ["p50", "p99"], ["count"], phases))
    if report.get("agents"):
        parts.append("<h2>Agents</h2>" + _table(
            ["agent", "status", "users", "steps", "errors", "last report s"],
            [[a["agent"], a["status"], a["users_started"], a["steps_done"], a["errors"],
              a["last_report_s"]] for a in report["agents"]]))
    style = ("body{font-family:sans-serif;max-width:800px;margin:1em auto;color:#222}"
             "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;"
             "padding:2px 6px;text-align:right}.bad{color:#b00}.ok{color:#070}"
             ".note{color:#555;font-size:13px}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>roomcast load "
            f"{_esc(report['scenario'])}</title><style>{style}</style></head><body>"
            + "\n".join(parts) + "</body></html>\n")


def write_html(report: dict[str, Any], path: Path) -> None:
    path.write_text(render(report))
