"""Keeping freed memory in the process while models are fitted (glibc only).

A fit allocates and frees large temporary arrays at every level or iteration. glibc's default
is to give the freed top of the heap back to the system at once, so the next array of the same
size page-faults its memory in again (what that costs, measured with `benchmarks/ml_bench.py
--untuned`: docs/pipeline.md). Raising the heap's trim threshold and top padding keeps that
memory for reuse (at most ALLOCATOR_KEEP_BYTES more resident memory when idle). Other C
libraries are left alone. Only `roomcast worker` tunes it; a serving process keeps the
defaults.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger("roomcast.workers")

M_TRIM_THRESHOLD, M_TOP_PAD = -1, -2  # mallopt parameters, from glibc's malloc.h
ALLOCATOR_KEEP_BYTES = 256 << 20

_tuned = False


def keep_freed_memory() -> bool:
    """Tune this process' allocator once; True if it was (or already is) tuned."""
    global _tuned
    if _tuned:
        return True
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt if name else None
    except (OSError, AttributeError):
        mallopt = None
    if mallopt is None:
        return False
    _tuned = bool(mallopt(M_TRIM_THRESHOLD, ALLOCATOR_KEEP_BYTES)) and bool(
        mallopt(M_TOP_PAD, 64 << 20))
    if not _tuned:
        log.info("the C library refused allocator tuning; fits run on its defaults")
    return _tuned
