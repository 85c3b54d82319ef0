"""A worker's threads: a runner's queue executed with at most ``concurrency`` runs at once.

One idle thread at a time looks for work (the looker); the other idle threads wait for
a run to be handed to them. The looker sleeps until the store's watch says a run may be
claimable (a ``NOTIFY`` on PostgreSQL, SQLite's change counter), the slow poll (the
safety net) or the recovery look (:data:`RECOVERY_SECONDS`) is due, or the worker
stops; it then claims at most as many runs as there are idle threads, keeps one and
hands the rest over. So a worker never owns more runs than it has threads, and a
worker with one thread takes one run at a time, leaving the others to its peers.

A thread that ends a run it claimed claims its next one with that run's end (in the
same statement on PostgreSQL, the same transaction on SQLite): no hand-over, and no run
claimed before a thread is free for it, so every run starts straight after its claim
(its first step need not read the cancel flag the claim saw unset). While claims come
back full (a backlog), the looker looks again at once instead of waiting to be told. A
run of a capped workflow (``max_concurrent_runs``) that ends may let another start: the
looker is told.

Runs whose owner died and waiting runs that are due are looked for on the same turn,
once a second (at once on PostgreSQL when a signal makes a run due), as many as there
are idle threads.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from spine.core.status import Wakeup

if TYPE_CHECKING:
    from spine.core.outage import Outage
    from spine.core.records import NextClaim, RunRecord
    from spine.orchestration.queue import RunQueue
    from spine.orchestration.results import WorkflowResult
    from spine.orchestration.workflow_runner import WorkflowRunner

RECOVERY_SECONDS = 1.0
"""How often an idle worker looks for runs whose owner died and waits that are due."""
FAILED_POLL_SECONDS = 1.0
"""How long a worker waits after a look for work failed (the database retries a lost
connection itself; what reaches the worker outlasted that)."""

FREED = "freed"
"""A run of a capped workflow ended here: a run it held back may start."""


class _Bell:
    """Why the looker should look, rung from any thread."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._reasons: set[str] = set()

    def ring(self, reason: str) -> None:
        with self._cond:
            self._reasons.add(reason)
            self._cond.notify()

    def wait(self, timeout: float) -> set[str]:
        """The reasons rung since the last wait, waiting up to ``timeout`` for one."""
        with self._cond:
            if not self._reasons:
                self._cond.wait(timeout)
            reasons, self._reasons = self._reasons, set()
        return reasons


@dataclass(frozen=True, slots=True)
class _Job:
    """A run for a thread: ``claimed`` from the queue (held here), else one to recover."""

    run: RunRecord
    claimed: bool


class WorkerPool:
    """``concurrency`` threads executing ``runner``'s queue until :meth:`close` (or
    ``stop`` is set and the pool closed). ``poll``: seconds between looks for submitted
    runs that nothing announced (the safety net under the store's watch). ``done`` is
    told each result; what fails (the database away) is reported through ``outage``
    and tried again."""

    def __init__(
        self,
        runner: WorkflowRunner,
        concurrency: int,
        stop: threading.Event,
        *,
        poll: float,
        done: Callable[[WorkflowResult], None],
        outage: Outage,
    ) -> None:
        self._queue: RunQueue = runner.queue
        self._runner = runner
        self._stop = stop
        self._poll = poll
        self._done = done
        self._outage = outage
        self._bell = _Bell()
        self._turn = threading.Condition()
        self._jobs: deque[_Job] = deque()  # handed over, each to an idle thread
        self._idle = 0
        self._looking = False
        self._backlog = False
        self._next_poll = self._next_recovery = 0.0
        store = runner.store
        if store is None:
            raise ValueError("a worker needs a runner with history (database_url=...)")
        self._watch = store.watch(self._bell.ring)
        self.threads = [
            threading.Thread(target=self._serve, name=f"spine-worker-{i}")
            for i in range(concurrency)
        ]
        for thread in self.threads:
            thread.start()

    def close(self) -> None:
        """Stop looking for work, wait for the runs in flight, stop watching."""
        self._stop.set()
        self._bell.ring("stop")
        with self._turn:
            self._turn.notify_all()
        for thread in self.threads:
            thread.join()
        self._watch.close()

    # -- a thread -------------------------------------------------------------------

    def _serve(self) -> None:
        job = self._next(None, None)
        while job is not None:
            job = self._next(*self._execute(job))

    def _execute(self, job: _Job) -> tuple[WorkflowResult | None, NextClaim | None]:
        """Execute ``job``; its result, and the claim made with its end (if any)."""
        queue = self._queue
        then = None
        try:
            if job.claimed:
                # This thread's next run is claimed with this one's end: one commit.
                on = not (self._stop.is_set() or self._recovery_due())
                then = queue.next_claim(1) if on else None
                result = queue.execute_claimed(job.run, at_once=True, then=then)
            else:
                result = queue.recover_run(job.run)
        except Exception as exc:  # the database away: the run is recovered later
            self._outage.failed(exc)
            result = None
        if result is not None:
            self._done(result)
        return result, then

    def _next(self, ended: WorkflowResult | None, then: NextClaim | None) -> _Job | None:
        """The next run for this thread (``ended``: the result of its last one, ``then``:
        the claim made with its end), or ``None`` when the worker stops."""
        if then is not None and then.made:
            self._backlog = bool(then.claimed)
            if then.claimed:  # (claimed, so executed even if the worker is stopping)
                return _Job(then.claimed[0], True)
        elif self._backlog and not (self._stop.is_set() or self._recovery_due()):
            job = self._claim_own()
            if job is not None:
                return job
        with self._turn:
            self._idle += 1
            if ended is not None and self._capped(ended.workflow_name):
                self._bell.ring(FREED)
            while True:
                if self._jobs:
                    self._idle -= 1
                    return self._jobs.popleft()
                if self._stop.is_set():
                    self._idle -= 1
                    return None
                if not self._looking:
                    self._looking = True
                    break
                self._turn.wait()
        return self._look()

    def _capped(self, workflow_name: str) -> bool:
        registry = self._runner.workflows
        return (
            workflow_name in registry
            and getattr(registry.get(workflow_name), "max_concurrent_runs", None) is not None
        )

    def _claim_own(self) -> _Job | None:
        """Under a backlog: the next submitted run, for this thread."""
        try:
            claimed = self._queue.claim(1)
        except Exception as exc:
            self._outage.failed(exc)
            claimed = []
        self._backlog = bool(claimed)
        return _Job(claimed[0], True) if claimed else None

    # -- the looker -----------------------------------------------------------------

    def _look(self) -> _Job | None:
        """As the looker: wait for work, take it for the idle threads, hand it over."""
        while True:
            # With a backlog (the last claim came back full), at once: more runs wait.
            wait = 0.0 if self._backlog else min(self._next_poll, self._next_recovery)
            reasons = self._bell.wait(max(wait - time.monotonic(), 0.0))
            found: list[_Job] = []
            if not self._stop.is_set():
                try:
                    found = self._find(reasons)
                except Exception as exc:  # nothing was claimed: look again later
                    self._outage.failed(exc)
                    self._stop.wait(FAILED_POLL_SECONDS)
                    continue
            if found or self._stop.is_set():
                with self._turn:
                    self._looking = False
                    self._idle -= 1
                    self._jobs.extend(found[1:])
                    self._turn.notify_all()
                return found[0] if found else None

    def _find(self, reasons: set[str]) -> list[_Job]:
        """Runs for the idle threads: first (once a second, or when told one is due) runs
        to recover, then submitted ones when told of some, under a backlog or at the
        slow poll."""
        now = time.monotonic()
        with self._turn:
            free = self._idle
        found = []
        if Wakeup.DUE in reasons or now >= self._next_recovery:
            # First: a backlog of submitted runs must not hold up runs whose owner died
            # or whose wait is over.
            self._next_recovery = now + RECOVERY_SECONDS
            found = [_Job(run, False) for run in self._queue.recoverable()[:free]]
        if len(found) < free and (reasons or self._backlog or now >= self._next_poll):
            self._next_poll = now + self._poll
            claimed = self._queue.claim(free - len(found))
            self._backlog = len(claimed) == free - len(found)
            found += [_Job(run, True) for run in claimed]
        self._outage.worked()
        return found

    def _recovery_due(self) -> bool:
        """Whether the look for runs to recover is due: then a thread that ends a run
        goes to the looker rather than claim its next run itself."""
        return time.monotonic() >= self._next_recovery
