"""Throttling: one delivery per incident (fingerprint) and channel within a window."""

from __future__ import annotations

import math
import threading
from collections.abc import Hashable
from dataclasses import dataclass

from spine.core.clock import SYSTEM_CLOCK, Clock

DEFAULT_WINDOW_SECONDS = 300.0


@dataclass(frozen=True, slots=True)
class Admission:
    """Whether to send now; ``suppressed`` counts the duplicates held back.

    When ``send`` is true, ``suppressed`` is the number held back since the
    previous delivery (to report on this one); when false, the number so far,
    this one included, and ``age_seconds`` is how long ago the window opened.
    """

    send: bool
    suppressed: int = 0
    age_seconds: float = 0.0


@dataclass(slots=True)
class _Entry:
    opened_at: float | None  # None: nothing delivered yet, no window open
    suppressed: int = 0


class Throttle:
    """Admits the first alert of a key, then holds back its duplicates for ``window_seconds``.

    A window opens when an alert is admitted; if its delivery fails, ``release``
    closes it again so the next duplicate is tried rather than lost. The state is
    per process. ``window_seconds=0`` admits everything; ``math.inf`` delivers each
    incident once per channel for the life of the process.
    """

    def __init__(
        self, window_seconds: float = DEFAULT_WINDOW_SECONDS, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self.window_seconds = check_window(window_seconds)
        self._clock = clock
        self._entries: dict[Hashable, _Entry] = {}
        self._lock = threading.Lock()

    def admit(self, key: Hashable) -> Admission:
        if self.window_seconds == 0:
            return Admission(send=True)
        with self._lock:
            now = self._clock.time()
            self._forget_expired(now)
            entry = self._entries.get(key)
            if entry is not None and entry.opened_at is not None:
                age = now - entry.opened_at
                if age < self.window_seconds:
                    entry.suppressed += 1
                    return Admission(send=False, suppressed=entry.suppressed, age_seconds=age)
            held_back = entry.suppressed if entry is not None else 0
            self._entries[key] = _Entry(opened_at=now)
            return Admission(send=True, suppressed=held_back)

    def release(self, key: Hashable, suppressed: int) -> None:
        """The delivery admitted for ``key`` failed: close its window, keep the count."""
        if self.window_seconds == 0:
            return
        with self._lock:
            entry = self._entries.get(key)
            during = entry.suppressed if entry is not None else 0
            self._entries[key] = _Entry(opened_at=None, suppressed=suppressed + during)

    def _forget_expired(self, now: float) -> None:
        # Entries with a count are kept until their next delivery reports it.
        expired = [
            key
            for key, entry in self._entries.items()
            if entry.suppressed == 0
            and (entry.opened_at is None or now - entry.opened_at >= self.window_seconds)
        ]
        for key in expired:
            del self._entries[key]


def check_window(window_seconds: float) -> float:
    """``window_seconds`` as a float; a ``ValueError`` unless it is 0 or more.

    Infinity is allowed (for ever); NaN is not: it compares false with everything,
    so it would silently turn throttling off.
    """
    if (
        isinstance(window_seconds, bool)
        or not isinstance(window_seconds, int | float)
        or math.isnan(window_seconds)
        or window_seconds < 0
    ):
        raise ValueError(
            f"throttle_seconds must be a number, 0 or more (inf: for ever), got {window_seconds!r}"
        )
    return float(window_seconds)
