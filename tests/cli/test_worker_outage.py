"""A worker whose looks for work fail says so once, waits between looks, and carries
on; the lease thread of a runner does the same."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest

from spine.core.clock import SystemClock
from spine.core.errors import StoreError
from spine.core.outage import Outage
from spine.core.records import Owner
from spine.orchestration import workers
from spine.orchestration.leases import LeaseKeeper
from spine.orchestration.workers import WorkerPool


class Unreachable:
    """A runner (its queue and store too), or a store, whose database answers again
    after ``failures`` calls."""

    def __init__(self, failures: int, stop: threading.Event, calls: int) -> None:
        self.failures, self.stop, self.limit = failures, stop, calls
        self.calls = 0
        self.queue = self.store = self
        self.workflows: dict[str, Any] = {}

    def _call(self) -> list[Any]:
        self.calls += 1
        if self.calls >= self.limit:
            self.stop.set()
        if self.calls <= self.failures:
            raise StoreError("cannot claim submitted runs in PostgreSQL database 'x': refused")
        return []

    def claim(self, limit: int) -> list[Any]:
        return self._call()

    def recoverable(self) -> list[Any]:
        return []

    def watch(self, wake: Any) -> Unreachable:
        return self

    def close(self) -> None:
        pass

    def heartbeat(self, run_ids: list[str], owner: Owner, now: float) -> None:
        self._call()


def test_a_worker_reports_an_outage_once_and_carries_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(workers, "FAILED_POLL_SECONDS", 0.01)
    stop = threading.Event()
    runner = Unreachable(failures=20, stop=stop, calls=30)
    lines: list[str] = []
    began = time.monotonic()

    outage = Outage(lines.append)
    pool = WorkerPool(runner, 2, stop, poll=0.001, done=print, outage=outage)  # type: ignore[arg-type]
    assert stop.wait(30)
    pool.close()

    assert runner.calls >= 30  # it kept looking
    assert time.monotonic() - began >= 20 * 0.01  # waiting between failed looks
    assert len(lines) == 2
    assert lines[0].startswith("StoreError: cannot claim submitted runs")
    assert lines[1].startswith("working again after ")


def test_the_lease_thread_reports_an_outage_once(caplog: pytest.LogCaptureFixture) -> None:
    stop = threading.Event()
    store = Unreachable(failures=10, stop=stop, calls=15)
    keeper = LeaseKeeper(store, Owner("o", "h", 1), SystemClock(), 0.005)  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, "spine.orchestration"):
        keeper.hold("r1")
        try:
            assert stop.wait(10)
        finally:
            keeper.drop("r1")
            keeper.close()
    lines = [r.getMessage() for r in caplog.records if r.name == "spine.orchestration"]
    assert len(lines) == 2, lines
    assert lines[0].startswith("renewing leases: StoreError: cannot claim")
    assert "working again" in lines[1]
    assert all(r.exc_info is None for r in caplog.records)  # no traceback per renewal
