"""Helpers for testing your own workflows.

``FakeClock`` makes waits and retry delays instant and observable::

    clock = FakeClock()
    runner = WorkflowRunner(clock=clock)
    runner.execute(workflow)
    assert clock.sleeps == [1.0, 2.0]   # the retry delays, without waiting

``temporary_runner()`` gives a runner with durable history in a throw-away SQLite
file, closed and deleted afterwards::

    with temporary_runner(clock=FakeClock()) as runner:
        failed = runner.execute(workflow)
        assert runner.resume(failed.run_id, workflow).status == "COMPLETED"
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from spine.orchestration import WorkflowRunner


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


@contextmanager
def temporary_runner(**options: Any) -> Iterator[WorkflowRunner]:
    """A ``WorkflowRunner`` with history in a temporary SQLite file (removed after).

    ``options`` are passed to ``WorkflowRunner`` (``clock=``, ``dry_run=``, ...).
    """
    from spine.orchestration import WorkflowRunner

    with tempfile.TemporaryDirectory(prefix="spine-test-") as folder:
        url = f"sqlite:///{Path(folder) / 'history.db'}"
        with WorkflowRunner(database_url=url, **options) as runner:
            yield runner


__all__ = ["FakeClock", "temporary_runner"]
