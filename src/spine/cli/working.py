"""The worker threads that execute the run queue: ``spine worker``'s, and those
``spine ui`` embeds."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

from spine.cli.schedules import firing_schedules

if TYPE_CHECKING:
    from spine.orchestration import WorkflowResult, WorkflowRunner

POLL_SECONDS = 1.0
"""How often an idle worker looks for submitted runs that nothing announced: a submit
wakes workers at once (see :mod:`spine.store.wakeups`), so this is only the safety net."""


class StopSignals:
    """SIGTERM and Ctrl-C, noted by their handlers for the main thread's loop to act on.

    A handler runs in the main thread between two of its bytecodes, possibly inside a
    lock the main thread holds: the one of the event it waits on, when ``stop.set()``
    was the handler (a worker stuck that way, found ignoring SIGTERM for minutes). So
    the handler only appends to a list; :meth:`wait` sets the event."""

    def __init__(self) -> None:
        self.received: list[int] = []
        signal.signal(signal.SIGTERM, self._note)
        signal.signal(signal.SIGINT, self._note)

    def _note(self, signum: int, frame: object) -> None:
        self.received.append(signum)

    def wait(self, stop: threading.Event, every: float = 0.2) -> None:
        """Return once a signal came (or ``stop`` was set), ``stop`` set."""
        while not self.received and not stop.is_set():
            time.sleep(every)
        stop.set()


@contextmanager
def working(
    runner: WorkflowRunner, stop: threading.Event, concurrency: int, poll: float
) -> Iterator[list[threading.Thread]]:
    """Execute submitted runs, recover dead and due ones and fire due schedules with
    ``concurrency`` threads over ``runner`` until ``stop`` is set (see
    :mod:`spine.orchestration.workers`; ``poll``: seconds between looks for submitted
    runs nobody announced); the block's end sets it and waits for the runs in flight.
    """
    from spine.core.outage import Outage
    from spine.orchestration.workers import WorkerPool

    def done(result: WorkflowResult) -> None:
        click.echo(f"{result.run_id} {result.workflow_name}: {result.status}")

    with firing_schedules(runner, stop):
        # One report for all threads: an outage is one line, not one per thread.
        outage = Outage(lambda line: click.echo(f"worker: {line}", err=True))
        pool = WorkerPool(runner, concurrency, stop, poll=poll, done=done, outage=outage)
        try:
            yield pool.threads
        finally:
            pool.close()
