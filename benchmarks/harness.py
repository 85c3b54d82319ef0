"""Timing helpers shared by the benchmarks: best-of-N wall time, and memory per item."""

from __future__ import annotations

import gc
import time
import tracemalloc
from collections.abc import Callable
from typing import Any


def best_time(fn: Callable[[], Any], repeats: int, *, collector: bool = True) -> float:
    """The fastest of ``repeats`` runs of ``fn``, in seconds.

    By default the garbage collector stays on: its cost on the objects a run keeps
    is part of what a user pays. ``collector=False`` measures with it off, as
    ``timeit`` does, to separate the engine's own cost from the collector's.
    """
    best = float("inf")
    # One collection up front, not one per repeat: a full collection just before a
    # short timed run leaves the caches cold and inflates it.
    gc.collect()
    for _ in range(repeats):
        if not collector:
            gc.disable()
        try:
            start = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - start)
        finally:
            gc.enable()
    return best


def traced_bytes(fn: Callable[[], Any]) -> tuple[int, int]:
    """(bytes still held by what ``fn`` returned, peak bytes while it ran)."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = fn()
        gc.collect()
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del kept
    return current - before, peak - before
