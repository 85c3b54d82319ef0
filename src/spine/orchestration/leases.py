"""Leases: which process executes a run, and when another may take it over.

A runner holds a lease on each run it executes (owner id, host, process id, a
heartbeat renewed from a daemon thread). A lease may be taken over when its holder
is gone: this very process no longer executing the run, another process on this
host that no longer exists, or a heartbeat older than the lease.
"""

from __future__ import annotations

import logging
import os
import threading

from spine.core.clock import Clock
from spine.core.outage import Outage
from spine.core.records import Owner, RunRecord
from spine.orchestration.history import HistoryStore

logger = logging.getLogger("spine.orchestration")

CLAIM_GRACE_SECONDS = 2.0

_held_here: dict[str, int] = {}
"""Runs some runner in this process is executing right now (run id -> holders)."""
_held_lock = threading.Lock()


class LeaseKeeper:
    """Renews the leases of the runs a runner is executing, from a daemon thread."""

    def __init__(self, store: HistoryStore, owner: Owner, clock: Clock, interval: float) -> None:
        self._store = store
        self._owner = owner
        self._clock = clock
        self._interval = interval
        self._runs: dict[str, int] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._outage = Outage(lambda line: logger.warning("renewing leases: %s", line))

    def hold(self, run_id: str) -> None:
        with _held_lock:
            _held_here[run_id] = _held_here.get(run_id, 0) + 1
        with self._lock:
            self._runs[run_id] = self._runs.get(run_id, 0) + 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._renew, name="spine-lease", daemon=True)
                self._thread.start()

    def drop(self, run_id: str) -> None:
        with _held_lock:
            left = _held_here.get(run_id, 0) - 1
            if left > 0:
                _held_here[run_id] = left
            else:
                _held_here.pop(run_id, None)
        with self._lock:
            count = self._runs.get(run_id, 0) - 1
            if count > 0:
                self._runs[run_id] = count
            else:
                self._runs.pop(run_id, None)

    def held(self) -> list[str]:
        with self._lock:
            return list(self._runs)

    def _renew(self) -> None:
        while not self._stop.wait(self._interval):
            run_ids = self.held()
            if not run_ids:
                continue
            try:
                self._store.heartbeat(run_ids, self._owner, self._clock.time())
            except Exception as exc:
                self._outage.failed(exc)
            else:
                self._outage.worked()

    def close(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)


def held_here(run_id: str) -> bool:
    """Whether a runner in this process is executing run ``run_id`` now."""
    with _held_lock:
        return run_id in _held_here


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def owner_gone(run: RunRecord, now: float, lease: float) -> bool:
    """Whether a run's lease may be taken over.

    Yes when nobody holds it; when its holder is this very process but no runner
    here executes the run any more; when its holder was another process on this
    host that no longer exists; and when its heartbeat is older than ``lease``.
    The process checks come first: they are exact, the lease is a timeout.
    """
    import socket

    owner = run.owner
    if owner is None or run.heartbeat_at is None:
        return True
    if owner.host == socket.gethostname():
        if owner.pid == os.getpid():
            # A claim takes the row a moment before this process holds the run: a fresh
            # heartbeat means that moment, not an owner gone.
            return not held_here(run.run_id) and now - run.heartbeat_at > CLAIM_GRACE_SECONDS
        if not pid_alive(owner.pid):
            return True
    return now - run.heartbeat_at > lease


def recoverable_now(
    store: HistoryStore, now: float, lease: float, block_on_waits: bool
) -> list[RunRecord]:
    """Stored runs a runner may continue now, those that can go on at once first.

    Runs whose owner is alive are left out, and so are waiting runs not yet due when
    the runner does not block (it would only sleep). Ordering matters for a blocking
    runner: sleeping through one long wait must not hold up a crashed run behind it.
    """
    runs = [
        r
        for r in store.recoverable(now, lease)
        if (r.owner is None or owner_gone(r, now, lease))
        and (block_on_waits or r.wake_at is None or r.wake_at <= now)
    ]
    return sorted(runs, key=lambda r: (r.wake_at is not None and r.wake_at > now, r.wake_at or 0))
