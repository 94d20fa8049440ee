"""benchmarks/herd_queue.py's model: cases whose answers are known by hand."""

from __future__ import annotations

import importlib.util

import pytest

from tests.support.services import ROOT

# Loaded from its file: benchmarks/ is not a package, and its modules stay off sys.path.
_SPEC = importlib.util.spec_from_file_location("herd_queue", ROOT / "benchmarks" / "herd_queue.py")
assert _SPEC is not None and _SPEC.loader is not None
herd_queue = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(herd_queue)
arrivals, first_come, shared = herd_queue.arrivals, herd_queue.first_come, herd_queue.shared
needed, summary = herd_queue.needed, herd_queue.summary


def test_clients_arriving_slower_than_served_never_wait_for_each_other() -> None:
    times = arrivals(10, 0.0, 1.0)  # one every 0.1 s
    assert first_come(times, 100.0) == pytest.approx([0.01] * 10)
    assert shared(times, 100.0) == pytest.approx([0.01] * 10)


def test_clients_arriving_together_finish_one_by_one_or_all_at_the_end() -> None:
    together = [1.0] * 4
    assert first_come(together, 4.0) == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert shared(together, 4.0) == pytest.approx([1.0] * 4)


def test_a_late_arrival_shares_the_rest_of_the_first_ones_work() -> None:
    # The first needs 1 s alone; the second arrives at 0.5 s, both then go at half speed:
    # the first finishes at 1.5 s, the second has had 0.5 s of its 1 s and ends at 2.0 s.
    assert shared([0.0, 0.5], 1.0) == pytest.approx([1.5, 1.5])
    assert first_come([0.0, 0.5], 1.0) == pytest.approx([1.0, 1.5])


def test_the_rate_needed_gives_a_p99_under_the_target_and_a_lower_one_does_not() -> None:
    rate = needed(2500, 0.5, 1.0, 1.0)
    times = arrivals(2500, 0.5, 1.0)
    assert summary(first_come(times, rate))[1] < 1.0
    assert summary(first_come(times, rate - 5))[1] >= 1.0
    # Served all at once, the same rate leaves the p99 above the target.
    assert summary(shared(times, rate))[1] > 1.0
