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
last step                 transaction                       ``WITH``)
worth trying again        ``SQLITE_BUSY``, ``_LOCKED``,     no answer (refused, lost), class
                          ``_IOERR``, ``_PROTOCOL``         08, a server shutting down (57P0x)
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
    BindParameter,
    ColumnElement,
    Connection,
    Engine,
    Insert,
    Integer,
    Select,
    and_,
    bindparam,
    exists,
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
from spine.store.codec import END_COLUMNS, iso, owner_values
from spine.store.schema import runs, steps

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


def held_by(owner_id: Any, epoch: Any) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """The ``WHERE`` terms true of a run while the lease ``(owner_id, epoch)`` holds it."""
    return (runs.c.owner_id == owner_id, runs.c.lease_epoch == epoch)


def _ending(run_id: Any, unless_asked: bool, lease: Any = None) -> ColumnElement[bool]:
    """The ``WHERE`` of writing run ``run_id``'s end; ``unless_asked``: not if the run
    was asked to stop (a run asked to stop ends ``CANCELLED`` and no other way);
    ``lease``: only while that ``(owner_id, epoch)`` holds the run."""
    this_run = runs.c.run_id == run_id
    if lease is not None:
        this_run = and_(this_run, *held_by(*lease))
    return and_(this_run, runs.c.cancel_requested == 0) if unless_asked else this_run


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

        def claimed_before(conn: Connection) -> list[Any]:
            return list(conn.execute(claimed_by(owner.owner_id, iso(now) or "")))

        return self.database.transaction("claim submitted runs", claim, again=claimed_before)

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
    ) -> bool:
        """Write how run ``run_id`` ended (``end``: its end columns) and, if given, the
        row of its last step, together. Portably: both in one transaction.

        A run asked to stop ends ``CANCELLED`` and no other way: any other end is not
        written then (the step's row is) and ``False`` says so. With ``lease``, nothing
        is written unless it holds the run (``False`` too).
        """
        unless_asked = end["status"] != WorkflowStatus.CANCELLED
        fence = None if lease is None else (lease.owner_id, lease.epoch)
        holder = select(*_FLAGS).where(runs.c.run_id == run_id)

        def finish(conn: Connection) -> bool:
            if lease is not None and _flags(conn.execute(holder).first())[1] != lease:
                return False  # (the transaction holds the write lock: no one moves it)
            if step is not None:
                conn.execute(insert(steps).values(**step))
            ended = update(runs).where(_ending(run_id, unless_asked, fence)).values(**end)
            return bool(conn.execute(ended).rowcount == 1)

        return self.database.transaction(f"finish run {run_id}", finish)

    def run_flags(self, run_id: str) -> tuple[bool, Lease | None]:
        """Whether someone asked run ``run_id`` to stop, and the lease holding it (read
        at step boundaries and before each map item: on the fast path)."""
        rows = self.database.execute(
            f"read run {run_id}", self._read_flags, {"key": run_id}, fetch=True
        )
        return _flags(rows[0] if rows else None)

    @cached_property
    def _read_flags(self) -> Prepared:
        return self.database.prepare(select(*_FLAGS).where(runs.c.run_id == bindparam("key")))


class SqliteDialect(Dialect):
    """An SQLite file. Every transaction takes the write lock up front (``BEGIN
    IMMEDIATE``, set up in :mod:`spine.store.engine`): writers queue there, so no lock
    of spine's own is needed."""

    own_database = True

    def single_statement(self) -> AbstractContextManager[Connection]:
        return self.database.engine.begin()

    def hold(self, raw: Any) -> None:
        pass  # the engine's connections already leave transactions to spine

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

    def transient(self, error: BaseException) -> bool:
        code = getattr(error, "sqlite_errorcode", None)
        return isinstance(code, int) and code & 0xFF in _SQLITE_TRANSIENT

    def insert_new(self, table: TableClause) -> Insert:
        return sqlite.insert(table).on_conflict_do_nothing()


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

    def single_statement(self) -> AbstractContextManager[Connection]:
        return self._autocommit.connect()

    @cached_property
    def _autocommit(self) -> Engine:
        return self.database.engine.execution_options(isolation_level="AUTOCOMMIT")

    def hold(self, raw: Any) -> None:
        raw.driver_connection.autocommit = True  # each step row is then one INSERT

    def run_kept(self, raw: Any, sql: str, params: Any, fetch: bool) -> list[Any] | int:
        driver = raw.driver_connection
        if fetch:
            cursor = _kept_cursor(raw, "spine.rows", lambda: _named_cursor(driver))
            cursor.execute(sql, params)
            rows: list[Any] = cursor.fetchall()
            return rows
        cursor = _kept_cursor(raw, "spine.cursor", driver.cursor)
        cursor.execute(sql, params)
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

    @cached_property
    def _statements(self) -> _PostgresStatements:
        return _PostgresStatements(self.database)

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
            statements.claim,
            {"names": list(workflow_names), "limit": limit, "owner_id": owner.owner_id,
             "owner_host": owner.host, "owner_pid": owner.pid, "now": iso(now)},
            fetch=True,
            again=statements.claimed_before,
        )  # fmt: skip
        return sorted(rows, key=lambda row: (-row.priority, row.submitted))

    def finish_run(
        self,
        run_id: str,
        end: dict[str, Any],
        step: dict[str, Any] | None,
        lease: Lease | None = None,
    ) -> bool:
        values = {f"end_{name}": value for name, value in end.items()}
        values["key"] = run_id
        key = (end["status"] != WorkflowStatus.CANCELLED, lease is not None)
        if lease is not None:
            values["fence_owner"], values["fence_epoch"] = lease.owner_id, lease.epoch
        statement = self._statements.finish[key]
        if step is not None:
            values.update({f"step_{name}": value for name, value in step.items()})
            statement = self._statements.finish_with_step[key]
        return bool(self.database.execute(f"finish run {run_id}", statement, values))



def _named_cursor(driver: Any) -> Any:
    """A psycopg cursor whose rows are named tuples (psycopg is loaded only for PostgreSQL)."""
    from psycopg.rows import namedtuple_row

    return driver.cursor(row_factory=namedtuple_row)


class _PostgresStatements:
    """What every queued run executes on PostgreSQL, compiled once for the fast path."""

    def __init__(self, database: Database) -> None:
        picked = (
            select(runs.c.run_id, runs.c.started_at.label("submitted"))
            .where(
                and_(
                    runs.c.status == WorkflowStatus.PENDING,
                    runs.c.parent_run_id.is_(None),
                    runs.c.workflow_name == func.any(bindparam("names")),
                )
            )
            .order_by(runs.c.priority.desc(), runs.c.started_at)
            .limit(bindparam("limit", type_=Integer))
            .with_for_update(skip_locked=True)
            .subquery("picked")
        )
        # Picks and claims in one statement: one round trip, one commit.
        self.claim: Prepared = database.prepare(
            update(runs)
            .where(runs.c.run_id == picked.c.run_id)
            .values(status=WorkflowStatus.RUNNING, owner_id=bindparam("owner_id"),
                    owner_host=bindparam("owner_host"), owner_pid=bindparam("owner_pid"),
                    heartbeat_at=bindparam("now"), started_at=bindparam("now"))
            .returning(*runs.c, picked.c.submitted)
        )  # fmt: skip
        mine = claimed_by(bindparam("owner_id"), bindparam("now"))
        self.claimed_before: Prepared = database.prepare(
            mine.add_columns(runs.c.started_at.label("submitted"))
        )
        # The last step's row and the run's end in one statement (a data-modifying
        # WITH): one round trip and one commit where there would be two of each. The
        # step's row goes in even when the end does not (see Dialect.finish_run).
        row = select(*[bindparam(f"step_{c.name}", type_=c.type) for c in steps.c])
        fence: tuple[BindParameter[str], BindParameter[int]] = (
            bindparam("fence_owner"),
            bindparam("fence_epoch", type_=Integer),
        )
        held = exists().where(runs.c.run_id == bindparam("key"), *held_by(*fence))
        columns = [c.name for c in steps.c]
        last_steps = {
            False: insert(steps).from_select(columns, row).cte("last_step"),
            # Fenced: the row goes in only while the owner holds the run, as the end.
            True: insert(steps).from_select(columns, row.where(held)).cte("last_step"),
        }
        self.finish: dict[tuple[bool, bool], Prepared] = {}
        """The statement ending a run, by whether it yields to a request to stop and
        whether it is fenced by its owner."""
        self.finish_with_step: dict[tuple[bool, bool], Prepared] = {}
        for unless_asked in (False, True):
            for fenced in (False, True):
                finish = (
                    update(runs)
                    .where(_ending(bindparam("key"), unless_asked, fence if fenced else None))
                    .values({name: bindparam(f"end_{name}") for name in END_COLUMNS})
                )
                key = (unless_asked, fenced)
                self.finish[key] = database.prepare(finish)
                self.finish_with_step[key] = database.prepare(finish.add_cte(last_steps[fenced]))


_FLAGS = (runs.c.cancel_requested, runs.c.owner_id, runs.c.lease_epoch)
"""What a holder reads of its run at step boundaries: the cancel flag and the lease."""


def _flags(row: Any) -> tuple[bool, Lease | None]:
    """A row of ``_FLAGS`` as (asked to stop, the lease holding the run)."""
    if row is None:
        return False, None
    asked, owner_id, epoch = row
    return bool(asked), None if owner_id is None else Lease(owner_id, int(epoch or 0))


def claimed_by(owner_id: str | BindParameter[str], at: str | BindParameter[str]) -> Select[Any]:
    """The submitted runs a claim by owner ``owner_id`` at time ``at`` (ISO text) took:
    what a claim tried again returns, in case the try that failed had committed. The
    time tells one claim of an owner from another (the store never gives two the same)."""
    return select(runs).where(
        and_(
            runs.c.status == WorkflowStatus.RUNNING,
            runs.c.heartbeat_at == at,
            runs.c.started_at == at,
            runs.c.owner_id == owner_id,
            runs.c.parent_run_id.is_(None),
        )
    )


DIALECTS: dict[str, type[Dialect]] = {"sqlite": SqliteDialect, "postgresql": PostgresDialect}
"""SQLAlchemy's name of a backend -> its dialect here."""


def dialect_for(database: Database) -> Dialect:
    """The dialect of ``database``'s backend (its engine was chosen from the URL)."""
    return DIALECTS[database.engine.dialect.name](database)
