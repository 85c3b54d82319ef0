"""Connection faults are tried again, on both backends: which errors count as the
database not answering, how long they are tried, and that every write the engine
makes is idempotent, so a write tried again after a commit whose answer was lost
leaves what one write leaves."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import psycopg
import pytest
from sqlalchemy import Connection, event, func, select, text
from sqlalchemy.exc import OperationalError

from spine.core.errors import StoreError
from spine.core.records import ItemRecord, Lease, Owner, RunRecord, StepRecord
from spine.core.status import StepStatus, WorkflowStatus
from spine.store import Database, SqlStore
from spine.store.dialects import PostgresDialect, SqliteDialect
from spine.store.schema import runs, steps

from .helpers import run_row, step_rows

T0 = 1_736_143_200.0
OWNER = Owner(owner_id="owner-a", host="host-a", pid=1)


@pytest.fixture
def store(database_url: str) -> Iterator[SqlStore]:
    with SqlStore(database_url, retry_seconds=5) as opened:
        yield opened


def _run(run_id: str = "r1", status: str = WorkflowStatus.RUNNING, **fields: Any) -> RunRecord:
    return RunRecord(run_id=run_id, workflow_name="etl", status=status, started_at=T0,
                     params={}, partition={}, **fields)  # fmt: skip


def _step(run_id: str = "r1", order: int = 0, next_step: str | None = "b") -> StepRecord:
    return StepRecord(run_id=run_id, step_order=order, attempt=1, step_name=f"s{order}",
                      step_type="lambda", status=StepStatus.COMPLETED, started_at=T0,
                      completed_at=T0 + 1, output_json='{"n": 1}', context_updates_json="{}",
                      next_step=next_step)  # fmt: skip


def _lost_connection(database: Database) -> Exception:
    """What the driver raises when the connection went away mid-statement."""
    if database.engine.dialect.name == "postgresql":
        return psycopg.OperationalError("consuming input failed: server closed the connection")
    error = sqlite3.OperationalError("disk I/O error")
    error.sqlite_errorcode = 10  # type: ignore[attr-defined]  # SQLITE_IOERR, as SQLite sets it
    return error


@contextmanager
def connection_lost(
    database: Database, sql_start: str, *, after_commit: bool = True
) -> Iterator[list[str]]:
    """The connection fails at the next statement whose SQL starts with ``sql_start``:
    after its commit, before its answer arrives (as when the server or the network goes
    at that moment), or with ``after_commit=False`` before it executes. Yields the SQL
    of what it hit, to check that it did."""
    hit: list[str] = []
    pending: list[str] = []

    def matches(sql: str) -> bool:
        return not hit and not pending and sql.lstrip().upper().startswith(sql_start.upper())

    def lose(sql: str) -> None:
        hit.append(sql)
        raise _lost_connection(database)

    kept = database.dialect.run_kept

    def run_kept(raw: Any, sql: str, params: Any, fetch: bool) -> Any:  # the fast path
        if not after_commit and matches(sql):
            lose(sql)
        rows = kept(raw, sql, params, fetch)
        if matches(sql):
            lose(sql)
        return rows

    def before_execute(conn: Connection, cursor: Any, sql: str, *args: Any) -> None:
        if not after_commit and matches(sql):
            lose(sql)

    def after_execute(conn: Connection, cursor: Any, sql: str, *args: Any) -> None:
        if matches(sql):
            if conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
                lose(sql)
            pending.append(sql)

    dialect = database.engine.dialect
    commit = dialect.do_commit

    def do_commit(dbapi_connection: Any) -> None:
        commit(dbapi_connection)
        if pending and not hit:
            lose(pending.pop())

    database.dialect.run_kept = run_kept  # type: ignore[method-assign]
    dialect.do_commit = do_commit  # type: ignore[method-assign]
    event.listen(database.engine, "before_cursor_execute", before_execute)
    event.listen(database.engine, "after_cursor_execute", after_execute)
    try:
        yield hit
    finally:
        event.remove(database.engine, "after_cursor_execute", after_execute)
        event.remove(database.engine, "before_cursor_execute", before_execute)
        del dialect.do_commit
        del database.dialect.run_kept  # type: ignore[attr-defined]


def _count(store: SqlStore, table: Any) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


# -- what is tried again ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (psycopg.errors.AdminShutdown("terminating connection due to administrator command"),
         True),
        (psycopg.errors.CannotConnectNow("the database system is starting up"), True),
        (psycopg.errors.CrashShutdown("terminating connection"), True),
        (psycopg.errors.ConnectionFailure("connection failure"), True),
        (psycopg.OperationalError("connection failed: Connection refused"), True),
        (psycopg.OperationalError("consuming input failed: server closed the connection"), True),
        (psycopg.InterfaceError("the connection is closed"), True),
        (psycopg.errors.SerializationFailure("could not serialize access"), True),
        (psycopg.errors.DeadlockDetected("deadlock detected"), True),
        (psycopg.errors.UniqueViolation("duplicate key value"), False),
        (psycopg.errors.SyntaxError("syntax error at or near"), False),
        (psycopg.errors.UndefinedTable("relation does not exist"), False),
        (psycopg.errors.QueryCanceled("canceling statement due to statement timeout"), False),
        (psycopg.errors.DiskFull("could not extend file"), False),
        (sqlite3.OperationalError("database is locked"), False),  # not PostgreSQL's
    ],
)  # fmt: skip
def test_postgresql_errors_of_a_lost_connection_are_transient(
    error: Exception, transient: bool
) -> None:
    assert PostgresDialect.transient(object.__new__(PostgresDialect), error) is transient


def _sqlite_error(kind: type[sqlite3.Error], message: str, code: int | None) -> sqlite3.Error:
    error = kind(message)
    if code is not None:
        error.sqlite_errorcode = code  # type: ignore[attr-defined]
    return error


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (_sqlite_error(sqlite3.OperationalError, "database is locked", 5), True),
        (_sqlite_error(sqlite3.OperationalError, "database table is locked", 6), True),
        (_sqlite_error(sqlite3.OperationalError, "disk I/O error", 10), True),
        (_sqlite_error(sqlite3.OperationalError, "disk I/O error", 10 | (4 << 8)), True),  # FSYNC
        (_sqlite_error(sqlite3.OperationalError, "locking protocol", 15), True),
        (_sqlite_error(sqlite3.IntegrityError, "UNIQUE constraint failed", 2067), False),
        (_sqlite_error(sqlite3.OperationalError, "no such table: widgets", 1), False),
        (_sqlite_error(sqlite3.OperationalError, "database or disk is full", 13), False),
        (_sqlite_error(sqlite3.OperationalError, "unable to open database file", 14), False),
        (_sqlite_error(sqlite3.ProgrammingError, "Cannot operate on a closed database.", None),
         False),
        (psycopg.errors.AdminShutdown("terminating connection"), False),  # not SQLite's
    ],
)  # fmt: skip
def test_sqlite_errors_of_a_busy_lock_or_an_io_hiccup_are_transient(
    error: Exception, transient: bool
) -> None:
    assert SqliteDialect.transient(object.__new__(SqliteDialect), error) is transient


def test_sqlite_raises_what_the_classifier_expects(sqlite_url: str) -> None:
    with Database(sqlite_url) as database:
        path = sqlite_url.removeprefix("sqlite:///")
        holder = sqlite3.connect(path, isolation_level=None)
        waiter = sqlite3.connect(path, isolation_level=None, timeout=0)
        holder.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(sqlite3.OperationalError) as locked:
                waiter.execute("BEGIN IMMEDIATE")
            with pytest.raises(sqlite3.OperationalError) as wrong:
                waiter.execute("SELECT * FROM widgets")
        finally:
            holder.execute("ROLLBACK")
            holder.close()
            waiter.close()
        assert database.dialect.transient(locked.value)
        assert not database.dialect.transient(wrong.value)


def test_a_dropped_connection_in_a_transaction_is_tried_again(postgres_url: str) -> None:
    with Database(postgres_url, retry_seconds=5) as database:
        calls: list[int] = []

        def count_after_dropping(conn: Connection) -> int:
            calls.append(conn.execute(select(func.pg_backend_pid())).scalar_one())
            if len(calls) == 1:
                with database.engine.connect() as other:
                    other.execute(select(func.pg_terminate_backend(calls[0])))
            return int(conn.execute(select(func.count()).select_from(runs)).scalar_one())

        assert database.transaction("count runs", count_after_dropping) == 0
        assert len(calls) == 2
        assert calls[0] != calls[1]  # again, on another connection


def test_a_dropped_kept_connection_is_tried_again_on_a_fresh_one(postgres_url: str) -> None:
    with SqlStore(postgres_url, retry_seconds=5) as store:
        store.create_run(_run())
        store.record_step(_step(order=0))
        [pid] = store.database.engine.pool.status() and [_kept_pid(store)]
        with store.engine.connect() as conn:
            conn.execute(select(func.pg_terminate_backend(pid)))

        store.record_step(_step(order=1))

        assert [r["step_order"] for r in step_rows(store.engine, "r1")] == [0, 1]
        assert _kept_pid(store) != pid


def _kept_pid(store: SqlStore) -> int:
    prepared = store.database.prepare(select(func.pg_backend_pid().label("pid")))
    return int(store.database.execute("read the backend", prepared, {}, fetch=True)[0].pid)


def test_an_error_of_the_statement_is_not_tried_again(database_url: str) -> None:
    with Database(database_url, retry_seconds=5) as database:
        calls: list[None] = []

        def bad(conn: Connection) -> None:
            calls.append(None)
            conn.execute(text("SELECT * FROM widgets"))

        began = time.monotonic()
        with pytest.raises(StoreError, match=r"^cannot count widgets in .*widgets") as raised:
            database.transaction("count widgets", bad)
        assert calls == [None]
        assert time.monotonic() - began < 1
        assert "tried" not in str(raised.value)


def test_a_failure_that_outlasts_the_bound_names_the_action_and_the_database(
    database_url: str,
) -> None:
    with Database(database_url, retry_seconds=0.4) as database:
        calls: list[float] = []

        def never_answered(conn: Connection) -> None:
            calls.append(time.monotonic())
            raise OperationalError("SELECT 1", {}, _lost_connection(database))

        with pytest.raises(StoreError) as raised:
            database.statement("renew leases", never_answered)
        message = str(raised.value)
        assert message.startswith(f"cannot renew leases in {database.where}: ")
        assert f"(tried {len(calls)} times over 0." in message
        assert 0.4 <= calls[-1] - calls[0] < 1.5
        # At once, then 50 ms doubling: no busy loop, and no long sleep past the bound.
        assert 5 <= len(calls) <= 8


def test_without_a_retry_bound_a_write_is_tried_once(database_url: str) -> None:
    with Database(database_url, retry_seconds=0) as database:
        calls: list[None] = []

        def lost(conn: Connection) -> None:
            calls.append(None)
            raise OperationalError("SELECT 1", {}, _lost_connection(database))

        with pytest.raises(StoreError, match=r"^cannot renew leases"):
            database.statement("renew leases", lost)
        assert calls == [None]


def test_the_bound_comes_from_the_argument_or_the_environment(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SPINE_DB_RETRY_SECONDS", raising=False)
    with Database(sqlite_url) as database:
        assert database.retry_seconds == 60.0
    monkeypatch.setenv("SPINE_DB_RETRY_SECONDS", "2.5")
    with Database(sqlite_url) as database, SqlStore(sqlite_url, retry_seconds=7) as store:
        assert (database.retry_seconds, store.database.retry_seconds) == (2.5, 7.0)
    monkeypatch.setenv("SPINE_DB_RETRY_SECONDS", "soon")
    with pytest.raises(StoreError, match="SPINE_DB_RETRY_SECONDS='soon'"):
        Database(sqlite_url)
    with pytest.raises(ValueError, match="retry_seconds must be a number >= 0"):
        Database(sqlite_url, retry_seconds=-1)


def test_a_server_that_never_answered_is_reported_at_once() -> None:
    began = time.monotonic()
    with pytest.raises(StoreError, match="cannot prepare its schema"):
        Database("postgresql://postgres@127.0.0.1:1/spine_history", retry_seconds=60)
    assert time.monotonic() - began < 5


# -- SQLite: a lock held past the busy timeout --------------------------------------------


@contextmanager
def _write_lock_held(sqlite_url: str, seconds: float) -> Iterator[None]:
    """Another process's writer holds the file's write lock for ``seconds``."""
    holder = sqlite3.connect(
        sqlite_url.removeprefix("sqlite:///"), isolation_level=None, check_same_thread=False
    )
    holder.execute("BEGIN IMMEDIATE")
    release = threading.Timer(seconds, lambda: holder.execute("COMMIT"))
    release.start()
    try:
        yield
    finally:
        release.join()
        holder.close()


def _short_busy_timeout(store: SqlStore) -> None:
    """Lock waits of 50 ms instead of 30 s on the store's connections, so that a lock
    held for half a second fails a statement several times."""

    @event.listens_for(store.engine, "connect")
    def short(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.execute("PRAGMA busy_timeout = 50")

    store.engine.dispose()  # connections open anew, with it


SQLITE_WRITES: dict[str, Callable[[SqlStore], None]] = {
    "record_step": lambda store: store.record_step(_step()),  # the fast path
    "create_run": lambda store: store.create_run(_run("r2")),  # a transaction
    "set_status": lambda store: store.set_status("r1", WorkflowStatus.WAITING),  # a statement
}


@pytest.mark.parametrize("write", SQLITE_WRITES)
def test_a_sqlite_write_waits_out_a_lock_held_past_the_busy_timeout(
    sqlite_url: str, write: str
) -> None:
    with SqlStore(sqlite_url, retry_seconds=10) as store:
        store.create_run(_run())
        _short_busy_timeout(store)
        before = _count(store, runs), _count(store, steps)
        began = time.monotonic()
        with _write_lock_held(sqlite_url, 0.5):
            SQLITE_WRITES[write](store)
        assert time.monotonic() - began >= 0.45  # it waited for the lock, failing meanwhile
        after = _count(store, runs), _count(store, steps)
        assert sum(after) - sum(before) == (0 if write == "set_status" else 1)


def test_without_retries_the_same_lock_fails_the_write(sqlite_url: str) -> None:
    with SqlStore(sqlite_url, retry_seconds=0) as store:
        store.create_run(_run())
        _short_busy_timeout(store)
        with (
            _write_lock_held(sqlite_url, 0.5),
            pytest.raises(StoreError, match="database is locked"),
        ):
            store.record_step(_step())


# -- every write, tried again after its commit's answer was lost --------------------------


def test_takeovers_in_a_row_are_counted_once_each(store: SqlStore) -> None:
    store.create_run(_run(owner=OWNER, heartbeat_at=T0))
    counts = [store.record_takeover("r1", OWNER, order) for order in (3, 3, 3, 4)]
    assert counts == [1, 2, 3, 1]
    row = run_row(store.engine, "r1")
    assert (row["takeovers"], row["takeover_order"]) == (1, 4)


def test_a_new_run_and_its_steps_cost_what_they_did_before(store: SqlStore) -> None:
    """Idempotence adds no round trip: a new run is one INSERT (nothing read back), a
    step row one statement on the thread's kept connection."""
    executed: list[str] = []
    event.listen(store.engine, "before_cursor_execute", lambda *a: executed.append(a[2]))
    kept: list[str] = []
    run_kept = store.database.dialect.run_kept

    def counted(raw: Any, sql: str, params: Any, fetch: bool) -> Any:
        kept.append(sql)
        return run_kept(raw, sql, params, fetch)

    store.database.dialect.run_kept = counted  # type: ignore[method-assign]
    store.create_run(_run())
    store.record_step(_step())
    words = [sql.split()[0].upper() for sql in executed]
    assert words in (["INSERT"], ["BEGIN", "INSERT"])  # SQLite: BEGIN IMMEDIATE first
    assert len(kept) == 1
    assert kept[0].startswith("INSERT INTO core_workflow_steps")


def test_a_step_row_written_twice_is_one_row(store: SqlStore) -> None:
    store.create_run(_run())
    store.record_step(_step())
    store.record_step(_step())
    assert [r["step_id"] for r in step_rows(store.engine, "r1")] == ["r1:0:1"]


def test_a_run_finished_twice_with_its_last_step_has_one_row(store: SqlStore) -> None:
    store.create_run(_run())
    ended = _run(status=WorkflowStatus.COMPLETED, completed_at=T0 + 2)
    store.finish_run(ended, _step(next_step=None))
    store.finish_run(ended, _step(next_step=None))
    assert len(step_rows(store.engine, "r1")) == 1
    assert run_row(store.engine, "r1")["status"] == WorkflowStatus.COMPLETED


def test_a_run_created_twice_by_its_owner_is_one_row_and_another_is_refused(
    store: SqlStore,
) -> None:
    store.create_run(_run(owner=OWNER, heartbeat_at=T0))
    store.create_run(_run(owner=OWNER, heartbeat_at=T0))
    assert _count(store, runs) == 1
    with pytest.raises(StoreError, match=r"^cannot record run r1 in .*another run has this id"):
        store.create_run(_run(owner=Owner("owner-b", "host-b", 2), heartbeat_at=T0))
    other_start = _run(owner=OWNER, heartbeat_at=T0)
    other_start.started_at = T0 + 1
    with pytest.raises(StoreError, match="another run has this id"):
        store.create_run(other_start)


def _items() -> list[ItemRecord]:
    item = _run("r1:item:0", status=WorkflowStatus.COMPLETED, parent_run_id="r1",
                parent_step="m", item_index=0, completed_at=T0 + 1)  # fmt: skip
    return [ItemRecord(run=item, steps=[_step("r1:item:0", next_step=None)], new=True)]


# write -> (what it does, the SQL whose answer is lost, what must hold afterwards)
LOST_ANSWERS: dict[str, tuple[Callable[[SqlStore], Any], str, Callable[[SqlStore], Any]]] = {
    "record_step": (
        lambda s: s.record_step(_step()),
        "INSERT INTO core_workflow_steps",
        lambda s: [r["step_id"] for r in step_rows(s.engine, "r1")] == ["r1:0:1"],
    ),
    "finish_run": (
        lambda s: s.finish_run(
            _run(status="COMPLETED", completed_at=T0 + 2), _step(next_step=None)
        ),
        "",  # its one statement on PostgreSQL, its transaction's on SQLite
        lambda s: (
            (len(step_rows(s.engine, "r1")), run_row(s.engine, "r1")["status"]) == (1, "COMPLETED")
        ),
    ),
    "create_run": (
        lambda s: s.create_run(_run("r2", owner=OWNER, heartbeat_at=T0)),
        "INSERT INTO core_workflow_runs",
        lambda s: run_row(s.engine, "r2")["owner_id"] == OWNER.owner_id,
    ),
    "save_items": (
        lambda s: s.save_items(_items(), Lease(OWNER.owner_id, 0)),
        "INSERT INTO core_workflow_steps",
        lambda s: (_count(s, runs), len(step_rows(s.engine, "r1:item:0"))) == (2, 1),
    ),
    "set_status": (
        lambda s: s.set_status(
            "r1", WorkflowStatus.WAITING, wake_at=T0 + 60, lease=Lease(OWNER.owner_id, 0)
        ),
        "UPDATE core_workflow_runs",
        lambda s: run_row(s.engine, "r1")["status"] == WorkflowStatus.WAITING,
    ),
    "heartbeat": (
        lambda s: s.heartbeat(["r1"], OWNER, T0 + 5),
        "UPDATE core_workflow_runs",
        lambda s: run_row(s.engine, "r1")["heartbeat_at"].startswith("2025-01-06T06:00:05"),
    ),
    "record_takeover": (
        lambda s: s.record_takeover("r1", OWNER, 3),
        "UPDATE core_workflow_runs",
        lambda s: (
            (run_row(s.engine, "r1")["takeovers"], run_row(s.engine, "r1")["takeover_order"])
            == (1, 3)
        ),
    ),
    "release": (
        lambda s: s.release("r1", Lease(OWNER.owner_id, 0)),
        "UPDATE core_workflow_runs",
        lambda s: run_row(s.engine, "r1")["owner_id"] is None,
    ),
}


def test_a_submit_tried_again_after_a_worker_claimed_its_run_keeps_the_one_run(
    store: SqlStore,
) -> None:
    """The submit's row committed unanswered and a worker claimed it before the retry:
    the retry finds its own run (claimed, so with another owner and start), not a clash."""
    submitted = replace(_run("p1", status=WorkflowStatus.PENDING), params={"day": "2026-01-01"})
    claimed: list[RunRecord] = []

    def claim_then_lose(conn: Connection, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO CORE_WORKFLOW_RUNS") and not claimed:
            conn.commit()
            claimed.extend(store.claim_pending(OWNER, T0 + 5, ["etl"]))
            raise _lost_connection(store.database)

    event.listen(store.engine, "after_cursor_execute", claim_then_lose)
    try:
        store.create_run(submitted)
    finally:
        event.remove(store.engine, "after_cursor_execute", claim_then_lose)
    assert [r.run_id for r in claimed] == ["p1"]
    assert _count(store, runs) == 1
    assert run_row(store.engine, "p1")["owner_id"] == OWNER.owner_id
    # A submit of other params under the same id is another run's, and refused.
    with pytest.raises(StoreError, match="another run has this id"):
        store.create_run(replace(submitted, params={"day": "x"}))


def test_a_cancel_tried_again_after_its_answer_was_lost_still_says_cancelled(
    store: SqlStore,
) -> None:
    store.create_run(_run("p1", status=WorkflowStatus.PENDING))
    with connection_lost(store.database, "UPDATE core_workflow_runs") as hit:
        answer = store.cancel("p1", T0 + 5)
    assert hit
    assert answer == "cancelled"
    assert run_row(store.engine, "p1")["status"] == WorkflowStatus.CANCELLED
    assert store.cancel("p1", T0 + 6) == WorkflowStatus.CANCELLED  # later: already ended


@pytest.mark.parametrize("write", LOST_ANSWERS)
def test_a_write_tried_again_after_its_answer_was_lost_leaves_one_writes_rows(
    store: SqlStore, write: str
) -> None:
    store.create_run(_run(owner=OWNER, heartbeat_at=T0))
    action, sql, holds = LOST_ANSWERS[write]
    with connection_lost(store.database, sql) as hit:
        action(store)
    assert hit, "the fault was not injected"
    assert holds(store)


def test_a_claim_tried_again_after_its_answer_was_lost_knows_it_holds_the_run(
    store: SqlStore,
) -> None:
    store.create_run(_run(owner=Owner("dead", "host-b", 2), heartbeat_at=T0))
    [stale] = store.recoverable(T0 + 100, 30)
    with connection_lost(store.database, "UPDATE core_workflow_runs") as hit:
        claimed = store.claim(stale, OWNER, T0 + 100)
    assert hit
    assert claimed == Lease(OWNER.owner_id, 1)
    assert run_row(store.engine, "r1")["owner_id"] == OWNER.owner_id
    assert run_row(store.engine, "r1")["lease_epoch"] == 1  # raised once, not twice
    # Another claim of the same stale row, by another owner, still loses.
    assert store.claim(stale, Owner("owner-b", "host-b", 3), T0 + 101) is None


def test_a_claim_tried_again_does_not_take_a_run_another_claim_of_its_owner_took(
    store: SqlStore,
) -> None:
    """Two threads of one runner claim one run at the same time; the one whose first try
    failed before committing must not count the other's claim as its own."""
    store.create_run(_run(owner=Owner("dead", "host-b", 2), heartbeat_at=T0))
    [stale] = store.recoverable(T0 + 100, 30)
    assert store.claim(stale, OWNER, T0 + 100) == Lease(OWNER.owner_id, 1)  # the other's
    with connection_lost(store.database, "UPDATE core_workflow_runs", after_commit=False) as hit:
        claimed = store.claim(stale, OWNER, T0 + 100)
    assert hit
    assert claimed is None


def _submit(store: SqlStore, count: int) -> list[str]:
    ids = [f"p{i}" for i in range(count)]
    for i, run_id in enumerate(ids):
        pending = _run(run_id, status=WorkflowStatus.PENDING)
        pending.started_at = T0 + i
        store.create_run(pending)
    return ids


@pytest.mark.parametrize("capped", [False, True], ids=["uncapped", "capped"])
def test_claimed_runs_are_not_lost_when_the_claims_answer_is(store: SqlStore, capped: bool) -> None:
    ids = _submit(store, 3)
    caps = {"etl": 5} if capped else None  # capped: the portable read-then-update
    with connection_lost(store.database, "UPDATE core_workflow_runs") as hit:
        claimed = store.claim_pending(OWNER, T0 + 100, ["etl"], limit=2, caps=caps)
    assert hit
    assert [r.run_id for r in claimed] == ids[:2]
    assert all(r.status == WorkflowStatus.RUNNING or r.owner is None for r in claimed)
    assert {run_row(store.engine, i)["owner_id"] for i in ids[:2]} == {OWNER.owner_id}
    # The next claim takes the run left, not the two again.
    assert [r.run_id for r in store.claim_pending(OWNER, T0 + 100, ["etl"], 2)] == ids[2:]


def test_a_claim_that_failed_before_committing_claims_nothing_then_the_next_one_does(
    store: SqlStore,
) -> None:
    ids = _submit(store, 2)
    with connection_lost(store.database, "UPDATE", after_commit=False) as hit:
        assert store.claim_pending(OWNER, T0 + 100, ["etl"], limit=2) == []
    assert hit
    assert [r.run_id for r in store.claim_pending(OWNER, T0 + 101, ["etl"], 2)] == ids


# -- after an outage --------------------------------------------------------------------


def test_an_outage_is_logged_once_and_remembered(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with Database(database_url, retry_seconds=5) as database:
        calls: list[None] = []

        def answers_at_the_fifth_try(conn: Connection) -> int:
            calls.append(None)
            if len(calls) < 5:
                raise OperationalError("SELECT 1", {}, _lost_connection(database))
            return int(conn.execute(text("SELECT 1")).scalar_one())

        began = time.time()
        with caplog.at_level(logging.INFO, "spine.store"):
            assert database.statement("read one", answers_at_the_fifth_try) == 1
            assert database.statement("read one", answers_at_the_fifth_try) == 1
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1
        assert warnings[0].startswith(f"{database.where} does not answer (")
        assert database.last_outage is not None
        assert began <= database.last_outage[0] <= database.last_outage[1] <= time.time()


def test_after_an_outage_stale_leases_of_other_processes_are_not_taken_at_once(
    store: SqlStore,
) -> None:
    stale = time.time() - 100
    store.create_run(_run("elsewhere", owner=Owner("o2", "host-b", 99), heartbeat_at=stale))
    store.create_run(_run("here", owner=Owner.for_this_process(), heartbeat_at=stale))
    store.create_run(_run("released", status=WorkflowStatus.WAITING))
    everything = {"elsewhere", "here", "released"}

    def listed(lease_seconds: float) -> set[str]:
        return {r.run_id for r in store.recoverable(time.time(), lease_seconds)}

    assert listed(30) == everything
    store.database.last_outage = (time.time() - 50, time.time() - 1)
    # Nobody could renew a lease while the database was away.
    assert listed(30) == {"here", "released"}
    # A lease's time after it came back, a stale lease means a gone owner again.
    assert listed(0.5) == everything
