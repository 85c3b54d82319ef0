"""The worker threads that execute the run queue: ``spine worker``'s, and those
``spine ui`` embeds."""

from __future__ import annotations

import threading
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
