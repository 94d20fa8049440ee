"""roomcast/heap.py: what survives a full collection leaves the collector's walk; cycles among
frozen objects are collected again once churn (or age) calls for a compaction.

The collector is process-wide, so the checks against the real `gc` run in a fresh interpreter
each: freezing pytest's own heap would change every later test's collections."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry

from roomcast.heap import HeapKeeper, HeapPolicy
from tests.support import fresh


def test_compaction_is_due_when_a_quarter_of_the_connections_have_left() -> None:
    policy = HeapPolicy(churn_share=0.25, churn_floor=1000)
    assert not policy.churned(departed=999, live=0)  # under the floor
    assert policy.churned(departed=1000, live=4000)
    assert not policy.churned(departed=1000, live=4001)  # under a quarter
    assert policy.churned(departed=2500, live=10_000)
    assert not policy.churned(departed=0, live=5000)  # a storm of arrivals alone


def test_a_compaction_that_freed_little_doubles_the_churn_the_next_one_waits_for() -> None:
    policy = HeapPolicy(churn_share=0.25, churn_share_max=1.0, freed_per_departure=1.0)
    assert policy.next_share(0.25, freed=999, departed=1000) == 0.5
    assert policy.next_share(0.5, freed=0, departed=1000) == 1.0
    assert policy.next_share(1.0, freed=0, departed=1000) == 1.0  # no further than the cap
    assert policy.next_share(1.0, freed=1000, departed=1000) == 0.25  # worth it again
    assert policy.churned(departed=1000, live=4000)
    assert not policy.churned(departed=1000, live=4000, share=0.5)
    assert policy.churned(departed=2000, live=4000, share=0.5)


def test_a_frozen_heap_has_grown_past_a_quarter() -> None:
    policy = HeapPolicy(growth_share=0.25)
    assert not policy.grown(frozen=125, frozen_after=100)
    assert policy.grown(frozen=126, frozen_after=100)


def test_start_collects_the_young_generations_only_and_freezes_everything() -> None:
    """Start-up's old generation is not walked again (a full collection per start-up): its
    young garbage is freed, an old dead cycle waits for the first compaction."""
    found = in_fresh_interpreter(fresh.CYCLES + """
async def check():
    old = cycle()
    gc.collect()  # now in the oldest generation
    old_ref = weakref.ref(old)
    del old
    young_ref = weakref.ref(cycle())  # garbage of the youngest generation
    full = gc.get_stats()[2]["collections"]
    keeper = HeapKeeper(lambda: 0, lambda: 0, HeapPolicy(interval=3600))
    keeper.start()
    out = {"full_collections": gc.get_stats()[2]["collections"] - full,
           "young_freed": young_ref() is None, "old_waits": old_ref() is not None,
           "nothing_left_unfrozen": gc.get_count()[0] < 10 and not gc.get_objects(2)}
    keeper.compact()
    out["old_freed_by_compaction"] = old_ref() is None
    await keeper.stop()
    return out
""")
    assert found == {"full_collections": 0, "young_freed": True, "old_waits": True,
                     "nothing_left_unfrozen": True, "old_freed_by_compaction": True}


def test_an_old_grown_frozen_heap_is_compacted_and_an_old_steady_one_is_only_counted() -> None:
    found = in_fresh_interpreter("""
async def check():
    now = [0.0]
    keeper = HeapKeeper(lambda: 0, lambda: 10, HeapPolicy(interval=3600, max_age=600),
                        clock=lambda: now[0])
    keeper.start()
    out = {}
    now[0] = 599.0
    keeper.look()
    out["compactions_before_max_age"] = keeper.compactions
    now[0] = 601.0
    keeper.look()  # nothing grew: counted, and the clock starts again
    out["compactions_steady"] = keeper.compactions
    held = [[[] for _ in range(10)] for _ in range(keeper.frozen)]  # more than a quarter
    gc.collect()
    keeper.look()  # frozen now, but not counted before max_age again
    out["compactions_grown_early"] = keeper.compactions
    now[0] = 1202.0
    keeper.look()
    out["compactions_grown_old"] = keeper.compactions
    out["frozen_counted"] = keeper.frozen >= len(held) * 11
    await keeper.stop()
    return out
""")
    assert found == {"compactions_before_max_age": 0, "compactions_steady": 0,
                     "compactions_grown_early": 0, "compactions_grown_old": 1,
                     "frozen_counted": True}


def in_fresh_interpreter(body: str) -> Any:
    return fresh.in_fresh_interpreter(
        body, imports="from roomcast.heap import HeapKeeper, HeapPolicy")


def test_survivors_of_a_full_collection_are_frozen_and_a_dead_cycle_waits_for_churn() -> None:
    found = in_fresh_interpreter(fresh.CYCLES + """
async def check():
    departed = [0]
    keeper = HeapKeeper(lambda: departed[0], lambda: 8,
                        HeapPolicy(interval=3600, churn_floor=4, churn_share=0.25))
    keeper.start()
    held = cycle()
    ref = weakref.ref(held)
    out = {"walked_before": walked(held)}
    keeper.look()  # no full collection since start: nothing to do
    out["freezes_without_a_full_collection"] = keeper.freezes
    gc.collect()
    keeper.look()
    out["freezes"] = keeper.freezes
    out["walked_after"] = walked(held)
    del held
    gc.collect()
    out["frozen_cycle_outlives_a_collection"] = ref() is not None
    departed[0] = 3
    keeper.look()
    out["compactions_under_the_floor"] = keeper.compactions
    departed[0] = 4
    keeper.look()
    out["compactions"] = keeper.compactions
    out["collected_by_the_compaction"] = ref() is None
    out["frozen_after"] = gc.get_freeze_count()
    await keeper.stop()
    return out
""")
    assert found == {
        "walked_before": True, "freezes_without_a_full_collection": 0, "freezes": 1,
        "walked_after": False, "frozen_cycle_outlives_a_collection": True,
        "compactions_under_the_floor": 0, "compactions": 1,
        "collected_by_the_compaction": True, "frozen_after": found["frozen_after"]}
    assert found["frozen_after"] > 0


def test_arrivals_are_frozen_as_they_come_without_a_full_collection() -> None:
    """A storm of connections: once `arrivals` have come since the last freeze, what has left
    the young generations is frozen, and no full collection walks it first; arrivals count
    from the fewest connections since, so departures and returns are not arrivals."""
    found = in_fresh_interpreter(fresh.CYCLES + """
async def check():
    live = [0]
    keeper = HeapKeeper(lambda: 0, lambda: live[0], HeapPolicy(interval=3600, arrivals=250))
    keeper.start()
    full = gc.get_stats()[2]["collections"]
    held = cycle()
    young_ref = weakref.ref(cycle())  # young garbage: collected, not frozen
    out = {}
    live[0] = 249
    keeper.look()
    out["under"] = [keeper.freezes, walked(held)]
    live[0] = 250
    keeper.look()
    out["arrived"] = [keeper.freezes, walked(held), young_ref() is None]
    later = cycle()
    live[0] = 100  # 150 left...
    keeper.look()
    live[0] = 349  # ...and 249 came since
    keeper.look()
    out["after_departures"] = [keeper.freezes, walked(later)]
    live[0] = 350
    keeper.look()
    out["arrived_again"] = [keeper.freezes, walked(later)]
    out["full_collections"] = gc.get_stats()[2]["collections"] - full
    await keeper.stop()
    return out
""")
    assert found == {"under": [0, True], "arrived": [1, False, True],
                     "after_departures": [1, True], "arrived_again": [2, False],
                     "full_collections": 0}


def test_churn_compactions_back_off_while_departures_leave_no_cycles() -> None:
    """Departures that left nothing in cycles: each churn compaction waits for twice the churn
    of the one before, up to the cap; once departures leave cycles again, a compaction frees
    them and the next waits for the base share again."""
    found = in_fresh_interpreter(fresh.CYCLES + """
async def check():
    departed = [0]
    keeper = HeapKeeper(lambda: departed[0], lambda: 1000,
                        HeapPolicy(interval=3600, churn_floor=1, churn_share=0.25,
                                   churn_share_max=1.0))
    keeper.start()
    out = {}
    departed[0] = 250  # a quarter left, no cycles: compacted, the next waits for a half
    keeper.look()
    out["first"] = [keeper.compactions, keeper.churn_share]
    departed[0] = 250 + 499
    keeper.look()
    out["under_a_half"] = keeper.compactions
    departed[0] = 250 + 500
    keeper.look()
    out["a_half"] = [keeper.compactions, keeper.churn_share]
    departed[0] = 750 + 1000
    keeper.look()
    out["capped"] = [keeper.compactions, keeper.churn_share]
    held = [cycle() for _ in range(2000)]  # 4000 objects in cycles, frozen, then let go
    gc.collect()
    gc.freeze()
    del held
    departed[0] = 1750 + 1000
    keeper.look()
    out["freed"] = [keeper.compactions, keeper.churn_share]
    await keeper.stop()
    return out
""")
    assert found == {"first": [1, 0.5], "under_a_half": 1, "a_half": [2, 1.0],
                     "capped": [3, 1.0], "freed": [4, 0.25]}


def test_a_stopping_process_is_left_alone() -> None:
    """A stop lets every connection go: no compaction (a walk of the whole heap) and no
    freeze for a process about to exit; the same churn compacts while it is not stopping."""
    found = in_fresh_interpreter("""
async def check():
    departed, stopping = [0], [False]
    keeper = HeapKeeper(lambda: departed[0], lambda: 0,
                        HeapPolicy(interval=3600, churn_floor=4, churn_share=0.25),
                        stopping=lambda: stopping[0])
    keeper.start()
    stopping[0] = True
    departed[0] = 100
    gc.collect()
    keeper.look()
    out = {"stopping": (keeper.compactions, keeper.freezes)}
    stopping[0] = False
    keeper.look()
    out["running"] = keeper.compactions
    await keeper.stop()
    return out
""")
    assert found == {"stopping": [0, 0], "running": 1}


def test_the_keeper_runs_on_its_own_and_stops() -> None:
    found = in_fresh_interpreter(fresh.CYCLES + """
async def check():
    departed = [0]
    keeper = HeapKeeper(lambda: departed[0], lambda: 0,
                        HeapPolicy(interval=0.01, churn_floor=1))
    keeper.start()
    held = cycle()
    ref = weakref.ref(held)
    gc.collect()
    for _ in range(3000):  # the watch freezes it within a few intervals
        if keeper.freezes:
            break
        await asyncio.sleep(0.01)
    frozen = not walked(held)
    del held
    departed[0] = 1
    for _ in range(3000):
        if keeper.compactions:
            break
        await asyncio.sleep(0.01)
    await keeper.stop()
    return {"frozen": frozen, "collected": ref() is None}
""")
    assert found == {"frozen": True, "collected": True}


def test_the_keeper_reports_on_metrics() -> None:
    registry = CollectorRegistry()
    keeper = HeapKeeper(lambda: 0, lambda: 0)
    keeper.register(registry)
    keeper.freezes, keeper.compactions = 3, 2
    assert registry.get_sample_value("roomcast_heap_freezes_total") == 3
    assert registry.get_sample_value("roomcast_heap_compactions_total") == 2
    assert registry.get_sample_value("roomcast_heap_frozen_objects") == 0  # not started
    assert registry.get_sample_value("roomcast_heap_churn_share") == HeapPolicy().churn_share
