"""Heavy libraries imported on first use without stalling the event loop.

NumPy, pyarrow, matplotlib, icalendar or httpx take from a tenth of a second to a second to
import, and they are not part of a process's start-up (a restarted `roomcast serve` answers its
clients that much sooner). The code that uses one imports it where it is used; a request or a
job that is the first to need it calls `imported(...)` first, which imports it in a thread,
so the event loop (every socket of the process) goes on meanwhile. Imports made here run one
at a time: these libraries share their dependencies, and a module another thread is still
importing is already in `sys.modules`, half made, so what this module has imported is told by
its own record, not by `sys.modules`.
"""

from __future__ import annotations

import asyncio
import importlib
import threading
from types import ModuleType

_ONE_AT_A_TIME = threading.Lock()
_DONE: set[str] = set()


def import_serialized(name: str) -> ModuleType:
    """Import `name` (in the calling thread), one such import at a time process-wide."""
    with _ONE_AT_A_TIME:
        module = importlib.import_module(name)
    _DONE.add(name)
    return module


async def imported(*names: str) -> None:
    """Make sure `names` are imported whole, importing those not yet in a thread."""
    missing = [name for name in names if name not in _DONE]
    if missing:
        await asyncio.to_thread(_import_all, missing)


def _import_all(names: list[str]) -> None:
    for name in names:
        import_serialized(name)
