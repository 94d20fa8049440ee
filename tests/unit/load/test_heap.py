"""load/heap.py: while a scenario runs, what survives a full collection is frozen, so the
load process's own pauses stay short; afterwards everything is back in the collector's reach
and a dropped client's cycles are collected. Checked against the real `gc`, in a new
interpreter (freezing pytest's heap would change every later test's collections)."""

from __future__ import annotations

from tests.support import fresh


def test_survivors_are_frozen_during_the_run_and_collected_after_it() -> None:
    found = fresh.in_fresh_interpreter(fresh.CYCLES + """
async def check():
    held = cycle()
    ref = weakref.ref(held)
    out = {}
    async with frozen_survivors(interval=0.01):
        gc.collect()
        for _ in range(3000):  # frozen within a few intervals
            if not walked(held):
                break
            await asyncio.sleep(0.01)
        out["frozen_in_the_run"] = not walked(held)
        del held
        gc.collect()
        out["dropped_cycle_waits"] = ref() is not None
    out["frozen_after"] = gc.get_freeze_count()
    gc.collect()
    out["collected_after"] = ref() is None
    return out
""", imports="from load.heap import frozen_survivors")
    assert found == {"frozen_in_the_run": True, "dropped_cycle_waits": True,
                     "frozen_after": 0, "collected_after": True}
