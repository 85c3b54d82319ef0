"""A failure that repeats, reported twice: when it starts and when it ends.

A worker keeps polling through a database outage. A line per poll would bury
everything else it says (and a traceback per poll would bury it faster), so what
polls reports through an :class:`Outage`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Outage:
    """Says (through ``report``) what failed first, and then nothing more until
    something works again; shared by threads that poll the same thing."""

    def __init__(self, report: Callable[[str], None]) -> None:
        self._report = report
        self._lock = threading.Lock()
        self._since: float | None = None
        self._failures = 0

    def failed(self, error: BaseException) -> None:
        with self._lock:
            self._failures += 1
            if self._since is not None:
                return
            self._since = time.monotonic()
        self._report(f"{type(error).__name__}: {error}; trying on, quietly until it works again")

    def worked(self) -> None:
        if self._since is None:  # polled on every success: one read when all is well
            return
        with self._lock:
            since, failures = self._since, self._failures
            self._since, self._failures = None, 0
        if since is not None:
            seconds = time.monotonic() - since
            self._report(f"working again after {seconds:.1f} s and {failures} failures")
