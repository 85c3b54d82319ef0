"""Identifiers for runs and executions."""

from __future__ import annotations

import os
import threading
import time

_VERSION_7 = 0x7 << 76
_VARIANT = 0b10 << 62
_RAND_A = (1 << 12) - 1
_RAND_B = (1 << 62) - 1

_IDS_PER_READ = 256
"""Ids whose random bits one read of ``os.urandom`` supplies."""

_BYTES = 10


class _Randomness(threading.local):
    """Each thread's random bytes, read from the system a batch at a time: a read is a
    system call that gives up Python's lock, and a thread that gives it up while others
    run waits to get it back (two ids a map item, so as much as the item's own work)."""

    def __init__(self) -> None:
        self.block = b""
        self.used = 0

    def next(self) -> int:
        used = self.used
        if used >= len(self.block):
            self.block = os.urandom(_BYTES * _IDS_PER_READ)
            used = 0
        self.used = used + _BYTES
        return int.from_bytes(self.block[used : used + _BYTES])


_randomness = _Randomness()


def _forget_after_fork() -> None:
    # A forked child would otherwise make the ids its parent makes from the same bytes.
    global _randomness
    _randomness = _Randomness()


os.register_at_fork(after_in_child=_forget_after_fork)


def new_id() -> str:
    """A fresh UUID (version 7) in its canonical text form.

    Version 7 puts the creation time in milliseconds first, so ids sort by creation
    time (friendly to database indexes and to listing runs), and 74 random bits (from
    ``os.urandom``) keep them unique. Built by hand because ``uuid.uuid4()`` costs
    several times more, and an id is made for every run and every map item.
    """
    rand = _randomness.next()
    value = (
        (time.time_ns() // 1_000_000) << 80
        | _VERSION_7
        | ((rand >> 62) & _RAND_A) << 64
        | _VARIANT
        | (rand & _RAND_B)
    )
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
