"""Helpers for testing your own workflows.

``FakeClock`` makes waits and retry delays instant and observable::

    clock = FakeClock()
    runner = WorkflowRunner(clock=clock)
    runner.execute(workflow)
    assert clock.sleeps == [1.0, 2.0]   # the retry delays, without waiting
"""

from __future__ import annotations

import threading


class FakeClock:
    """A clock whose ``sleep`` advances time instantly and records the request."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._lock = threading.Lock()
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self._now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self._now += max(seconds, 0.0)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds


__all__ = ["FakeClock"]
