"""`roomcast load compare BEFORE.json AFTER.json`: what changed between two scenario runs,
step by step; exit 1 on a regression beyond the allowed margin (for CI)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _rate(step: dict[str, Any]) -> float:
    errors = sum(step["errors"].values())
    total = step["count"] + errors
    return errors / total if total else 0.0


def regressions(before: dict[str, Any], after: dict[str, Any], max_pct: float,
                min_ms: float) -> tuple[list[str], list[str]]:
    """(the table's lines, the regressions found)."""
    lines = [f"{'step':<24}{'':>8}{'before':>12}{'after':>12}{'change':>10}"]
    found: list[str] = []
    names = sorted(set(before["steps"]) | set(after["steps"]))
    for name in names:
        a, b = before["steps"].get(name), after["steps"].get(name)
        if a is None or b is None:
            lines.append(f"{name[:23]:<24}only in {'after' if a is None else 'before'}")
            if b is None:
                found.append(f"{name}: missing from the later run")
            continue
        timed = a["latency_ms"]["count"] or b["latency_ms"]["count"]
        for key in ("p50", "p99") if timed else ():
            old, new = a["latency_ms"][key], b["latency_ms"][key]
            change = (new - old) / old * 100 if old else 0.0
            lines.append(f"{name[:23]:<24}{key:>8}{old:>10.2f}ms{new:>10.2f}ms{change:>+9.1f}%")
            if new - old > min_ms and change > max_pct:
                found.append(f"{name} {key} {old:.2f} -> {new:.2f} ms ({change:+.1f}%)")
        old_rate, new_rate = a["rate_per_s"], b["rate_per_s"]
        change = (new_rate - old_rate) / old_rate * 100 if old_rate else 0.0
        lines.append(f"{'':<24}{'rate/s':>8}{old_rate:>12.1f}{new_rate:>12.1f}{change:>+9.1f}%")
        if change < -max_pct:
            found.append(f"{name} rate {old_rate:.1f} -> {new_rate:.1f}/s ({change:+.1f}%)")
        old_err, new_err = _rate(a), _rate(b)
        lines.append(f"{'':<24}{'errors':>8}{old_err:>11.2%}{new_err:>11.2%}"
                     f"{(new_err - old_err) * 100:>+8.2f}pt")
        if (new_err - old_err) * 100 > max_pct / 100:
            found.append(f"{name} error rate {old_err:.2%} -> {new_err:.2%}")
    for name in sorted(set(before["events"]) & set(after["events"])):
        old_lost = before["events"][name].get("lost", 0)
        new_lost = after["events"][name].get("lost", 0)
        if new_lost > old_lost:
            found.append(f"event {name} lost {old_lost} -> {new_lost}")
    return lines, found


def compare_files(before: Path, after: Path, max_pct: float, min_ms: float) -> int:
    try:
        reports = [json.loads(path.read_text()) for path in (before, after)]
    except (OSError, ValueError) as exc:
        print(f"roomcast load compare: {exc}")
        return 2
    for path, report in zip((before, after), reports, strict=True):
        if report.get("kind") != "scenario":
            print(f"roomcast load compare: {path} is not the JSON report of `roomcast load run`")
            return 2
    lines, found = regressions(reports[0], reports[1], max_pct, min_ms)
    print(f"before {before} ({reports[0]['finished_at']})  after {after} "
          f"({reports[1]['finished_at']})")
    print("\n".join(lines))
    if found:
        print("REGRESSIONS (beyond " + f"{max_pct:g}%):")
        print("\n".join(f"  {item}" for item in found))
        return 1
    print(f"no regression beyond {max_pct:g}%")
    return 0
