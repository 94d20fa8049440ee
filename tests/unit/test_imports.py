"""core/imports.py: a library a request needs first is imported in a thread, not on the event
loop, once; a second request at the same time waits for the same import to end."""

from __future__ import annotations

from tests.support import fresh


def test_a_first_use_imports_off_the_event_loop_once() -> None:
    found = fresh.in_fresh_interpreter("""
import sys, threading
from core.imports import imported

async def check():
    threads = []

    class Watch:
        def find_spec(self, name, path=None, target=None):
            if name == "icalendar":
                threads.append(threading.current_thread() is threading.main_thread())
            return None

    sys.meta_path.insert(0, Watch())
    before = "icalendar" in sys.modules
    await asyncio.gather(imported("icalendar"), imported("icalendar", "json"))
    await imported("icalendar")
    from icalendar import Calendar
    return {"before": before, "on_the_main_thread": threads,
            "usable": Calendar.__name__}
""")
    assert found == {"before": False, "on_the_main_thread": [False], "usable": "Calendar"}
