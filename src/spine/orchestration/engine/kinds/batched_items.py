"""The items of a map step with history that run in this process (inline or on a
thread pool): each runs with its rows captured, and they are stored in batches.

An item's run row and step rows go in together, with other items', in one transaction
that the map's run's lease fences (as a remote map stores its chunks). A writer thread
writes a batch once it holds :data:`CHUNK` items (while the items go on: the database's
share of the work runs beside them), and every :data:`EVERY` seconds what is pending
and the row of each item running that long (``RUNNING``, so that its map's progress
counts it in flight); an item that ran :data:`SLOW` seconds or more is written by its
own thread before it takes another (a write costs little beside it). Once its rows are
written, an item keeps only its result (what the map's output and ``child_runs`` hold).

After a crash, an item whose rows were written is not run again; one that ran but was
not yet written runs again (at least once, as a step does). Items still unwritten are
known here: a retry of a map step whose earlier attempt timed out (and left items
running here) does not start them again, it fails them for that attempt; one that
attempt writes meanwhile is read back and taken as stored.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

from spine.core.records import ItemRecord, ItemRows, Lease, RunRecord
from spine.orchestration.engine.kinds.items import ended, item_result, still_running
from spine.orchestration.flow import plan_for

if TYPE_CHECKING:
    from spine.execution.context import ExecutionContext
    from spine.orchestration.engine.services import ChildRuns
    from spine.orchestration.results import WorkflowResult
    from spine.orchestration.workflow import Workflow
    from spine.orchestration.workflow_context import WorkflowContext

CHUNK = 256
"""Items written in one transaction by a map that runs fast."""

LIMIT = 4 * CHUNK
"""Most items kept unwritten: past it, items wait for the writer."""

SLOW = 0.1
"""An item that ran this long (seconds) is written at once, with whatever is pending.
(Not much less: under a busy map's contention for Python's lock, an item of
microseconds may take tens of milliseconds now and then.)"""

EVERY = 0.1
"""How often (seconds) the watchdog writes what is pending and the rows of items running
longer: how long a map's progress may lag behind its items."""

ChildContext = Callable[[int, Any, "Mapping[str, Any] | None"], "WorkflowContext"]

_open: dict[tuple[str, str], list[BatchedItems]] = {}
"""Maps executing here with items not all written, by (run id, map step execution)."""
_open_lock = threading.Lock()


@dataclass(slots=True)
class _Running:
    row: RunRecord
    began: float
    """When it started (``time.monotonic``)."""
    stored: bool = False
    """Its row was written (``RUNNING``) while it ran: its end updates that row."""


class BatchedItems:
    """One execution of a map step's items with history, in this process; a context
    manager: leaving it stops the writer thread and writes what is left."""

    def __init__(
        self,
        run_id: str,
        children: ChildRuns,
        workflow: Workflow,
        key: str,
        parent: ExecutionContext,
        lease: Lease | None,
        base_params: Mapping[str, Any],
        item_param: str,
        child_context: ChildContext,
    ) -> None:
        self.run_id = run_id
        """The map's run."""
        self.children = children
        self.workflow = workflow
        self.plan = plan_for(workflow)
        self.key = key
        self.parent = parent
        self.lease = lease
        self.base_params = base_params
        self.item_param = item_param
        self.child_context = child_context
        self.failure: BaseException | None = None
        """Why a write failed: no item starts after it."""
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        """The writer waits on it for a batch, items on it for room."""
        self._pending: list[tuple[int, ItemRows]] = []
        self._due = False
        self._closing = False
        self._running: dict[int, _Running] = {}
        self._unwritten: set[int] = set()
        self._write = threading.Lock()  # one batch at a time: a RUNNING row goes in first
        self._writer: threading.Thread | None = None
        self._others: list[BatchedItems] = []
        # Items an earlier attempt of this map step left running or unwritten here: one
        # may be written after ``earlier`` is read (taken before it, so none is missed).
        with _open_lock:
            others = list(_open.get((run_id, key), []))
        self._maybe_written: set[int] = set()
        for other in others:
            with other._lock:
                self._maybe_written.update(other._unwritten)
        self.earlier = children.earlier(run_id, key)

    def __enter__(self) -> BatchedItems:
        with _open_lock:
            siblings = _open.setdefault((self.run_id, self.key), [])
            self._others = list(siblings)  # earlier attempts' items that still run here
            siblings.append(self)
        self._writer = threading.Thread(
            target=self._write_all, name=f"spine-map-{self.key}", daemon=True
        )
        self._writer.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        with self._lock:
            self._closing = True
            self._wake.notify_all()
        if self._writer is not None:
            self._writer.join()
        try:
            if exc is None:
                self.flush()
            else:
                # What ran is written if it still can be (a lost lease refuses it).
                with suppress(Exception):
                    self.flush()
        finally:
            with _open_lock:
                siblings = _open[(self.run_id, self.key)]
                siblings.remove(self)
                if not siblings:
                    del _open[(self.run_id, self.key)]

    def run_item(self, index: int, item: Any) -> WorkflowResult:
        """Run item ``index`` (or take it as stored), its rows to be written with others."""
        if self.failure is not None:
            raise self.failure
        record = self.earlier.get(index)
        if record is None and index in self._maybe_written and not self._elsewhere(index):
            # Written by that attempt since: it is taken as stored, not run twice.
            record = self.children.earlier(self.run_id, self.key, index).get(index)
        if record is not None and not self._elsewhere(index):
            return self.children.continue_item(self.workflow, record, self.base_params)
        ctx = self.child_context(index, item, self.base_params)
        # Its row keeps only the params it adds, not a copy of the map's params (which
        # often hold the whole list of items) per item.
        own = {self.item_param: item, "item_index": index}
        row = self.children.item_record(
            self.workflow, self.plan, ctx, self.parent, self.key, index, own
        )
        if self._elsewhere(index):
            return item_result(still_running(record or row), self.base_params)
        running = _Running(row, time.monotonic())
        with self._lock:
            self._running[index] = running
            self._unwritten.add(index)
        try:
            result, capture = self.children.run_captured(self.workflow, ctx)
        finally:
            with self._lock:
                del self._running[index]
        slow = time.monotonic() - running.began >= SLOW
        if capture.end is None:
            raise RuntimeError(f"item {index} of {self.workflow.name!r} ended without a result")
        end = ended(row, capture.end, row.started_at)
        rows = self.children.rows(ItemRecord(end, capture.steps, not running.stored))
        with self._lock:
            self._pending.append((index, rows))
            if len(self._pending) >= CHUNK and not self._due:
                self._due = True
                self._wake.notify_all()
            # Items that run faster than their rows are written wait for the writer.
            while len(self._pending) >= LIMIT and self.failure is None:
                self._wake.wait()
        if slow:
            self.flush()
        return result

    def _elsewhere(self, index: int) -> bool:
        """Whether an earlier attempt of this map step still runs item ``index`` here
        (it timed out, and its items were left to end)."""
        return bool(self._others) and any(index in o._unwritten for o in self._others)

    def flush(self, *, running_for: float | None = None) -> None:
        """Write the items that ended (and, with ``running_for``, the rows of items
        running at least that long), in one transaction; a failure is kept in
        :attr:`failure` and raised."""
        with self._write:
            with self._lock:
                if self.failure is not None:
                    raise self.failure
                batch, self._pending = self._pending, []
                self._wake.notify_all()  # (items waiting for room)
                started = []
                if running_for is not None:
                    since = time.monotonic() - running_for
                    for running in self._running.values():
                        if not running.stored and running.began <= since:
                            running.stored = True
                            # (Its row as it runs: the item changes it only once it
                            # has left self._running.)
                            started.append(self.children.rows(ItemRecord(running.row, [], True)))
            if not batch and not started:
                return
            try:
                rows = [*(rows for _, rows in batch), *started]
                self.children.save(self.run_id, self.key, rows, self.lease)
            except BaseException as exc:
                with self._lock:
                    self.failure = exc
                    self._wake.notify_all()
                raise
            with self._lock:
                self._unwritten.difference_update(index for index, _ in batch)

    def _write_all(self) -> None:
        """The writer thread: a batch once :data:`CHUNK` items are pending, else what
        there is every :data:`EVERY` seconds; until the map ends (which writes the
        rest) or a write fails (the items then raise its error)."""
        while True:
            with self._lock:
                if not self._due and not self._closing:
                    self._wake.wait(EVERY)
                if self._closing:
                    return
                self._due = False
            try:
                self.flush(running_for=EVERY)
            except Exception:
                return
