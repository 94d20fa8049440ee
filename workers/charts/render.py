"""A chart's PNG and SVG, drawn with matplotlib (Agg, no global state) from the same
aggregated values as its Vega-Lite spec."""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from core.store.visualizations import ChartSpec
from workers.charts.aggregate import Values
from workers.charts.vega import title_of


def render(spec: ChartSpec, values: Values) -> tuple[bytes, bytes]:
    """(PNG, SVG) of the chart."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 4.8), dpi=100)
    ax = figure.add_subplot()
    DRAW[spec.kind](ax, spec, values)
    ax.set_title(title_of(spec))
    if spec.group_by and spec.kind not in ("box", "heatmap") and values:
        ax.legend(title=spec.group_by, fontsize="small")
    figure.tight_layout()
    return _saved(figure, "png"), _saved(figure, "svg")


def _saved(figure: Any, kind: str) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format=kind)
    return buffer.getvalue()


def _series(values: Values) -> dict[str, Values]:
    series: dict[str, Values] = {}
    for value in values:
        series.setdefault(str(value.get("group", "")), []).append(value)
    return series


def _histogram(ax: Any, spec: ChartSpec, values: Values) -> None:
    for name, part in _series(values).items():
        edges = [p["bin_start"] for p in part] + [part[-1]["bin_end"]]
        ax.stairs([p["count"] for p in part], edges, fill=True, alpha=0.5, label=name or None)
    ax.set_xlabel(spec.x or "")
    ax.set_ylabel("count")


def _bar(ax: Any, spec: ChartSpec, values: Values) -> None:
    labels = list(dict.fromkeys(str(v["x"]) for v in values))
    series = _series(values)
    width = 0.8 / max(1, len(series))
    for k, (name, part) in enumerate(series.items()):
        at = {str(p["x"]): p["value"] for p in part}
        positions = np.arange(len(labels)) + k * width
        ax.bar(positions, [at.get(label, 0) or 0 for label in labels], width,
               label=name or None)
    ax.set_xticks(np.arange(len(labels)) + 0.4 - width / 2, labels, rotation=45, ha="right")
    ax.set_ylabel(spec.aggregation if spec.y is None else f"{spec.aggregation}({spec.y})")


def _line(ax: Any, spec: ChartSpec, values: Values) -> None:
    for name, part in _series(values).items():
        xs = [np.datetime64(p["x"]) if isinstance(p["x"], str) else p["x"] for p in part]
        ax.plot(xs, [p["value"] for p in part], marker=".", label=name or None)
    if values and isinstance(values[0]["x"], str):
        ax.figure.autofmt_xdate()
    ax.set_xlabel(spec.x or "")


def _scatter(ax: Any, spec: ChartSpec, values: Values) -> None:
    for name, part in _series(values).items():
        ax.scatter([p["x"] for p in part], [p["y"] for p in part], s=6, alpha=0.6,
                   label=name or None)
    ax.set_xlabel(spec.x or "")
    ax.set_ylabel(spec.y or "")


def _box(ax: Any, spec: ChartSpec, values: Values) -> None:
    stats = [{"label": v["x"], "whislo": v["min"], "q1": v["q1"], "med": v["median"],
              "q3": v["q3"], "whishi": v["max"], "fliers": []} for v in values]
    if stats:
        ax.bxp(stats, showfliers=False)
        ax.tick_params(axis="x", labelrotation=45)
    ax.set_ylabel(spec.y or "")


def _heatmap(ax: Any, spec: ChartSpec, values: Values) -> None:
    names = spec.columns or []
    grid = np.array([np.nan if v["r"] is None else v["r"] for v in values],
                    dtype=np.float64).reshape(len(names), len(names))
    image = ax.imshow(grid, cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.figure.colorbar(image, ax=ax)


DRAW = {"histogram": _histogram, "bar": _bar, "line": _line, "scatter": _scatter,
        "box": _box, "heatmap": _heatmap}
