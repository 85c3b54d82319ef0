"""``SqlStore``: the runner's history of runs and steps, on SQLite or PostgreSQL.

It implements :class:`spine.orchestration.history.HistoryStore` over a
:class:`~spine.store.database.Database`; what differs between backends is asked of
the database's dialect, and rows become records through :mod:`spine.store.codec`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Integer,
    Select,
    and_,
    bindparam,
    case,
    exists,
    func,
    literal_column,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from spine.core.errors import LeaseLostError, RunNotFoundError, StoreError
from spine.core.jsonvalue import decode
from spine.core.records import (
    ItemRecord,
    Lease,
    NextClaim,
    PartitionRun,
    RunRecord,
    SignalRecord,
    StepRecord,
    StoredRun,
    partition_key,
)
from spine.core.status import LIVE_STATUSES, StepStatus, Wakeup, WorkflowStatus
from spine.framework.alerts import DeliveryLog
from spine.store.alert_log import SqlDeliveryLog
from spine.store.cancel import cancel_run
from spine.store.codec import (
    end_values,
    from_iso,
    iso,
    new_run_values,
    owner_values,
    run_record,
    step_record,
    step_values,
)
from spine.store.conditions import held_by
from spine.store.database import Closing, Database
from spine.store.leases import RunLeases
from spine.store.requeue import requeue_run
from spine.store.schema import runs, signals, steps
from spine.store.signals import send_signal, signals_of, take_signal
from spine.store.wakeups import Wake, Watch

_PRUNE_CHUNK = 500
"""Run ids per DELETE: well under every backend's limit on bound parameters."""


def _hold(conn: Connection, item: RunRecord, lease: Lease, what: str) -> None:
    """Make sure ``lease`` still holds the run whose map item ``item`` is, until the
    transaction of ``conn`` commits; else ``LeaseLostError`` saying ``what`` ("... was")
    not recorded. A no-op write that matches only while the lease holds: on PostgreSQL it
    locks the map's run's row (a takeover waits for this commit); SQLite is locked whole.
    """
    parent = item.parent_run_id or ""
    hold = (
        update(runs)
        .where(runs.c.run_id == parent, *held_by(lease.owner_id, lease.epoch))
        .values(lease_epoch=runs.c.lease_epoch)
    )
    if conn.execute(hold).rowcount != 1:
        raise LeaseLostError(parent, f"{what} not recorded")


class SqlStore(RunLeases, Closing):
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

    # -- writing ----------------------------------------------------------------

    def create_run(
        self, run: RunRecord, parent: Lease | None = None, rows: Sequence[StepRecord] = ()
    ) -> str:
        """Store a new run's row; returns its id, or, when another run of the workflow
        holds ``run.idempotency_key``, that run's id (and stores nothing). ``parent``:
        the lease on the run whose map item it is, which must still hold (else
        ``LeaseLostError``: a map's holder that lost its run starts no item). ``rows``:
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
            if parent is not None:
                _hold(conn, run, parent, f"item {run.item_index} of map {run.parent_step!r} was")
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
        values = step_values(step)
        first, then = self._insert_step_unless_asked, self._insert_step
        if lease is not None:
            values["fence_owner"], values["fence_epoch"] = lease.owner_id, lease.epoch
            first, then = self._insert_held_unless_asked, self._insert_held
        if self.database.execute(action, first, values):
            return False
        # Asked to stop: the step ran all the same, so its row is kept. (No row at all
        # went in when a try whose answer was lost had written it, or when the run is
        # no longer this owner's.)
        if self.database.execute(action, then, values):
            return True
        self._check_own_row(step, values)
        return self.cancel_requested(step.run_id)

    def _check_own_row(self, step: StepRecord, values: dict[str, Any]) -> None:
        """A step row that was there already: this writer's own (a try whose answer was
        lost had committed it), or another process's, which took this run over while
        this one was cut off or frozen: then this process must not go on with it."""
        key = values["step_id"]
        read = select(steps.c.started_at, steps.c.completed_at).where(steps.c.step_id == key)
        found = self.database.statement(
            f"read step {step.step_name!r} of run {step.run_id}",
            lambda conn: conn.execute(read).first(),
        )
        if found is None or tuple(found) != (values["started_at"], values["completed_at"]):
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
            # (which took the run over: then this one stops). (No claim this time: the
            # worker makes its own.)
            self._check_own_row(last_step, step)
            ended = self._dialect.finish_run(run.run_id, end, None, lease)[0]
            claim = None
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
        """Store map items that ran elsewhere; with ``lease`` (the map's run's), only
        while it holds that run (else ``LeaseLostError``)."""
        if not items:
            return
        new = [{**new_run_values(i.run), **end_values(i.run)} for i in items if i.new]
        rows = [step_values(step) for i in items for step in i.steps]
        first = items[0].run
        insert_new = self._dialect.insert_new

        def save(conn: Connection) -> None:
            if lease is not None:
                _hold(conn, first, lease, f"the items of map {first.parent_step!r} were")
            if new:
                conn.execute(insert_new(runs), new)
            for item in items:
                if not item.new:
                    conn.execute(
                        update(runs)
                        .where(runs.c.run_id == item.run.run_id)
                        .values(**end_values(item.run), **owner_values(None, None))
                    )
            if rows:
                conn.execute(insert_new(steps), rows)

        self.database.transaction(f"record the items of map {first.parent_step!r}", save)

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

    # -- reading ----------------------------------------------------------------

    def load_run(self, run_id: str) -> StoredRun:
        def load(conn: Connection) -> StoredRun:
            row = conn.execute(select(runs).where(runs.c.run_id == run_id)).first()
            if row is None:
                raise RunNotFoundError(run_id, self.where)
            step_rows = conn.execute(
                select(steps)
                .where(steps.c.run_id == run_id)
                .order_by(steps.c.step_order, steps.c.attempt)
            ).all()
            return StoredRun(run=run_record(row), steps=[step_record(r) for r in step_rows])

        return self.database.transaction(f"read run {run_id}", load)

    def child_runs(self, parent_run_id: str, parent_step: str) -> list[RunRecord]:
        query = select(runs).where(
            and_(runs.c.parent_run_id == parent_run_id, runs.c.parent_step == parent_step)
        )
        return self._records(f"read the map items of run {parent_run_id}", query)

    def item_counts(self, parent_run_id: str, parent_step: str) -> dict[str, int]:
        """How many items of one map step (``parent_step``: its key) are in each status."""
        query = (
            select(runs.c.status, func.count())
            .where(runs.c.parent_run_id == parent_run_id, runs.c.parent_step == parent_step)
            .group_by(runs.c.status)
        )
        rows = self.database.statement(
            f"count the map items of run {parent_run_id}", lambda conn: conn.execute(query).all()
        )
        return {str(status): int(count) for status, count in rows}

    def map_items(
        self, parent_run_id: str, *, limit: int, offset: int = 0
    ) -> tuple[list[RunRecord], int]:
        """A page of a run's map items, by map step execution then item index, and how
        many it has in all."""
        query = (
            select(runs)
            .where(runs.c.parent_run_id == parent_run_id)
            .order_by(runs.c.parent_step, runs.c.item_index)
            .limit(limit)
            .offset(offset)
        )
        total = select(func.count()).where(runs.c.parent_run_id == parent_run_id)
        found = self._records(f"list the map items of run {parent_run_id}", query)
        count = self.database.statement(
            f"count the map items of run {parent_run_id}",
            lambda conn: int(conn.execute(total).scalar_one()),
        )
        return found, count

    def workflow_names(self) -> list[str]:
        """The names of the workflows with top-level runs, sorted."""
        query = (
            select(runs.c.workflow_name)
            .where(runs.c.parent_run_id.is_(None))
            .distinct()
            .order_by(runs.c.workflow_name)
        )
        return self.database.statement(
            "list the workflows with runs",
            lambda conn: [str(name) for name in conn.execute(query).scalars()],
        )

    def queue_depth(self) -> dict[str, int]:
        """How many runs wait in the queue (``PENDING``), by workflow. Tried once, not
        again through an outage: a metrics reader asks, and must not wait it out."""
        query = (
            select(runs.c.workflow_name, func.count())
            .where(runs.c.status == WorkflowStatus.PENDING)
            .group_by(runs.c.workflow_name)
        )
        with self.engine.connect() as conn:
            return {str(name): int(count) for name, count in conn.execute(query)}

    def step_counts(self, run_ids: Sequence[str]) -> dict[str, tuple[int, int]]:
        """Completed and failed steps of live runs, from their rows (a run's own counts
        are written when it ends): run id -> (completed, failed). A failed attempt that
        was retried is not a failed step."""
        if not run_ids:
            return {}
        done = func.sum(case((steps.c.status == StepStatus.COMPLETED, 1), else_=0))
        failed = and_(steps.c.status == StepStatus.FAILED, steps.c.will_retry == 0)
        query = (
            select(steps.c.run_id, done, func.sum(case((failed, 1), else_=0)))
            .where(steps.c.run_id.in_(list(run_ids)))
            .group_by(steps.c.run_id)
        )
        rows = self.database.statement(
            "count the steps of live runs", lambda conn: conn.execute(query).all()
        )
        return {run_id: (int(ok or 0), int(bad or 0)) for run_id, ok, bad in rows}

    def _records(self, action: str, query: Select[Any]) -> list[RunRecord]:
        rows = self.database.statement(action, lambda conn: conn.execute(query).all())
        return [run_record(r) for r in rows]

    def quality_history(self, workflow_name: str, limit: int = 1000) -> list[dict[str, Any]]:
        """Quality metrics every step of ``workflow_name`` reported, oldest first."""
        query = (
            select(steps.c.run_id, steps.c.step_name, steps.c.completed_at, steps.c.quality)
            .join(runs, runs.c.run_id == steps.c.run_id)
            .where(and_(runs.c.workflow_name == workflow_name, steps.c.quality.is_not(None)))
            .order_by(steps.c.completed_at)
            .limit(limit)
        )
        rows = self.database.statement(
            f"read quality metrics of {workflow_name!r}", lambda conn: conn.execute(query).all()
        )
        return [
            {
                "run_id": r.run_id,
                "step_name": r.step_name,
                "completed_at": r.completed_at,
                "quality": decode(r.quality),
            }
            for r in rows
        ]

    def latest_partitions(self, workflow_name: str) -> list[PartitionRun]:
        """The latest top-level run of each partition of ``workflow_name`` (matched by
        their canonical JSON), by partition."""
        query = (
            select(runs.c.run_id, runs.c.status, runs.c.partition, runs.c.started_at)
            .where(runs.c.workflow_name == workflow_name, runs.c.parent_run_id.is_(None))
            .order_by(runs.c.started_at.desc())
        )
        rows = self.database.statement(
            f"read the partitions of {workflow_name!r}", lambda conn: conn.execute(query).all()
        )
        latest: dict[str, PartitionRun] = {}
        for row in rows:
            partition = decode(row.partition) if row.partition else {}
            latest.setdefault(partition_key(partition), PartitionRun(
                partition, row.run_id, row.status, from_iso(row.started_at) or 0.0))  # fmt: skip
        return [latest[key] for key in sorted(latest)]

    def list_runs(
        self,
        *,
        workflow: str | None = None,
        status: str | None = None,
        since: float | None = None,
        until: float | None = None,
        triggered_by: str | None = None,
        limit: int = 50,
        offset: int = 0,
        top_level: bool = True,
        parent: str | None = None,
    ) -> list[RunRecord]:
        """Runs, newest first, filtered by workflow name, status, start time (``since``
        inclusive, ``until`` exclusive), trigger or parent."""
        query = select(runs)
        if until is not None:
            query = query.where(runs.c.started_at < iso(until))
        if triggered_by is not None:
            query = query.where(runs.c.triggered_by == triggered_by)
        if parent is not None:
            query = query.where(runs.c.parent_run_id == parent)
        if workflow is not None:
            query = query.where(runs.c.workflow_name == workflow)
        if status is not None:
            query = query.where(runs.c.status == status.upper())
        if since is not None:
            query = query.where(runs.c.started_at >= iso(since))
        if top_level:
            query = query.where(runs.c.parent_run_id.is_(None))
        return self._records(
            "list runs", query.order_by(runs.c.started_at.desc()).limit(limit).offset(offset)
        )

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
