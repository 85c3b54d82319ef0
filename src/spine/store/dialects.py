"""What differs between SQLite and PostgreSQL: one :class:`Dialect` subclass each.

:class:`Dialect` writes the run history's dialect-sensitive operations the portable
way (a transaction through SQLAlchemy); each subclass says how its backend commits
a statement and serialises writers, and PostgreSQL replaces the operations every
run executes with single statements on the fast path:

========================  ================================  ===================================
                          SQLite                            PostgreSQL
========================  ================================  ===================================
one statement commits     in ``BEGIN IMMEDIATE`` ...        by itself (autocommit)
                          ``COMMIT``
writers take turns        the write lock ``BEGIN            advisory locks (schema changes,
                          IMMEDIATE`` takes up front        capped workflows); ``FOR UPDATE
                                                            SKIP LOCKED`` on claimed rows
claim submitted runs      read, then update                 one ``UPDATE ... (SELECT ... FOR
                                                            UPDATE SKIP LOCKED) RETURNING``
finish a run with its     insert and update in a            one statement (a data-modifying
last step (and claim a    transaction                       ``WITH``)
worker's next run)
worth trying again        ``SQLITE_BUSY``, ``_LOCKED``,     no answer (refused, lost), class
                          ``_IOERR``, ``_PROTOCOL``         08, a server shutting down (57P0x)
wake idle workers         ``PRAGMA data_version`` read      ``NOTIFY`` in the writing
                          every 20 ms by each worker        transaction; workers ``LISTEN``
the database is spine's   the whole file: any other table   a server database may hold other
                          makes it foreign                  applications' tables
========================  ================================  ===================================
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import (
    Connection,
    Engine,
    Insert,
    Select,
    and_,
    bindparam,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.expression import TableClause

from spine.core.records import Lease, Owner
from spine.core.status import WorkflowStatus
from spine.store.codec import iso, owner_values
from spine.store.conditions import FLAGS, claimed_by, ending, flags
from spine.store.many_rows import json_pays
from spine.store.pg_statements import PostgresStatements
from spine.store.schema import runs, steps
from spine.store.wakeups import PostgresWatch, SqliteWatch, Wake, Watch, notify

if TYPE_CHECKING:
    from spine.store.database import Database, Prepared

_MIGRATION_LOCK = 0x5350494E45  # "SPINE": the advisory lock key of schema changes

_SQLITE_TRANSIENT = frozenset({5, 6, 10, 15})
"""SQLite's primary result codes worth trying again: BUSY and LOCKED (a writer held the
lock past the busy timeout), IOERR (the disk or file system hiccuped), PROTOCOL (a
race for the WAL's locks)."""

_POSTGRES_SHUTDOWN = frozenset({"57P01", "57P02", "57P03", "57P05"})
"""Terminated by an administrator, by a crash of another backend, refused while the
server starts or stops, or closed for idling: a new connection will do."""

_POSTGRES_ROLLED_BACK = frozenset({"40001", "40P01"})
"""A serialization failure or a deadlock: the server rolled the transaction back and
says to try it again (every write of the store may be)."""


Claim = tuple[Owner, float, Sequence[str], int, Mapping[str, int]]
"""The arguments of :meth:`Dialect.claim_submitted`: owner, time, workflow names, how
many at most, and the caps of capped workflows."""


class Dialect(ABC):
    """A backend's ways, for one open :class:`~spine.store.database.Database`."""

    own_database: ClassVar[bool]
    """Whether spine owns the whole database, so that any table it did not create
    makes the database foreign (the migration then refuses it)."""

    def __init__(self, database: Database) -> None:
        self.database = database

    # -- committing and taking turns ----------------------------------------------

    @abstractmethod
    def single_statement(self) -> AbstractContextManager[Connection]:
        """A connection for a block of one statement, committed when the block ends."""

    @abstractmethod
    def hold(self, raw: Any) -> None:
        """Ready a pooled DBAPI connection to be kept by one thread for the fast path."""

    @abstractmethod
    def let_go(self, driver: Any) -> None:
        """Undo :meth:`hold` on a kept connection's driver connection, before the pool
        has it back."""

    @abstractmethod
    def run_kept(self, raw: Any, sql: str, params: Any, fetch: bool) -> list[Any] | int:
        """Execute ``sql`` as its own transaction on a kept connection; with ``fetch``
        its rows (named tuples), else how many rows it changed."""

    @abstractmethod
    def lock_schema(self, conn: Connection) -> None:
        """Make processes that open a fresh database at once take turns migrating it;
        the lock ends with ``conn``'s transaction."""

    @abstractmethod
    def lock_workflow(self, conn: Connection, name: str) -> None:
        """Make claims of capped workflow ``name`` take turns, so that a count of its
        running runs stays true until ``conn``'s transaction ends."""

    @abstractmethod
    def lock_rows(self, query: Select[Any]) -> Select[Any]:
        """``query`` locking the rows it reads against other claimers."""

    @abstractmethod
    def transient(self, error: BaseException) -> bool:
        """Whether the driver's ``error`` says the database could not answer now (worth
        trying again), rather than that the statement is wrong."""

    @abstractmethod
    def insert_new(self, table: TableClause) -> Insert:
        """An INSERT into ``table`` that leaves a row with the same key alone (``ON
        CONFLICT DO NOTHING``): a write tried again after a commit whose answer was
        lost finds its own row there."""

    @abstractmethod
    def announce(self, conn: Connection, what: str) -> None:
        """Tell idle workers that ``what`` happened (``wakeups.PENDING``, ``DUE``), when
        the transaction of ``conn`` commits."""

    @abstractmethod
    def watch(self, wake: Wake) -> Watch:
        """A thread calling ``wake`` when a run may have become claimable (see
        :mod:`spine.store.wakeups`), until it is closed."""

    # -- the run history ------------------------------------------------------------

    def claim_submitted(
        self,
        owner: Owner,
        now: float,
        workflow_names: Sequence[str],
        limit: int,
        caps: Mapping[str, int],
    ) -> list[Any]:
        """Take up to ``limit`` of the submitted runs of ``workflow_names``, highest
        priority first and oldest first within one, and return their rows as they were,
        in that order.

        Portably: read them, then update them, in one transaction. ``caps`` bounds how
        many runs of a workflow may be ``RUNNING`` at once, across every worker.
        """

        def claim(conn: Connection) -> list[Any]:
            return self._claim(conn, owner, now, workflow_names, limit, caps)

        claimed_before = _claimed_at(owner, now)
        return self.database.transaction("claim submitted runs", claim, again=claimed_before)

    def claimed_at(self, owner: Owner, now: float) -> list[Any]:
        """The rows of the runs a claim by ``owner`` at ``now`` took (that claim's answer
        may have been lost: a try that failed had committed)."""
        return self.database.statement("read claimed runs", _claimed_at(owner, now))

    def _claim(
        self,
        conn: Connection,
        owner: Owner,
        now: float,
        workflow_names: Sequence[str],
        limit: int,
        caps: Mapping[str, int],
    ) -> list[Any]:
        """The portable claim (see :meth:`claim_submitted`) in ``conn``'s transaction."""
        allowance = self._allowance(conn, caps, workflow_names)
        names = [n for n in workflow_names if allowance.get(n, 1) > 0]
        if not names:
            return []
        query = (
            select(runs)
            .where(
                and_(
                    runs.c.status == WorkflowStatus.PENDING,
                    runs.c.parent_run_id.is_(None),
                    runs.c.workflow_name.in_(names),
                )
            )
            .order_by(runs.c.priority.desc(), runs.c.started_at)
            .limit(limit)
        )
        claimed = []
        for row in conn.execute(self.lock_rows(query)):
            if row.workflow_name in allowance:
                if allowance[row.workflow_name] <= 0:
                    continue
                allowance[row.workflow_name] -= 1
            claimed.append(row)
        if claimed:
            conn.execute(
                update(runs)
                .where(
                    and_(
                        runs.c.run_id.in_([row.run_id for row in claimed]),
                        runs.c.status == WorkflowStatus.PENDING,
                    )
                )
                .values(status=WorkflowStatus.RUNNING, started_at=iso(now),
                        **owner_values(owner, now))
            )  # fmt: skip
        return claimed

    def _allowance(
        self, conn: Connection, caps: Mapping[str, int], names: Sequence[str]
    ) -> dict[str, int]:
        """For each capped workflow among ``names``: how many more runs may start now."""
        allowance: dict[str, int] = {}
        for name in sorted(n for n in names if n in caps):
            self.lock_workflow(conn, name)
            running = conn.execute(
                select(func.count())
                .select_from(runs)
                .where(and_(runs.c.workflow_name == name,
                            runs.c.status == WorkflowStatus.RUNNING))
            ).scalar()  # fmt: skip
            allowance[name] = caps[name] - int(running or 0)
        return allowance

    def finish_run(
        self,
        run_id: str,
        end: dict[str, Any],
        step: dict[str, Any] | None,
        lease: Lease | None = None,
        claim: Claim | None = None,
    ) -> tuple[bool, list[Any]]:
        """Write how run ``run_id`` ended (``end``: its end columns) and, if given, the
        row of its last step, together; with ``claim``, claim submitted runs too (as
        :meth:`claim_submitted` with these arguments), in the same commit. Returns
        whether the end was written, and the rows claimed. Portably: one transaction.

        A run asked to stop ends ``CANCELLED`` and no other way: any other end is not
        written then (the step's row is) and ``False`` says so. With ``lease``, nothing
        is written unless it holds the run (``False`` too).
        """
        unless_asked = end["status"] != WorkflowStatus.CANCELLED
        fence = None if lease is None else (lease.owner_id, lease.epoch)
        holder = select(*FLAGS).where(runs.c.run_id == run_id)

        def finish(conn: Connection) -> tuple[bool, list[Any]]:
            if lease is not None and flags(conn.execute(holder).first())[1] != lease:
                ended = False  # (the transaction holds the write lock: no one moves it)
            else:
                if step is not None:
                    conn.execute(insert(steps).values(**step))
                changed = update(runs).where(ending(run_id, unless_asked, fence)).values(**end)
                ended = conn.execute(changed).rowcount == 1
            return ended, [] if claim is None else self._claim(conn, *claim)

        return self.database.transaction(f"finish run {run_id}", finish)

    def run_flags(self, run_id: str) -> tuple[bool, Lease | None]:
        """Whether someone asked run ``run_id`` to stop, and the lease holding it (read
        at step boundaries and before each map item: on the fast path)."""
        rows = self.database.execute(
            f"read run {run_id}", self._read_flags, {"key": run_id}, fetch=True
        )
        return flags(rows[0] if rows else None)

    def rows_as_json(self) -> bool:
        """Whether many rows go into a table as one JSON text (see
        :mod:`spine.store.many_rows`)."""
        return False

    @cached_property
    def _read_flags(self) -> Prepared:
        return self.database.prepare(select(*FLAGS).where(runs.c.run_id == bindparam("key")))


class SqliteDialect(Dialect):
    """An SQLite file. Every transaction takes the write lock up front (``BEGIN
    IMMEDIATE``, set up in :mod:`spine.store.engine`): writers queue there, so no lock
    of spine's own is needed."""

    own_database = True

    def single_statement(self) -> AbstractContextManager[Connection]:
        return self.database.engine.begin()

    def hold(self, raw: Any) -> None:
        pass  # the engine's connections already leave transactions to spine

    def let_go(self, driver: Any) -> None:
        pass

    def run_kept(self, raw: Any, sql: str, params: Any, fetch: bool) -> list[Any] | int:
        cursor = _kept_cursor(raw, "spine.cursor", raw.driver_connection.cursor)
        if sql.startswith("SELECT"):
            # A read takes no write lock: in WAL mode it sees the last commit, neither
            # waiting for writers nor holding them up (each map item's look is one).
            cursor.execute(sql, params)
            return _named_rows(cursor)
        cursor.execute("BEGIN IMMEDIATE")
        try:
            cursor.execute(sql, params)
            rows = _named_rows(cursor) if fetch else cursor.rowcount
        except BaseException:
            cursor.execute("ROLLBACK")
            raise
        cursor.execute("COMMIT")
        return rows

    def lock_schema(self, conn: Connection) -> None:
        pass  # BEGIN IMMEDIATE already serialises the migrations

    def lock_workflow(self, conn: Connection, name: str) -> None:
        pass  # BEGIN IMMEDIATE already serialises the claims

    def lock_rows(self, query: Select[Any]) -> Select[Any]:
        return query  # no other writer can be reading them

    def rows_as_json(self) -> bool:
        return json_pays()

    def transient(self, error: BaseException) -> bool:
        code = getattr(error, "sqlite_errorcode", None)
        return isinstance(code, int) and code & 0xFF in _SQLITE_TRANSIENT

    def insert_new(self, table: TableClause) -> Insert:
        return sqlite.insert(table).on_conflict_do_nothing()

    def announce(self, conn: Connection, what: str) -> None:
        pass  # every commit moves the change counter the watches read

    def watch(self, wake: Wake) -> Watch:
        return SqliteWatch(self.database, wake)


def _kept_cursor(raw: Any, key: str, make: Callable[[], Any]) -> Any:
    """The cursor ``make`` made for a kept connection, made once (its ``info`` lives as
    long as the driver's connection does)."""
    cursor = raw.info.get(key)
    if cursor is None:
        cursor = raw.info[key] = make()
    return cursor


def _named_rows(cursor: Any) -> list[Any]:
    """The rows of an sqlite3 cursor as named tuples, as psycopg returns them."""
    row = _row_type(tuple(column[0] for column in cursor.description))
    return [row(*values) for values in cursor.fetchall()]


@lru_cache(maxsize=64)
def _row_type(names: tuple[str, ...]) -> Any:
    # Made once per shape: a run's cancel flag is read often (before each map item,
    # between the slices of a wait), and making a named tuple type costs more than
    # the read.
    return namedtuple("row", names, rename=True)


class PostgresDialect(Dialect):
    """A PostgreSQL database (or a schema in one). The statements every run executes
    are single statements in autocommit mode on the fast path: each is one round
    trip and its own transaction."""

    own_database = False

    def __init__(self, database: Database) -> None:
        super().__init__(database)
        self._encoded: dict[str, bytes] = {}

    def single_statement(self) -> AbstractContextManager[Connection]:
        return self._autocommit.connect()

    @cached_property
    def _autocommit(self) -> Engine:
        return self.database.engine.execution_options(isolation_level="AUTOCOMMIT")

    def hold(self, raw: Any) -> None:
        driver = raw.driver_connection
        driver.autocommit = True  # each step row is then one INSERT
        # No sorts on the fast path: none of its statements needs one, and the planner
        # must not choose one for a claim. With stale statistics (a queue filled since
        # the table was last analyzed) it takes the pending runs for a handful, sorts
        # them all by priority and age for each claim, and a claim of one run costs as
        # much as the whole backlog; the claim index is in that very order.
        driver.execute("SET enable_sort = off")

    def let_go(self, driver: Any) -> None:
        driver.execute("RESET enable_sort")
        # The pool hands connections out in transaction mode; give it one back so.
        driver.autocommit = False

    def run_kept(self, raw: Any, sql: str, params: Any, fetch: bool) -> list[Any] | int:
        driver = raw.driver_connection
        # The statement as the same bytes each time: psycopg would encode the text again
        # at every execution, and bytes keep their hash for its cache of parsed queries.
        query = self._encoded.get(sql)
        if query is None:
            query = self._encoded[sql] = sql.encode()
        if fetch:
            cursor = _kept_cursor(raw, "spine.rows", lambda: _named_cursor(driver))
            cursor.execute(query, params)
            rows: list[Any] = cursor.fetchall()
            return rows
        cursor = _kept_cursor(raw, "spine.cursor", driver.cursor)
        cursor.execute(query, params)
        changed: int = cursor.rowcount
        return changed

    def lock_schema(self, conn: Connection) -> None:
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})

    def lock_workflow(self, conn: Connection, name: str) -> None:
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"spine:{name}"})

    def lock_rows(self, query: Select[Any]) -> Select[Any]:
        # Workers claiming at once each get different runs instead of queueing behind one.
        return query.with_for_update(skip_locked=True)

    def transient(self, error: BaseException) -> bool:
        import psycopg

        if not isinstance(error, psycopg.Error):
            return False
        state = error.sqlstate
        if state is None:
            # No answer from the server at all: a connection refused, lost or closed.
            return isinstance(error, psycopg.OperationalError | psycopg.InterfaceError)
        return state.startswith("08") or state in _POSTGRES_SHUTDOWN | _POSTGRES_ROLLED_BACK

    def insert_new(self, table: TableClause) -> Insert:
        return postgresql.insert(table).on_conflict_do_nothing()

    def announce(self, conn: Connection, what: str) -> None:
        notify(conn, what)

    def watch(self, wake: Wake) -> Watch:
        return PostgresWatch(self.database, wake)

    @cached_property
    def _statements(self) -> PostgresStatements:
        return PostgresStatements(self.database)

    def claim_submitted(
        self,
        owner: Owner,
        now: float,
        workflow_names: Sequence[str],
        limit: int,
        caps: Mapping[str, int],
    ) -> list[Any]:
        if any(name in caps for name in workflow_names):
            # A cap is a count that must hold until the claim commits: read, then update.
            return super().claim_submitted(owner, now, workflow_names, limit, caps)
        statements = self._statements
        rows = self.database.execute(
            "claim submitted runs",
            statements.claim(limit),
            self._claim_values(owner, now, workflow_names, limit, caps),
            fetch=True,
            again=statements.claimed_before,
        )
        return sorted(rows, key=lambda row: (-row.priority, row.submitted))

    @staticmethod
    def _claim_values(
        owner: Owner, now: float, workflow_names: Sequence[str], limit: int, caps: object
    ) -> dict[str, Any]:
        return {"names": list(workflow_names), "owner_id": owner.owner_id,
                "owner_host": owner.host, "owner_pid": owner.pid, "now": iso(now)}  # fmt: skip

    def finish_run(
        self,
        run_id: str,
        end: dict[str, Any],
        step: dict[str, Any] | None,
        lease: Lease | None = None,
        claim: Claim | None = None,
    ) -> tuple[bool, list[Any]]:
        values = {f"end_{name}": value for name, value in end.items()}
        values["key"] = run_id
        key = (end["status"] != WorkflowStatus.CANCELLED, lease is not None, step is not None)
        if lease is not None:
            values["fence_owner"], values["fence_epoch"] = lease.owner_id, lease.epoch
        if step is not None:
            values.update({f"step_{name}": value for name, value in step.items()})
        action = f"finish run {run_id}"
        statements = self._statements
        if claim is None or any(name in claim[4] for name in claim[2]):
            ended = bool(self.database.execute(action, statements.finish[key], values))
            # (A capped workflow's claim takes turns: a statement of its own.)
            return ended, [] if claim is None else self.claim_submitted(*claim)
        values.update(self._claim_values(*claim))
        finishing = statements.finish_claiming(key, claim[3])
        rows = self.database.execute(action, finishing, values, fetch=True)
        claimed = [row for row in rows if row.run_id is not None]
        return bool(rows[0].ended), sorted(claimed, key=lambda row: (-row.priority, row.submitted))


def _claimed_at(owner: Owner, now: float) -> Callable[[Connection], list[Any]]:
    """What reads the rows of the runs a claim by ``owner`` at ``now`` took."""
    query = claimed_by(owner.owner_id, iso(now) or "")
    return lambda conn: list(conn.execute(query))


def _named_cursor(driver: Any) -> Any:
    """A psycopg cursor whose rows are named tuples (psycopg is loaded only for PostgreSQL)."""
    from psycopg.rows import namedtuple_row

    return driver.cursor(row_factory=namedtuple_row)


DIALECTS: dict[str, type[Dialect]] = {"sqlite": SqliteDialect, "postgresql": PostgresDialect}
"""SQLAlchemy's name of a backend -> its dialect here."""


def dialect_for(database: Database) -> Dialect:
    """The dialect of ``database``'s backend (its engine was chosen from the URL)."""
    return DIALECTS[database.engine.dialect.name](database)
