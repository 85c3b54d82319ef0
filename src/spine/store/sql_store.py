"""``SqlStore``: the runner's history on SQLite or PostgreSQL, through SQLAlchemy Core."""

from __future__ import annotations

import json
import threading
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Integer,
    Row,
    and_,
    bindparam,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import SQLAlchemyError

from spine.core.errors import RunNotFoundError, StoreError, WorkflowValidationError
from spine.core.records import (
    DATA_FORMAT,
    ItemRecord,
    Owner,
    RunRecord,
    StepRecord,
    StoredRun,
    first_bad_path,
)
from spine.framework.alerts import DeliveryLog
from spine.store.engine import connect
from spine.store.migrations import migrate
from spine.store.schema import alert_deliveries, runs, schedule_fires, steps


def iso(timestamp: float | None) -> str | None:
    """Seconds since the epoch as fixed-width ISO-8601 UTC text."""
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="microseconds")


def from_iso(text: str | None) -> float | None:
    return None if text is None else datetime.fromisoformat(text).timestamp()


def _explain(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    lowered = text.lower()
    if "file is not a database" in lowered or "malformed" in lowered:
        return (
            f"it is not a usable SQLite database ({text}); is it corrupt or another kind of file?"
        )
    if "readonly" in lowered or "read-only" in lowered:
        return f"it is read-only ({text})"
    if "unable to open" in lowered:
        return f"it cannot be opened ({text})"
    return text


@dataclass(frozen=True, slots=True)
class _Compiled:
    """A statement compiled once: its SQL, parameter order (for positional drivers) and
    the values of the parameters it carries itself."""

    sql: str
    positions: tuple[str, ...] | None
    defaults: dict[str, Any]


class _FastPath:
    """Statements every run executes (step rows; on PostgreSQL also claims, ends and
    cancellation checks), on the fast path.

    This skips what SQLAlchemy adds per statement (building and caching the
    statement, checking a connection out of the pool, pinging it and resetting it on
    return): each statement is compiled once, and runs on a connection each thread
    keeps. On PostgreSQL that connection is in autocommit mode, so each statement is
    its own transaction without BEGIN and COMMIT round trips; on SQLite each runs in
    a ``BEGIN IMMEDIATE`` transaction.
    """

    def __init__(self, engine: Engine, *, sqlite: bool) -> None:
        self._engine = engine
        self._sqlite = sqlite
        self._local = threading.local()
        self._all: weakref.WeakSet[_Held] = weakref.WeakSet()

    def compile(self, statement: Any) -> _Compiled:
        compiled = statement.compile(dialect=self._engine.dialect)
        positions = compiled.positiontup
        return _Compiled(compiled.string, tuple(positions) if positions else None,
                         dict(compiled.params))  # fmt: skip

    def _connection(self) -> Any:
        held = getattr(self._local, "held", None)
        if held is None:
            held = self._local.held = _Held(self._engine.raw_connection(), self._sqlite)
            self._all.add(held)
        return held.connection

    def close(self) -> None:
        """Give back every thread's connection (before the engine is disposed)."""
        for held in list(self._all):
            _close_quietly(held.connection)
        self._local = threading.local()

    def run(self, statement: _Compiled, values: dict[str, Any], *, fetch: bool = False) -> Any:
        """Execute ``statement``; with ``fetch`` its rows (named tuples)."""
        merged = {**statement.defaults, **values} if statement.defaults else values
        params: Any = (
            tuple(merged[name] for name in statement.positions) if statement.positions else merged
        )
        try:
            return self._execute(statement.sql, params, fetch)
        except Exception as exc:
            # A kept connection is not pinged like a pooled one: if the server dropped
            # it, try once more on a fresh connection.
            dialect = self._engine.dialect
            if not (
                isinstance(exc, dialect.loaded_dbapi.Error)
                and dialect.is_disconnect(exc, None, None)
            ):
                raise
            return self._execute(statement.sql, params, fetch)

    def _execute(self, sql: str, params: Any, fetch: bool) -> Any:
        raw = self._connection()
        try:
            if self._sqlite:
                driver = raw.driver_connection
                driver.execute("BEGIN IMMEDIATE")
                try:
                    cursor = driver.execute(sql, params)
                    rows = cursor.fetchall() if fetch else None
                except BaseException:
                    driver.execute("ROLLBACK")
                    raise
                driver.execute("COMMIT")
                return rows
            from psycopg.rows import namedtuple_row

            with raw.driver_connection.cursor(row_factory=namedtuple_row) as cursor:
                cursor.execute(sql, params)
                return cursor.fetchall() if fetch else None
        except BaseException:
            # The connection's state is unknown now: let it go back and start afresh.
            self._local.held = None
            raise


class _PostgresStatements:
    """What every queued run executes on PostgreSQL, compiled once for the fast path."""

    def __init__(self, fast: _FastPath) -> None:
        picked = (
            select(runs.c.run_id, runs.c.started_at.label("submitted"))
            .where(
                and_(
                    runs.c.status == "PENDING",
                    runs.c.parent_run_id.is_(None),
                    runs.c.workflow_name == func.any(bindparam("names")),
                )
            )
            .order_by(runs.c.started_at)
            .limit(bindparam("limit", type_=Integer))
            .with_for_update(skip_locked=True)
            .subquery("picked")
        )
        # Picks and claims in one statement: one round trip, one commit.
        self.claim = fast.compile(
            update(runs)
            .where(runs.c.run_id == picked.c.run_id)
            .values(status="RUNNING", owner_id=bindparam("owner_id"),
                    owner_host=bindparam("owner_host"), owner_pid=bindparam("owner_pid"),
                    heartbeat_at=bindparam("now"), started_at=bindparam("now"))
            .returning(*runs.c, picked.c.submitted)
        )  # fmt: skip
        finish = (
            update(runs)
            .where(runs.c.run_id == bindparam("key"))
            .values({name: bindparam(f"end_{name}") for name in _END_COLUMNS})
        )
        self.finish = fast.compile(finish)
        # The last step's row and the run's end in one statement (a data-modifying
        # WITH): one round trip and one commit where there would be two of each.
        last_step = (
            insert(steps)
            .values({c.name: bindparam(f"step_{c.name}") for c in steps.c})
            .cte("last_step")
        )
        self.finish_with_step = fast.compile(finish.add_cte(last_step))
        self.cancel_requested = fast.compile(
            select(runs.c.cancel_requested).where(runs.c.run_id == bindparam("key"))
        )


class _Held:
    """A pooled DBAPI connection kept by one thread, returned when the thread ends.

    On PostgreSQL it is in autocommit mode while held (each step row is one INSERT).
    """

    __slots__ = ("__weakref__", "connection")

    def __init__(self, connection: Any, sqlite: bool) -> None:
        self.connection = connection
        if not sqlite:
            connection.driver_connection.autocommit = True
        weakref.finalize(self, _close_quietly, connection)


def _close_quietly(connection: Any) -> None:
    with suppress(Exception):
        driver = connection.driver_connection
        # The pool hands connections out in transaction mode; give it one back so.
        if driver is not None and getattr(driver, "autocommit", False):
            driver.autocommit = False
        connection.close()


class SqlStore:
    """History in one SQL database; the schema is created or migrated on open."""

    def __init__(self, database_url: str) -> None:
        target = connect(database_url)
        self.engine = target.engine
        self.where = target.where
        self.sqlite = target.sqlite
        self.url = database_url
        try:
            with self._transaction("prepare its schema") as conn:
                migrate(conn, self.where, own_database=self.sqlite)
        except BaseException:
            self.engine.dispose()  # a store that cannot be opened keeps no connection
            raise
        self._fast = _FastPath(self.engine, sqlite=self.sqlite)
        self._insert_step = self._fast.compile(steps.insert())
        self._hot = None if self.sqlite else _PostgresStatements(self._fast)
        self._autocommit = self.engine.execution_options(isolation_level="AUTOCOMMIT")

    @contextmanager
    def _transaction(self, action: str, *, single: bool = False) -> Iterator[Connection]:
        """A connection in a transaction committed at the end of the block.

        ``single``: the block runs one statement, which on PostgreSQL then commits by
        itself (autocommit): no BEGIN and COMMIT round trips for it.
        """
        try:
            if single and not self.sqlite:
                with self._autocommit.connect() as conn:
                    yield conn
                return
            with self.engine.begin() as conn:
                yield conn
        except StoreError:
            raise
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot {action} in {self.where}: {_explain(exc)}") from exc

    # -- writing ----------------------------------------------------------------

    def create_run(self, run: RunRecord) -> None:
        values = _new_run_values(run)
        with self._transaction(f"record run {run.run_id}") as conn:
            conn.execute(runs.insert().values(**values))

    def record_step(self, step: StepRecord) -> None:
        action = f"record step {step.step_name!r} of run {step.run_id}"
        self._run_fast(action, self._insert_step, _step_values(step))

    def set_status(self, run_id: str, status: str, *, wake_at: float | None = None) -> None:
        with self._transaction(f"update run {run_id}", single=True) as conn:
            conn.execute(
                update(runs)
                .where(runs.c.run_id == run_id)
                .values(status=status, wake_at=iso(wake_at))
            )

    def finish_run(self, run: RunRecord, last_step: StepRecord | None = None) -> None:
        action = f"finish run {run.run_id}"
        if self._hot is not None:
            values = {f"end_{k}": v for k, v in _end_values(run).items()}
            values["key"] = run.run_id
            if last_step is None:
                self._run_fast(action, self._hot.finish, values)
            else:
                step_values = {f"step_{k}": v for k, v in _step_values(last_step).items()}
                self._run_fast(action, self._hot.finish_with_step, {**values, **step_values})
            return
        with self._transaction(action) as conn:
            if last_step is not None:
                conn.execute(steps.insert().values(**_step_values(last_step)))
            conn.execute(update(runs).where(runs.c.run_id == run.run_id).values(**_end_values(run)))

    def _run_fast(
        self, action: str, statement: _Compiled, values: dict[str, Any], *, fetch: bool = False
    ) -> Any:
        try:
            return self._fast.run(statement, values, fetch=fetch)
        except Exception as exc:
            raise StoreError(f"cannot {action} in {self.where}: {_explain(exc)}") from exc

    def save_items(self, items: Sequence[ItemRecord]) -> None:
        if not items:
            return
        new = [{**_new_run_values(i.run), **_end_values(i.run)} for i in items if i.new]
        rows = [_step_values(step) for i in items for step in i.steps]
        first = items[0].run
        with self._transaction(f"record the items of map {first.parent_step!r}") as conn:
            if new:
                conn.execute(runs.insert(), new)
            for item in items:
                if not item.new:
                    conn.execute(
                        update(runs)
                        .where(runs.c.run_id == item.run.run_id)
                        .values(**_end_values(item.run), owner_id=None, owner_host=None,
                                owner_pid=None, heartbeat_at=None)
                    )  # fmt: skip
            if rows:
                conn.execute(steps.insert(), rows)

    # -- leases -----------------------------------------------------------------

    def claim(self, expected: RunRecord, owner: Owner, now: float) -> bool:
        """Take the lease if the row still shows ``expected``'s status, owner and heartbeat."""
        old = expected.owner
        with self._transaction(f"claim run {expected.run_id}", single=True) as conn:
            result = conn.execute(
                update(runs)
                .where(
                    and_(
                        runs.c.run_id == expected.run_id,
                        runs.c.status == expected.status,
                        runs.c.owner_id.is_not_distinct_from(old.owner_id if old else None),
                        runs.c.heartbeat_at.is_not_distinct_from(iso(expected.heartbeat_at)),
                    )
                )
                .values(
                    # Claimed is executing: a second resume must find it RUNNING and owned.
                    status="RUNNING",
                    owner_id=owner.owner_id,
                    owner_host=owner.host,
                    owner_pid=owner.pid,
                    heartbeat_at=iso(now),
                )
            )
            return result.rowcount == 1

    def heartbeat(self, run_ids: Sequence[str], owner: Owner, now: float) -> None:
        if not run_ids:
            return
        with self._transaction("renew leases", single=True) as conn:
            conn.execute(
                update(runs)
                .where(and_(runs.c.run_id.in_(list(run_ids)), runs.c.owner_id == owner.owner_id))
                .values(heartbeat_at=iso(now))
            )

    def release(self, run_id: str, owner: Owner) -> None:
        with self._transaction(f"release run {run_id}", single=True) as conn:
            conn.execute(
                update(runs)
                .where(and_(runs.c.run_id == run_id, runs.c.owner_id == owner.owner_id))
                .values(owner_id=None, owner_host=None, owner_pid=None, heartbeat_at=None)
            )

    # -- reading ----------------------------------------------------------------

    def load_run(self, run_id: str) -> StoredRun:
        with self._transaction(f"read run {run_id}") as conn:
            row = conn.execute(select(runs).where(runs.c.run_id == run_id)).first()
            if row is None:
                raise RunNotFoundError(run_id, self.where)
            step_rows = conn.execute(
                select(steps)
                .where(steps.c.run_id == run_id)
                .order_by(steps.c.step_order, steps.c.attempt)
            ).all()
        return StoredRun(run=_run_record(row), steps=[_step_record(r) for r in step_rows])

    def recoverable(self, now: float, lease_seconds: float) -> list[RunRecord]:
        """Top-level runs that are ``RUNNING`` or ``WAITING`` (map items recover with
        their parent; submitted runs are claimed by ``claim_pending``)."""
        with self._transaction("list runs to recover", single=True) as conn:
            rows = conn.execute(
                select(runs)
                .where(
                    and_(runs.c.status.in_(("RUNNING", "WAITING")), runs.c.parent_run_id.is_(None))
                )
                .order_by(runs.c.started_at)
            ).all()
        return [_run_record(r) for r in rows]

    def child_runs(self, parent_run_id: str, parent_step: str) -> list[RunRecord]:
        with self._transaction(f"read the map items of run {parent_run_id}", single=True) as conn:
            rows = conn.execute(
                select(runs).where(
                    and_(runs.c.parent_run_id == parent_run_id, runs.c.parent_step == parent_step)
                )
            ).all()
        return [_run_record(r) for r in rows]

    def quality_history(self, workflow_name: str, limit: int = 1000) -> list[dict[str, Any]]:
        """Quality metrics every step of ``workflow_name`` reported, oldest first."""
        with self._transaction(f"read quality metrics of {workflow_name!r}") as conn:
            rows = conn.execute(
                select(steps.c.run_id, steps.c.step_name, steps.c.completed_at, steps.c.quality)
                .join(runs, runs.c.run_id == steps.c.run_id)
                .where(and_(runs.c.workflow_name == workflow_name, steps.c.quality.is_not(None)))
                .order_by(steps.c.completed_at)
                .limit(limit)
            ).all()
        return [
            {
                "run_id": r.run_id,
                "step_name": r.step_name,
                "completed_at": r.completed_at,
                "quality": json.loads(r.quality),
            }
            for r in rows
        ]

    def cancel(self, run_id: str, now: float) -> str:
        """Cancel a run: at once when nothing executes it (``PENDING``, or ``WAITING``
        without an owner), else by asking its runner to stop at the next step boundary.
        Returns ``"cancelled"``, ``"requested"`` (its runner will stop it), or the
        status of a run that had already ended."""
        with self._transaction(f"cancel run {run_id}") as conn:
            row = conn.execute(
                select(runs.c.status, runs.c.owner_id).where(runs.c.run_id == run_id)
            ).first()
            if row is None:
                raise RunNotFoundError(run_id, self.where)
            if row.status in ("PENDING", "WAITING") and row.owner_id is None:
                conn.execute(
                    update(runs)
                    .where(runs.c.run_id == run_id)
                    .values(status="CANCELLED", completed_at=iso(now), wake_at=None,
                            error="cancelled by request")
                )  # fmt: skip
                return "cancelled"
            if row.status in ("RUNNING", "WAITING"):
                conn.execute(update(runs).where(runs.c.run_id == run_id).values(cancel_requested=1))
                return "requested"
            return str(row.status)

    def claim_pending(
        self,
        owner: Owner,
        now: float,
        workflow_names: Sequence[str],
        limit: int = 1,
        caps: Mapping[str, int] | None = None,
    ) -> list[RunRecord]:
        """Take up to ``limit`` of the oldest submitted runs of these workflows.

        On PostgreSQL the rows are locked with ``FOR UPDATE SKIP LOCKED``, so workers
        claiming at once each get different runs instead of queueing behind one; on
        SQLite the write lock taken up front serialises them. ``caps`` bounds how many
        runs of a workflow may be ``RUNNING`` at once, across every worker: claims of
        a capped workflow take turns (an advisory lock on PostgreSQL).
        """
        if not workflow_names:
            return []
        capped = caps is not None and any(name in caps for name in workflow_names)
        if self._hot is not None and not capped:
            rows = self._run_fast(
                "claim submitted runs",
                self._hot.claim,
                {"names": list(workflow_names), "limit": limit, "owner_id": owner.owner_id,
                 "owner_host": owner.host, "owner_pid": owner.pid, "now": iso(now)},
                fetch=True,
            )  # fmt: skip
            claimed = [_run_record(row) for row in sorted(rows, key=lambda r: r.submitted)]
        else:
            claimed = self._claim_in_turn(owner, now, workflow_names, limit, caps or {})
        # A submitted run starts when it is claimed, and has no step rows yet: the
        # records are all a runner needs.
        for run in claimed:
            run.started_at = now
        return claimed

    def _claim_in_turn(
        self,
        owner: Owner,
        now: float,
        workflow_names: Sequence[str],
        limit: int,
        caps: Mapping[str, int],
    ) -> list[RunRecord]:
        """Claim with a read, then an update (SQLite; capped workflows on PostgreSQL)."""
        with self._transaction("claim submitted runs") as conn:
            allowance = self._allowance(conn, caps, workflow_names)
            workflow_names = [n for n in workflow_names if allowance.get(n, 1) > 0]
            if not workflow_names:
                return []
            query = (
                select(runs)
                .where(
                    and_(
                        runs.c.status == "PENDING",
                        runs.c.parent_run_id.is_(None),
                        runs.c.workflow_name.in_(list(workflow_names)),
                    )
                )
                .order_by(runs.c.started_at)
                .limit(limit)
            )
            if not self.sqlite:
                query = query.with_for_update(skip_locked=True)
            claimed = []
            for row in conn.execute(query):
                if row.workflow_name in allowance:
                    if allowance[row.workflow_name] <= 0:
                        continue
                    allowance[row.workflow_name] -= 1
                claimed.append(_run_record(row))
            run_ids = [run.run_id for run in claimed]
            if run_ids:
                conn.execute(
                    update(runs)
                    .where(and_(runs.c.run_id.in_(run_ids), runs.c.status == "PENDING"))
                    .values(status="RUNNING", owner_id=owner.owner_id, owner_host=owner.host,
                            owner_pid=owner.pid, heartbeat_at=iso(now), started_at=iso(now))
                )  # fmt: skip
        return claimed

    def _allowance(
        self, conn: Connection, caps: Mapping[str, int], names: Sequence[str]
    ) -> dict[str, int]:
        """For each capped workflow among ``names``: how many more runs may start now."""
        allowance: dict[str, int] = {}
        for name in sorted(n for n in names if n in caps):
            if not self.sqlite:
                conn.execute(
                    text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"spine:{name}"}
                )
            running = conn.execute(
                select(func.count())
                .select_from(runs)
                .where(and_(runs.c.workflow_name == name, runs.c.status == "RUNNING"))
            ).scalar()
            allowance[name] = caps[name] - int(running or 0)
        return allowance

    def cancel_requested(self, run_id: str) -> bool:
        if self._hot is not None:
            rows = self._run_fast(
                f"read run {run_id}", self._hot.cancel_requested, {"key": run_id}, fetch=True
            )
            return bool(rows and rows[0].cancel_requested)
        with self._transaction(f"read run {run_id}") as conn:
            flag = conn.execute(
                select(runs.c.cancel_requested).where(runs.c.run_id == run_id)
            ).scalar()
        return bool(flag)

    def list_runs(
        self,
        *,
        workflow: str | None = None,
        status: str | None = None,
        since: float | None = None,
        limit: int = 50,
        offset: int = 0,
        top_level: bool = True,
        parent: str | None = None,
    ) -> list[RunRecord]:
        """Runs, newest first, filtered by workflow name, status, start time or parent."""
        query = select(runs)
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
        query = query.order_by(runs.c.started_at.desc()).limit(limit).offset(offset)
        with self._transaction("list runs") as conn:
            rows = conn.execute(query).all()
        return [_run_record(r) for r in rows]

    def prune(self, before: float) -> int:
        """Delete runs that ended before ``before`` (never a pending, running or waiting
        one), with their steps and map items, and the alert deliveries and schedule due
        times recorded before it; returns how many runs went."""
        ended = and_(
            runs.c.status.not_in(("PENDING", "RUNNING", "WAITING")),
            runs.c.completed_at.is_not(None),
            runs.c.completed_at < iso(before),
        )
        with self._transaction("prune old runs") as conn:
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
            for start in range(0, len(doomed), 500):
                chunk = doomed[start : start + 500]
                conn.execute(steps.delete().where(steps.c.run_id.in_(chunk)))
                conn.execute(runs.delete().where(runs.c.run_id.in_(chunk)))
            cutoff = iso(before)
            conn.execute(alert_deliveries.delete().where(alert_deliveries.c.delivered_at < cutoff))
            # A schedule's next time has moved past its old due times: their records
            # no longer guard anything.
            conn.execute(schedule_fires.delete().where(schedule_fires.c.recorded_at < cutoff))
        return len(old)

    def delivery_log(self) -> DeliveryLog:
        """The alert delivery log in this database (table ``alert_deliveries``)."""
        from spine.store.alert_log import SqlDeliveryLog  # it builds on this module

        return SqlDeliveryLog.sharing(self)

    def close(self) -> None:
        self._fast.close()
        self.engine.dispose()


def _new_run_values(run: RunRecord) -> dict[str, Any]:
    """The columns of a run's row as it starts."""
    owner = run.owner
    return {
        "run_id": run.run_id,
        "workflow_name": run.workflow_name,
        "workflow_version": run.workflow_version,
        "definition_hash": run.definition_hash,
        "status": run.status,
        "started_at": iso(run.started_at),
        "params": _run_json(run, run.params, "params"),
        "partition": _run_json(run, run.partition, "partition"),
        "total_steps": run.total_steps,
        "completed_steps": 0,
        "failed_steps": 0,
        "triggered_by": run.triggered_by,
        "parent_run_id": run.parent_run_id,
        "schedule_id": run.schedule_id,
        "parent_step": run.parent_step,
        "item_index": run.item_index,
        "dry_run": int(run.dry_run),
        "owner_id": owner.owner_id if owner else None,
        "owner_host": owner.host if owner else None,
        "owner_pid": owner.pid if owner else None,
        "heartbeat_at": iso(run.heartbeat_at),
        "wake_at": iso(run.wake_at),
        "data_format": DATA_FORMAT,
        "source": run.source,
    }


_END_COLUMNS = (
    "status",
    "completed_at",
    "duration_ms",
    "outputs",
    "error",
    "error_category",
    "error_step",
    "completed_steps",
    "failed_steps",
    "wake_at",
)


def _end_values(run: RunRecord) -> dict[str, Any]:
    """The columns that say how a run ended (or that it waits)."""
    started, completed = run.started_at, run.completed_at
    return {
        "status": run.status,
        "completed_at": iso(completed),
        "duration_ms": None if completed is None else round((completed - started) * 1000),
        "outputs": None if run.outputs is None else json.dumps(run.outputs),
        "error": run.error,
        "error_category": run.error_category,
        "error_step": run.error_step,
        "completed_steps": run.completed_steps,
        "failed_steps": run.failed_steps,
        "wake_at": iso(run.wake_at),
    }


def _step_values(step: StepRecord) -> dict[str, Any]:
    return {
        "step_id": f"{step.run_id}:{step.step_order}:{step.attempt}",
        "run_id": step.run_id,
        "step_name": step.step_name,
        "step_type": step.step_type,
        "step_order": step.step_order,
        "status": step.status,
        "started_at": iso(step.started_at),
        "completed_at": iso(step.completed_at),
        "duration_ms": round((step.completed_at - step.started_at) * 1000),
        "params": step.params_json,
        "outputs": step.output_json,
        "error": step.error,
        "error_category": step.error_category,
        "row_count": step.row_count,
        "attempt": step.attempt,
        "context_updates": step.context_updates_json,
        "next_step": step.next_step,
        "will_retry": int(step.will_retry),
        "quality": step.quality_json,
    }


def _run_json(run: RunRecord, value: Mapping[str, Any], field_name: str) -> str:
    """A run's params or partition as JSON; a value JSON cannot hold is a bad request."""
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        raise WorkflowValidationError(
            f"workflow {run.workflow_name!r}: {first_bad_path(value, field_name)} cannot be "
            "stored as JSON; with history on, a run's params and partition must be JSON values "
            "(str, int, float, bool, None, lists and dicts of them)",
            workflow=run.workflow_name,
        ) from None


def _loads(text: str | None) -> Mapping[str, Any]:
    return {} if text is None else json.loads(text)


def _run_record(row: Row[Any]) -> RunRecord:
    owner = (
        Owner(owner_id=row.owner_id, host=row.owner_host or "", pid=row.owner_pid or 0)
        if row.owner_id
        else None
    )
    return RunRecord(
        run_id=row.run_id,
        workflow_name=row.workflow_name,
        status=row.status,
        started_at=from_iso(row.started_at) or 0.0,
        params=_loads(row.params),
        partition=_loads(row.partition),
        workflow_version=row.workflow_version,
        definition_hash=row.definition_hash or "",
        triggered_by=row.triggered_by or "manual",
        parent_run_id=row.parent_run_id,
        schedule_id=row.schedule_id,
        parent_step=row.parent_step,
        item_index=row.item_index,
        dry_run=bool(row.dry_run),
        total_steps=row.total_steps or 0,
        owner=owner,
        heartbeat_at=from_iso(row.heartbeat_at),
        wake_at=from_iso(row.wake_at),
        completed_at=from_iso(row.completed_at),
        outputs=None if row.outputs is None else json.loads(row.outputs),
        error=row.error,
        error_category=row.error_category,
        error_step=row.error_step,
        completed_steps=row.completed_steps or 0,
        failed_steps=row.failed_steps or 0,
        source=row.source,
    )


def _step_record(row: Row[Any]) -> StepRecord:
    return StepRecord(
        run_id=row.run_id,
        step_order=row.step_order,
        attempt=row.attempt,
        step_name=row.step_name,
        step_type=row.step_type,
        status=row.status,
        started_at=from_iso(row.started_at) or 0.0,
        completed_at=from_iso(row.completed_at) or 0.0,
        output_json=row.outputs or "{}",
        context_updates_json=row.context_updates or "{}",
        next_step=row.next_step,
        error=row.error,
        error_category=row.error_category,
        will_retry=bool(row.will_retry),
        quality_json=row.quality,
        row_count=row.row_count,
        params_json=row.params or "{}",
    )
