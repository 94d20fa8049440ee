"""Histograms, stats merging and --slo objectives of the load tool."""

from __future__ import annotations

import pytest

from load import slo
from load.histogram import Histogram
from load.stats import Stats


def test_percentiles_are_within_one_percent() -> None:
    hist = Histogram()
    for micros in range(1, 100_001):
        hist.record(float(micros))
    assert hist.count == 100_000
    assert hist.percentile(50) == pytest.approx(50_000, rel=0.01)
    assert hist.percentile(99) == pytest.approx(99_000, rel=0.01)
    assert hist.percentile(100) == 100_000
    assert hist.summary_ms()["p95"] == pytest.approx(95.0, rel=0.01)


def test_memory_stays_bounded() -> None:
    hist = Histogram()
    for n in range(200_000):
        hist.record(float(n % 5000) + 1.0)
    assert len(hist.counts) < 1000


def test_stats_merge_across_the_wire() -> None:
    first, second = Stats(0), Stats(0)
    first.delivered(0, 2_000_000)  # 2 ms, second 0
    second.delivered(1_000_000_000, 2_500_000_000)  # 1.5 s, arrives in second 2
    second.connect_failed("timeout", 3_000_000_000)
    second.connected(1500.0, 1_200_000_000)  # 1.5 ms, completed in second 1
    second.record("everyone", 40.0)
    second.fail("the scenario raised TypeError: x")
    second.counters["expected"] += 3
    first.merge(Stats.from_wire(second.to_wire()))
    assert first.counters["delivered"] == 2
    assert first.counters["expected"] == 3
    assert first.counters["connected"] == 1
    assert first.errors == {"connect:timeout": 1}
    assert first.connect_failures == {3: 1}
    assert sorted(first.timeline) == [0, 2]
    assert sorted(first.connect_timeline) == [1]
    assert first.connect.max == pytest.approx(1500.0)
    assert first.named["everyone"].count == 1
    assert first.failures == ["the scenario raised TypeError: x"]
    assert first.delivery.max == pytest.approx(1_500_000)


def test_progress_counts_reopened_sockets_as_connected() -> None:
    stats = Stats(0)
    stats.counters.update(connected=10, disconnected=3, reopened=2, published=7)
    assert stats.progress() == {"connected": 9, "delivered": 0, "published": 7, "errors": 0}


def _report(p99: float, lost: int = 0, samples: int = 10,
            expected: int = 100) -> dict[str, object]:
    latency = {"count": samples, "p50": 1.0, "p95": 2.0, "p99": p99, "max": 200.0,
               "mean": 1.0}
    return {"delivery": {"lost": lost, "expected": expected, "published": 1, "listeners": 100,
                         "latency_ms": latency},
            "connect": {"attempted": 101, "connected": 101,
                        "latency_ms": {**latency, "p99": 5.0}},
            "errors": {"x": 2}}


def test_slo_units_and_defaults() -> None:
    objectives = slo.parse("p99<100ms, max<=0.2s, connect.p99<5000us, lost==0", "fanout")
    assert [o.metric for o in objectives] == ["delivery.p99", "delivery.max", "connect.p99",
                                              "lost"]
    assert [o.limit for o in objectives] == [100.0, 200.0, 5.0, 0.0]
    results = slo.evaluate(objectives, _report(99.0))
    assert [r["ok"] for r in results] == [True, True, False, True]
    assert not slo.evaluate(slo.parse("lost==0", "fanout"), _report(1.0, lost=1))[0]["ok"]


def test_slo_on_connect_scenario_means_connect_latency() -> None:
    (objective,) = slo.parse("p99<1ms", "connect")
    assert objective.metric == "connect.p99"
    assert not objective.met(_report(0.5))


@pytest.mark.parametrize("text", ["", "p99", "p99<100", "p98<1ms", "lost<x", "p99>1ms"])
def test_slo_syntax_errors(text: str) -> None:
    with pytest.raises(slo.SloSyntaxError):
        slo.parse(text, "fanout")


def test_an_objective_with_nothing_measured_is_missed() -> None:
    objectives = slo.parse("p99<100ms,lost==0,connect.max<1s", "fanout")
    empty = _report(1.0, samples=0, expected=0)
    empty["connect"] = {"attempted": 6, "connected": 0, "latency_ms": {"count": 0, "max": 0.0}}
    results = slo.evaluate(objectives, empty)
    assert [r["ok"] for r in results] == [False, False, False]
    assert [r["measured"] for r in results] == [None, None, None]
    assert results[0]["unmeasured"] == "no delivery samples"
    assert "0 connected" in results[1]["unmeasured"]
    assert results[2]["unmeasured"] == "no connect samples"


def test_errors_objective_needs_an_attempt() -> None:
    (objective,) = slo.parse("errors==0", "connect")
    report = _report(1.0)
    report["errors"] = {}
    assert objective.met(report)
    report["connect"] = {"attempted": 0, "connected": 0, "latency_ms": {"count": 0}}
    assert not objective.met(report)


def test_everyone_objective_is_presence_only() -> None:
    (objective,) = slo.parse("everyone.p99<1s", "presence")
    assert objective.metric == "everyone.p99"
    report = _report(1.0)
    report["everyone"] = {"latency_ms": {"count": 3, "p99": 900.0}}
    assert objective.met(report)
    with pytest.raises(slo.SloSyntaxError):
        slo.parse("everyone.p99<1s", "fanout")
