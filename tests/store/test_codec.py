"""Timestamps as stored: ``iso`` writes the very text ``datetime`` would (the fast way
it takes reuses the text of the second it wrote last)."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from spine.store.codec import from_iso, iso


def _datetime(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="microseconds")


def test_iso_writes_what_datetime_writes() -> None:
    picked = random.Random(16)
    stamps = [picked.uniform(-2e9, 4e9) for _ in range(20_000)]
    # Rounding edges: half a microsecond either side of a whole second and of a tick.
    stamps += [1_700_000_000 + k + f for k in range(3) for f in (0.0, 5e-7, 0.9999995, 0.9999994)]
    stamps += [-1.0000005, -0.5, 0.0, 1.0000005, 1.9999995, 2**31 + 5e-7]
    assert [s for s in stamps if iso(s) != _datetime(s)] == []
    assert iso(None) is None
    assert from_iso(iso(1_700_000_000.25)) == 1_700_000_000.25
