"""The server's own figures: Prometheus text from `/metrics`, before and after a run."""

from __future__ import annotations

from typing import Any

import httpx

# Histogram buckets say little in a summary and would swamp the report.
_SKIP_SUFFIXES = ("_bucket", "_created")


def scrape(url: str, timeout: float = 5.0) -> dict[str, float] | None:
    """Samples by `name{labels}`, or None when the server has no readable /metrics."""
    try:
        response = httpx.get(url.rstrip("/") + "/metrics", timeout=timeout)
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    return parse(response.text)


def parse(text: str) -> dict[str, float]:
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        if not name or name.split("{")[0].endswith(_SKIP_SUFFIXES):
            continue
        try:
            samples[name] = float(value)
        except ValueError:
            continue
    return samples


def summarize(before: dict[str, float] | None, after: dict[str, float] | None) -> dict[str, Any]:
    """After-run values and their change during the run."""
    if after is None:
        return {"available": False}
    before = before or {}
    return {
        "available": True,
        "after": after,
        # A series first seen after the run (a label set the run created) started from 0.
        "delta": {k: round(v - before.get(k, 0.0), 6) for k, v in after.items()
                  if v != before.get(k, 0.0)},
    }
