"""The worker threads that execute the run queue: ``spine worker``'s, and those
``spine ui`` embeds."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

from spine.cli.schedules import firing_schedules

if TYPE_CHECKING:
    from spine.core.outage import Outage
    from spine.orchestration import WorkflowRunner

CLAIM_BATCH = 8
"""Most submitted runs one worker thread claims at once, with a backlog."""
RECOVERY_SECONDS = 1.0
"""How often a worker looks for runs whose process died and waits that are due."""
FAILED_POLL_SECONDS = 1.0
"""How long a worker thread waits after a look for work failed (the database retries
a lost connection itself; what reaches the worker outlasted that)."""


@contextmanager
def working(
    runner: WorkflowRunner, stop: threading.Event, concurrency: int, poll: float
) -> Iterator[list[threading.Thread]]:
    """Execute submitted runs, recover dead and due ones and fire due schedules with
    ``concurrency`` threads over ``runner`` until ``stop`` is set; the block's end sets
    it and waits for the steps in flight (each thread stops at its next look for work).
    """
    from spine.core.outage import Outage

    with firing_schedules(runner, stop):
        # One report for all threads: an outage is one line, not one per thread.
        outage = Outage(lambda line: click.echo(f"worker: {line}", err=True))
        threads = [
            threading.Thread(
                target=_work, args=(runner, stop, poll, outage), name=f"spine-worker-{i}"
            )
            for i in range(concurrency)
        ]
        for thread in threads:
            thread.start()
        try:
            yield threads
        finally:
            stop.set()
            for thread in threads:
                thread.join()


def _work(runner: WorkflowRunner, stop: threading.Event, poll: float, outage: Outage) -> None:
    """One worker thread: execute runs until ``stop`` is set; what fails is reported
    through ``outage`` and tried again, however long the database is away."""
    next_recovery = 0.0
    batch = 1
    while not stop.is_set():
        # Submitted runs back to back while there are any, looking for new ones
        # every --poll seconds (one cheap claim query); runs whose process died
        # and waits that are due once a second. While claims come back full (a
        # backlog) they take more runs at once, up to CLAIM_BATCH: fewer claim
        # round trips, while a short queue still spreads one run per worker.
        try:
            done = runner.run_pending(limit=batch)
            batch = min(batch * 2, CLAIM_BATCH) if len(done) == batch else 1
            if not done and time.monotonic() >= next_recovery:
                next_recovery = time.monotonic() + RECOVERY_SECONDS
                done = runner.recover()
        except Exception as exc:  # a database outage must not end the worker
            outage.failed(exc)
            stop.wait(FAILED_POLL_SECONDS)
            continue
        outage.worked()
        for result in done:
            click.echo(f"{result.run_id} {result.workflow_name}: {result.status}")
        if not done:
            stop.wait(poll)
