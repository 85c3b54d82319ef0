"""Backfills: one run of a workflow per partition key, skipping the partitions whose
latest run completed or is still under way, so that repeating a backfill executes only
the partitions that failed or never ran."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from spine.core.errors import WorkflowValidationError
from spine.core.records import PartitionRun, partition_key
from spine.core.status import WorkflowStatus

if TYPE_CHECKING:
    from spine.orchestration.results import WorkflowResult
    from spine.orchestration.workflow import Workflow
    from spine.orchestration.workflow_runner import WorkflowRunner

SKIPPED_STATUSES = frozenset({
    WorkflowStatus.COMPLETED, WorkflowStatus.PENDING, WorkflowStatus.RUNNING,
    WorkflowStatus.WAITING,
})  # fmt: skip
"""A partition whose latest run has one of these is not run again (unless forced)."""

MAX_PARTITIONS = 100_000
"""More keys than this is taken for a mistake in a range (a year of days is 366)."""


def expand(spec: Mapping[str, str | Sequence[Any]]) -> list[dict[str, Any]]:
    """Partition keys from ``{"day": "2026-01-01..2026-01-31", "region": "eu,us"}``: per
    key an inclusive range of ISO dates or of integers (``a..b``), a comma list, or a
    list of values; several keys give every combination, in the order given."""
    columns = [[(key, value) for value in _values(key, text)] for key, text in spec.items()]
    total = 1
    for column in columns:
        total *= len(column)
    if total > MAX_PARTITIONS:
        raise _bad(f"{total} partitions; at most {MAX_PARTITIONS} in one backfill")
    return [dict(combination) for combination in itertools.product(*columns)]


def _values(key: str, text: str | Sequence[Any]) -> list[Any]:
    if not isinstance(text, str):
        return list(text)
    if ".." not in text:
        return [part.strip() for part in text.split(",") if part.strip()]
    first, last = (part.strip() for part in text.split("..", 1))
    values = _integers(first, last)
    if values is None:
        values = _days(first, last)
    if values is None:
        raise _bad(f"{key}={text!r}: a range is of integers or of ISO dates")
    if not values:
        raise _bad(f"{key}={text!r}: the range ends before it starts")
    if len(values) > MAX_PARTITIONS:
        raise _bad(f"{key}={text!r}: more than {MAX_PARTITIONS} values")
    return values


def _integers(first: str, last: str) -> list[Any] | None:
    try:
        low, high = int(first), int(last)
    except ValueError:
        return None
    return list(range(low, min(high, low + MAX_PARTITIONS) + 1))


def _days(first: str, last: str) -> list[Any] | None:
    try:
        start, end = date.fromisoformat(first), date.fromisoformat(last)
    except ValueError:
        return None
    count = min((end - start).days + 1, MAX_PARTITIONS + 1)
    return [(start + timedelta(days=n)).isoformat() for n in range(count)]


def _bad(text: str) -> WorkflowValidationError:
    return WorkflowValidationError(f"backfill partitions: {text}", field="partition")


@dataclass
class Backfill:
    """What a backfill did: each partition's run, or why it was skipped."""

    skipped: list[PartitionRun] = field(default_factory=list)
    """The latest runs of the partitions left alone (completed or under way)."""
    results: list[WorkflowResult] = field(default_factory=list)
    """The runs executed now, in the order of their partitions."""
    queued: list[str] = field(default_factory=list)
    """The ids of the runs submitted (``queue=True``)."""

    @property
    def failed(self) -> list[WorkflowResult]:
        return [r for r in self.results if r.status != WorkflowStatus.COMPLETED]


def backfill(
    runner: WorkflowRunner,
    workflow: Workflow,
    partitions: Iterable[Mapping[str, Any]],
    *,
    params: Mapping[str, Any] | None = None,
    concurrency: int = 1,
    force: bool = False,
    queue: bool = False,
    on_run: Callable[[WorkflowResult], None] | None = None,
) -> Backfill:
    """Run ``workflow`` once per partition, ``concurrency`` at a time (or submit them
    all with ``queue``); see :meth:`WorkflowRunner.backfill`."""
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise WorkflowValidationError(
            f"workflow {workflow.name!r}: concurrency must be an integer >= 1, got "
            f"{concurrency!r}", workflow=workflow.name, field="concurrency",
        )  # fmt: skip
    store = runner.store
    if store is None:
        raise WorkflowValidationError(
            f"workflow {workflow.name!r}: a backfill needs run history to know which "
            "partitions ran: create the runner with database_url=...",
            workflow=workflow.name,
        )
    latest = {partition_key(p.partition): p for p in store.latest_partitions(workflow.name)}
    done = Backfill()
    todo: list[Mapping[str, Any]] = []
    for partition in {partition_key(p): p for p in partitions}.values():
        previous = latest.get(partition_key(partition))
        if not force and previous is not None and previous.status in SKIPPED_STATUSES:
            done.skipped.append(previous)
        else:
            todo.append(partition)
    if queue:
        done.queued = [runner.submit(workflow, params, p, triggered_by="backfill") for p in todo]
        return done

    def run(partition: Mapping[str, Any]) -> WorkflowResult:
        result = runner.execute(workflow, params, partition, triggered_by="backfill")
        if on_run is not None:
            on_run(result)
        return result

    with ThreadPoolExecutor(concurrency, thread_name_prefix="spine-backfill") as pool:
        done.results = list(pool.map(run, todo))
    return done
