"""The Vega-Lite spec of a chart: its aggregated values inline, so a browser draws it itself."""

from __future__ import annotations

from typing import Any

from core.store.visualizations import ChartSpec
from workers.charts.aggregate import Values

SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"


def title_of(spec: ChartSpec) -> str:
    if spec.title:
        return spec.title
    if spec.kind == "heatmap":
        return "correlation"
    if spec.kind == "histogram":
        return f"histogram of {spec.x}"
    measure = _measure(spec) if spec.kind in ("bar", "line") else spec.y
    along = f" by {spec.x or spec.group_by}" if (spec.x or spec.group_by) else ""
    return f"{spec.kind}: {measure}{along}"


def vega_lite(spec: ChartSpec, values: Values) -> dict[str, Any]:
    body: dict[str, Any] = {"$schema": SCHEMA, "title": title_of(spec),
                            "data": {"values": values}, "width": 480, "height": 320}
    body.update(ENCODINGS[spec.kind](spec))
    if spec.kind == "line" and values and isinstance(values[0]["x"], str):
        body["encoding"]["x"]["type"] = "temporal"
    if spec.group_by and spec.kind not in ("box", "heatmap"):
        body.setdefault("encoding", {})["color"] = {"field": "group", "type": "nominal",
                                                    "title": spec.group_by}
    return body


def _histogram(spec: ChartSpec) -> dict[str, Any]:
    return {"mark": "bar", "encoding": {
        "x": {"field": "bin_start", "bin": {"binned": True}, "type": "quantitative",
              "title": spec.x},
        "x2": {"field": "bin_end"},
        "y": {"field": "count", "type": "quantitative"}}}


def _bar(spec: ChartSpec) -> dict[str, Any]:
    encoding: dict[str, Any] = {
        "x": {"field": "x", "type": "nominal", "sort": None, "title": spec.x},
        "y": {"field": "value", "type": "quantitative", "title": _measure(spec)}}
    if spec.group_by:
        encoding["xOffset"] = {"field": "group"}
    return {"mark": "bar", "encoding": encoding}


def _line(spec: ChartSpec) -> dict[str, Any]:
    return {"mark": {"type": "line", "point": True}, "encoding": {
        "x": {"field": "x", "type": "quantitative", "title": spec.x},
        "y": {"field": "value", "type": "quantitative", "title": _measure(spec)}}}


def _scatter(spec: ChartSpec) -> dict[str, Any]:
    return {"mark": {"type": "point", "opacity": 0.6}, "encoding": {
        "x": {"field": "x", "type": "quantitative", "title": spec.x},
        "y": {"field": "y", "type": "quantitative", "title": spec.y}}}


def _box(spec: ChartSpec) -> dict[str, Any]:
    x = {"field": "x", "type": "nominal", "sort": None, "title": spec.x or spec.group_by}
    return {"encoding": {"x": x}, "layer": [
        {"mark": "rule", "encoding": {"y": {"field": "min", "type": "quantitative",
                                            "title": spec.y}, "y2": {"field": "max"}}},
        {"mark": {"type": "bar", "size": 24}, "encoding": {
            "y": {"field": "q1", "type": "quantitative"}, "y2": {"field": "q3"}}},
        {"mark": {"type": "tick", "color": "white", "size": 24}, "encoding": {
            "y": {"field": "median", "type": "quantitative"}}}]}


def _heatmap(spec: ChartSpec) -> dict[str, Any]:
    return {"mark": "rect", "encoding": {
        "x": {"field": "a", "type": "nominal", "sort": None, "title": None},
        "y": {"field": "b", "type": "nominal", "sort": None, "title": None},
        "color": {"field": "r", "type": "quantitative",
                  "scale": {"domain": [-1, 1], "scheme": "redblue"}}}}


def _measure(spec: ChartSpec) -> str:
    return f"{spec.aggregation}({spec.y})" if spec.y and spec.aggregation != "count" \
        else "count"


ENCODINGS = {"histogram": _histogram, "bar": _bar, "line": _line, "scatter": _scatter,
             "box": _box, "heatmap": _heatmap}
