"""Histograms merged across processes equal the histogram of all their samples, exactly."""

from __future__ import annotations

import orjson
from hypothesis import given
from hypothesis import strategies as st

from load.flow.meter import Meter
from load.histogram import Histogram

samples = st.lists(st.floats(0, 3.6e9, allow_nan=False), max_size=300)


def of(values: list[float]) -> Histogram:
    hist = Histogram()
    for value in values:
        hist.record(value)
    return hist


def state(hist: Histogram) -> tuple[object, ...]:
    return (hist.counts, hist.count, hist.total, hist.max, hist.min,
            [hist.percentile(q) for q in (1, 50, 90, 99, 99.9, 100)], hist.summary_ms())


@given(samples, st.lists(st.integers(0, 4), max_size=300))
def test_merged_parts_equal_the_whole(values: list[float], owners: list[int]) -> None:
    parts = [Histogram() for _ in range(5)]
    for n, value in enumerate(values):
        parts[owners[n] if n < len(owners) else 0].record(value)
    merged = Histogram()
    for part in reversed(parts):  # any order
        merged.merge(Histogram.from_wire(orjson.loads(orjson.dumps(part.to_wire()))))
    assert state(merged) == state(of(values))


@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 5), st.floats(1, 1e6)),
                max_size=200))
def test_meters_of_several_agents_merge_to_the_meter_of_all(
    records: list[tuple[int, int, float]],
) -> None:
    start = 1_000 * 1_000_000_000
    agents = [Meter(start) for _ in range(3)]
    whole = Meter(start)
    for agent, second, micros in records:
        at = start + second * 1_000_000_000 + 5
        for meter in (agents[agent], whole):
            meter.latency("step:emit", micros, at)
            meter.step_done("emit", micros, at)
    merged = Meter(start)
    for agent in agents:
        merged.merge(Meter.from_wire(orjson.loads(orjson.dumps(agent.to_wire()))))
    for second in range(6):
        assert state(merged.merged("step:emit", second, second + 1)) == \
            state(whole.merged("step:emit", second, second + 1))
    assert merged.summed("done:emit") == whole.summed("done:emit") == len(records)
    assert state(merged.merged("step:emit")) == state(whole.merged("step:emit"))
