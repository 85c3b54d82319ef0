"""Identifiers for runs and executions."""

from __future__ import annotations

import os
import time

_VERSION_7 = 0x7 << 76
_VARIANT = 0b10 << 62
_RAND_A = (1 << 12) - 1
_RAND_B = (1 << 62) - 1


def new_id() -> str:
    """A fresh UUID (version 7) in its canonical text form.

    Version 7 puts the creation time in milliseconds first, so ids sort by creation
    time (friendly to database indexes and to listing runs), and 74 random bits
    keep them unique. Built by hand because ``uuid.uuid4()`` costs several times
    more, and an id is made for every run and every map item.
    """
    rand = int.from_bytes(os.urandom(10))
    value = (
        (time.time_ns() // 1_000_000) << 80
        | _VERSION_7
        | ((rand >> 62) & _RAND_A) << 64
        | _VARIANT
        | (rand & _RAND_B)
    )
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
