"""``SqlStore``: the runner's history of runs and steps, on SQLite or PostgreSQL.

It implements :class:`spine.orchestration.history.HistoryStore` over a
:class:`~spine.store.database.Database`; what differs between backends is asked of
the database's dialect, and rows become records through :mod:`spine.store.codec`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from functools import cached_property
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Integer,
    Table,
    and_,
    bindparam,
    exists,
    literal_column,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql import column
from sqlalchemy.sql import table as table_clause
from sqlalchemy.sql.expression import TableClause

from spine.core.errors import LeaseLostError, StoreError
from spine.core.records import (
    ItemRecord,
    ItemRows,
    Lease,
    NextClaim,
    RunRecord,
    SignalRecord,
    StepRecord,
)
from spine.core.status import LIVE_STATUSES, Wakeup, WorkflowStatus
from spine.framework.alerts import DeliveryLog
from spine.store.alert_log import SqlDeliveryLog
from spine.store.cancel import cancel_run
from spine.store.codec import (
    ITEM_COLUMNS,
    ITEM_END_COLUMNS,
    STEP_COLUMNS,
    end_values,
    iso,
    item_rows,
    new_run_values,
    step_row,
    step_values,
)
from spine.store.conditions import held_by
from spine.store.database import Closing, Database
from spine.store.leases import RunLeases
from spine.store.many_rows import ManyRows
from spine.store.requeue import requeue_run
from spine.store.run_reads import RunReads
from spine.store.schema import runs, signals, steps
from spine.store.signals import send_signal, signals_of, take_signal
from spine.store.wakeups import Wake, Watch

_PRUNE_CHUNK = 500
"""Run ids per DELETE: well under every backend's limit on bound parameters."""


def _just(table: Table, columns: tuple[str, ...]) -> TableClause:
    """``table`` with just ``columns``: an INSERT into it binds those and no others (the
    table's Python-side defaults would add theirs, which SQLAlchemy fills in per row)."""
    return table_clause(table.name, *[column(name, table.c[name].type) for name in columns])


def _hold(conn: Connection, parent: str, lease: Lease, what: str) -> None:
    """Make sure ``lease`` still holds run ``parent`` (whose map items are written) until
    the transaction of ``conn`` commits; else ``LeaseLostError`` saying ``what`` ("...
    was") not recorded. A no-op write that matches only while the lease holds: on
    PostgreSQL it locks the map's run's row (a takeover waits for this commit); SQLite
    is locked whole."""
    hold = (
        update(runs)
        .where(runs.c.run_id == parent, *held_by(lease.owner_id, lease.epoch))
        .values(lease_epoch=runs.c.lease_epoch)
    )
    if conn.execute(hold).rowcount != 1:
        raise LeaseLostError(parent, f"{what} not recorded")


class SqlStore(RunLeases, RunReads, Closing):
    """History in one SQL database; the schema is created or migrated on open.

    ``database`` is the open :class:`~spine.store.database.Database`; the schedule
    store and the alert delivery log can share it (``SqlScheduleStore(store)``).
    Close the store when done (or open it in a ``with`` block).
    """

    def __init__(self, database_url: str, *, retry_seconds: float | None = None) -> None:
        self.database = Database(database_url, retry_seconds=retry_seconds)
        self.engine = self.database.engine
        self.where = self.database.where
        self.url = database_url
        self._dialect = self.database.dialect
        self._insert_step = self.database.prepare(self._dialect.insert_new(steps))
        self._claim_lock = threading.Lock()
        self._last_claim = 0
        # A step's row goes in unless its run was asked to stop: how many rows went in
        # tells the step loop whether it may start the next step, with no statement of
        # its own (a RETURNING of the flag costs more on both backends).
        asked = exists().where(
            runs.c.run_id == bindparam("run_id"), runs.c.cancel_requested != literal_column("0")
        )
        row = select(*[bindparam(c.name, type_=c.type) for c in steps.c])
        columns = [c.name for c in steps.c]
        self._insert_step_unless_asked = self.database.prepare(
            self._dialect.insert_new(steps).from_select(columns, row.where(~asked))
        )
        # The same, fenced: only while the run's row still names this lease (a holder
        # whose run was taken over writes nothing more).
        this_run = (runs.c.run_id == bindparam("run_id"), *held_by(bindparam("fence_owner"),
                    bindparam("fence_epoch", type_=Integer)))  # fmt: skip
        held = exists().where(*this_run)
        # (One look at the run's row for both: two subqueries cost a step 10% on W4.) The
        # look share-locks the row on PostgreSQL, so a cancel's UPDATE waits for this
        # statement to commit: the cancel then reads this row and names the step it lets
        # start as in flight, truthfully. (SQLite runs one writer at a time anyway.)
        held_unasked = (
            select(literal_column("1"))
            .where(*this_run, runs.c.cancel_requested == literal_column("0"))
            .with_for_update(read=True)
            .exists()
        )
        self._insert_held_unless_asked = self.database.prepare(
            self._dialect.insert_new(steps).from_select(columns, row.where(held_unasked))
        )
        self._insert_held = self.database.prepare(
            self._dialect.insert_new(steps).from_select(columns, row.where(held))
        )
        fence = ("run_id", "fence_owner", "fence_epoch")
        for prepared, then in ((self._insert_step, ()), (self._insert_step_unless_asked,
                               ("run_id",)), (self._insert_held_unless_asked, fence),
                               (self._insert_held, fence)):  # fmt: skip
            if prepared.positions != (*STEP_COLUMNS, *then):
                raise RuntimeError(f"a step row's statement binds {prepared.positions}")

    # -- writing ----------------------------------------------------------------

    def create_run(self, run: RunRecord, rows: Sequence[StepRecord] = ()) -> str:
        """Store a new run's row; returns its id, or, when another run of the workflow
        holds ``run.idempotency_key``, that run's id (and stores nothing). ``rows``:
        step rows it starts with (a fork's, copied), stored in the same transaction."""
        values = new_run_values(run)
        copied = [step_values(row) for row in rows]
        # (SQLAlchemy counts an INSERT's rows only when asked.)
        insert = self._dialect.insert_new(runs).values(**values)
        insert = insert.execution_options(preserve_rowcount=True)
        # What tells this very row from another run's with the same id: the owner and
        # start of a run its creator holds; of a submitted one, which a worker may have
        # claimed since (setting both), what no later write changes.
        fixed: tuple[Column[Any], ...] = (runs.c.owner_id, runs.c.started_at)
        if run.owner is None:
            fixed = (runs.c.workflow_name, runs.c.definition_hash, runs.c.params,
                     runs.c.triggered_by, runs.c.schedule_id)  # fmt: skip
        ours = tuple(values[column.name] for column in fixed)

        queued = run.status == WorkflowStatus.PENDING and run.parent_run_id is None
        keyed = (runs.c.workflow_name == run.workflow_name,
                 runs.c.idempotency_key == run.idempotency_key)  # fmt: skip

        def record(conn: Connection) -> str:
            if conn.execute(insert).rowcount == 1:
                if copied:
                    conn.execute(self._dialect.insert_new(steps), copied)
                if queued:
                    self._dialect.announce(conn, Wakeup.PENDING)
                return run.run_id
            if run.idempotency_key is not None:
                # The key is taken (the unique index let nothing in): by this very row
                # if an earlier try committed unanswered, else by the run to answer with.
                holder = conn.execute(select(runs.c.run_id).where(*keyed)).scalar()
                if holder is not None:
                    return str(holder)
            # The id is taken: by this very row if an earlier try committed unanswered,
            # else by another run.
            found = conn.execute(select(*fixed).where(runs.c.run_id == run.run_id)).first()
            if found is None or tuple(found) != ours:
                raise StoreError(
                    f"cannot record run {run.run_id} in {self.where}: another run has this id"
                )
            return run.run_id

        return self.database.transaction(f"record run {run.run_id}", record)

    def record_step(self, step: StepRecord, lease: Lease | None = None) -> bool:
        """Store a step's row; returns whether its run was asked to stop. With
        ``lease``, only while it holds the run (else ``LeaseLostError``)."""
        action = f"record step {step.step_name!r} of run {step.run_id}"
        # (Values in the statements' order: the step's columns, then the run's id and
        # the fence, as __init__ checked.)
        row = step_row(step)
        if lease is None:
            first, then = self._insert_step_unless_asked, self._insert_step
            values, again = (*row, step.run_id), row
        else:
            first, then = self._insert_held_unless_asked, self._insert_held
            values = again = (*row, step.run_id, lease.owner_id, lease.epoch)
        if self.database.execute(action, first, values):
            return False
        # Asked to stop: the step ran all the same, so its row is kept. (No row at all
        # went in when a try whose answer was lost had written it, or when the run is
        # no longer this owner's.)
        if self.database.execute(action, then, again):
            return True
        self._check_own_row(step)
        return self.cancel_requested(step.run_id)

    def _check_own_row(self, step: StepRecord) -> None:
        """A step row that was there already: this writer's own (a try whose answer was
        lost had committed it), or another process's, which took this run over while
        this one was cut off or frozen: then this process must not go on with it."""
        key = f"{step.run_id}:{step.step_order}:{step.attempt}"
        read = select(steps.c.started_at, steps.c.completed_at).where(steps.c.step_id == key)
        found = self.database.statement(
            f"read step {step.step_name!r} of run {step.run_id}",
            lambda conn: conn.execute(read).first(),
        )
        if found is None or tuple(found) != (iso(step.started_at), iso(step.completed_at)):
            raise LeaseLostError(
                step.run_id,
                f"step {step.step_name!r} (execution {step.step_order}, attempt "
                f"{step.attempt}) was not recorded",
            )

    def set_status(
        self,
        run_id: str,
        status: str,
        *,
        wake_at: float | None = None,
        lease: Lease | None = None,
        awaiting_signal: str | None = None,
    ) -> None:
        """Set an executing run's status (waiting, running again, given back) and the
        signal it waits for, if any; with ``lease``, only while it holds the run (else
        ``LeaseLostError``)."""
        self._update_held(run_id, lease, f"its status {status}", status=status,
                          wake_at=iso(wake_at), awaiting_signal=awaiting_signal)  # fmt: skip

    def record_map_size(self, run_id: str, total: int, lease: Lease | None = None) -> None:
        self._update_held(run_id, lease, "its map's size", items_total=total)

    def _update_held(self, run_id: str, lease: Lease | None, what: str, **values: Any) -> None:
        """Set columns of run ``run_id``; with ``lease``, only while it holds the run
        (else ``LeaseLostError`` saying ``what`` was not recorded)."""
        this_run = runs.c.run_id == run_id
        if lease is not None:
            this_run = and_(this_run, *held_by(lease.owner_id, lease.epoch))
        change = update(runs).where(this_run).values(**values)
        # (A try whose answer was lost finds the row as it left it: still held, a match.)
        changed = self.database.statement(
            f"update run {run_id}", lambda conn: conn.execute(change).rowcount
        )
        if lease is not None and changed != 1:
            raise LeaseLostError(run_id, f"{what} was not recorded")

    def finish_run(
        self,
        run: RunRecord,
        last_step: StepRecord | None = None,
        lease: Lease | None = None,
        then: NextClaim | None = None,
    ) -> bool:
        """Store how the run ended, with its last step's row; ``False`` (only the step's
        row stored) when it was asked to stop and did not end ``CANCELLED``. With
        ``lease``, only while it holds the run (else ``LeaseLostError``). ``then``: claim
        submitted runs in the same commit (a worker's next run), as ``claim_pending``
        does, at the run's end time."""
        step = None if last_step is None else step_values(last_step)
        end = end_values(run)
        claim = None
        if then is not None:
            now = self._claim_time(run.completed_at or time.time())
            claim = (then.owner, now, then.workflow_names, then.limit, then.caps)
        try:
            ended, rows = self._dialect.finish_run(run.run_id, end, step, lease, claim)
        except StoreError as exc:
            if last_step is None or step is None or not self._conflict(exc):
                raise
            # The last step's row was there already: this writer's own (a try whose
            # answer was lost committed it with the run's end) or another process's
            # (which took the run over: then this one stops).
            self._check_own_row(last_step)
            ended = self._dialect.finish_run(run.run_id, end, None, lease)[0]
            # The try that committed may have claimed runs too: they are this worker's.
            rows = [] if claim is None else self._dialect.claimed_at(claim[0], claim[1])
        if then is not None and claim is not None:
            then.claimed, then.made = self._claimed(rows, then.owner, claim[1]), True
        if not ended and lease is not None:
            self.cancel_requested(run.run_id, lease, "its end was not recorded")
        return ended

    def _conflict(self, exc: StoreError) -> bool:
        """Whether ``exc`` was a key already taken (raised by SQLAlchemy or, on the fast
        path, by the driver itself)."""
        driver = self.engine.dialect.loaded_dbapi.IntegrityError
        return isinstance(exc.__cause__, IntegrityError | driver)

    def save_items(self, items: Sequence[ItemRecord], lease: Lease | None = None) -> None:
        """Store map items of one map (see :meth:`save_rows`)."""
        if items:
            first = items[0].run
            rows = [item_rows(item) for item in items]
            self.save_rows(first.parent_run_id or "", first.parent_step or "", rows, lease)

    def item_rows(self, item: ItemRecord) -> ItemRows:
        """An item's rows as :meth:`save_rows` writes them (see ``codec.item_rows``)."""
        return item_rows(item)

    def save_rows(
        self,
        parent_run_id: str,
        parent_step: str,
        rows: Sequence[ItemRows],
        lease: Lease | None = None,
    ) -> None:
        """Store items of the map step execution ``parent_step`` of run ``parent_run_id``
        that ended (or, ``RUNNING``, the rows of items that run), each with its step
        rows, in one transaction; with ``lease`` (the map's run's), only while it holds
        that run (else ``LeaseLostError``). Rows there already stay as they are (a try
        whose answer was lost may have written them)."""
        if not rows:
            return
        new = [row for fresh, row, _ in rows if fresh]
        ended = [row for fresh, row, _ in rows if not fresh]
        step_rows = [step for _, _, item_steps in rows for step in item_steps]
        what = f"the items of map {parent_step!r}"

        def save(conn: Connection) -> None:
            if lease is not None:
                _hold(conn, parent_run_id, lease, f"{what} were")
            # Straight to the driver, with statements compiled once; new rows many to a
            # statement (a call of the driver per row would give up Python's lock per row).
            insert_runs, end_item, insert_steps = self._item_statements
            insert_runs.run(conn, new)
            if ended:
                conn.exec_driver_sql(end_item.sql, [end_item.reorder(row) for row in ended])
            insert_steps.run(conn, step_rows)

        self.database.transaction(f"record {what}", save)

    @cached_property
    def _item_statements(self) -> tuple[ManyRows, ManyRows, ManyRows]:
        """The statements of :meth:`save_rows`: a new item's run row, an item's end, a
        step row."""
        insert_new = self._dialect.insert_new
        this_run = runs.c.run_id == bindparam("run_id")
        end: dict[str, Any] = {c: bindparam(c) for c in ITEM_END_COLUMNS if c != "run_id"}
        prepare, as_json = self.database.prepare, self._dialect.rows_as_json()
        new_runs = prepare(insert_new(_just(runs, ITEM_COLUMNS)))
        new_steps = prepare(insert_new(_just(steps, STEP_COLUMNS)))
        ends = prepare(update(runs).where(this_run).values(end))
        return (
            ManyRows(new_runs, ITEM_COLUMNS, as_json=as_json),
            ManyRows(ends, ITEM_END_COLUMNS, as_json=False),
            ManyRows(new_steps, STEP_COLUMNS, as_json=as_json),
        )

    def send_signal(self, run_id: str, signal_name: str, payload_json: str, now: float) -> None:
        """Keep a signal for a run (see :func:`spine.store.signals.send_signal`)."""
        send_signal(self.database, run_id, signal_name, payload_json, now)

    def take_signal(
        self, run_id: str, signal_name: str, now: float, lease: Lease | None = None
    ) -> str | None:
        """Consume a kept signal (see :func:`spine.store.signals.take_signal`)."""
        return take_signal(self.database, run_id, signal_name, now, lease)

    def signals(self, run_id: str) -> list[SignalRecord]:
        """The signals sent to a run, oldest first."""
        return signals_of(self.database, run_id)

    def watch(self, wake: Wake) -> Watch:
        """A thread calling ``wake`` when a run may have become claimable (see
        :mod:`spine.store.wakeups`); close it when done."""
        return self._dialect.watch(wake)

    def cancel(self, run_id: str, now: float) -> str:
        """Cancel a run (see :func:`spine.store.cancel.cancel_run`)."""
        return cancel_run(self.database, run_id, now)

    def withdraw_cancel(self, run_id: str) -> None:
        """Take back the request to stop a live run (see ``spine run``'s second Ctrl-C)."""
        withdraw = (
            update(runs)
            .where(runs.c.run_id == run_id, runs.c.status.in_(sorted(LIVE_STATUSES)))
            .values(cancel_requested=0)
        )
        self.database.statement(f"update run {run_id}", lambda conn: conn.execute(withdraw))

    def requeue(self, expected: RunRecord) -> bool:
        """Resume an ended run through the queue (see :func:`spine.store.requeue.requeue_run`)."""
        return requeue_run(self.database, expected)

    def cancel_requested(
        self, run_id: str, lease: Lease | None = None, lost: str = "nothing more of it starts here"
    ) -> bool:
        """Whether run ``run_id`` was asked to stop; with ``lease``, ``LeaseLostError``
        (saying ``lost``) once it no longer holds the run (it was taken over)."""
        asked, holder = self._dialect.run_flags(run_id)
        if lease is not None and holder != lease:
            raise LeaseLostError(run_id, lost)
        return asked

    # -- housekeeping -------------------------------------------------------------

    def prune(self, before: float) -> int:
        """Delete runs that ended before ``before`` (never a pending, running or waiting
        one), with their steps and map items; returns how many runs went. The schedule
        store and the delivery log prune their own tables."""
        ended = and_(
            runs.c.status.not_in(sorted(LIVE_STATUSES)),
            runs.c.completed_at.is_not(None),
            runs.c.completed_at < iso(before),
        )

        def prune(conn: Connection) -> int:
            old = [r.run_id for r in conn.execute(select(runs.c.run_id).where(ended))]
            doomed = list(old)
            frontier = list(old)
            while frontier:  # map items, and their items
                children = [
                    r.run_id
                    for r in conn.execute(
                        select(runs.c.run_id).where(runs.c.parent_run_id.in_(frontier))
                    )
                ]
                doomed.extend(children)
                frontier = children
            for start in range(0, len(doomed), _PRUNE_CHUNK):
                chunk = doomed[start : start + _PRUNE_CHUNK]
                conn.execute(steps.delete().where(steps.c.run_id.in_(chunk)))
                conn.execute(signals.delete().where(signals.c.run_id.in_(chunk)))
                conn.execute(runs.delete().where(runs.c.run_id.in_(chunk)))
            return len(old)

        return self.database.transaction("prune old runs", prune)

    def delivery_log(self) -> DeliveryLog:
        """The alert delivery log in this database (table ``alert_deliveries``), on its
        connections: closing the log leaves this store open."""
        return SqlDeliveryLog.sharing(self)

    def close(self) -> None:
        self.database.close()
