"""``Database``: one spine database, shared by the run, schedule and alert stores.

It opens the engine for a URL and brings the schema up to date, then offers three
ways to execute SQL, each turning a SQLAlchemy or driver error into a
:class:`~spine.core.errors.StoreError` that names what was being done and where:

- :meth:`Database.transaction`: a block of statements committed together;
- :meth:`Database.statement`: a block of one statement, which commits by itself in
  the cheapest way its backend offers;
- :meth:`Database.prepare` and :meth:`Database.execute`: the fast path for
  statements every run executes (one per step), compiled once and run on a
  connection each thread keeps.

What differs between backends is asked of :attr:`Database.dialect`.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self, cast

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from spine.core.errors import StoreError
from spine.store.dialects import Dialect, dialect_for
from spine.store.engine import connect
from spine.store.migrations import migrate


def explain(exc: BaseException) -> str:
    """The first line of a database error, with what it usually means for a file."""
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
class Prepared:
    """A statement compiled once for :meth:`Database.execute`: its SQL, the order of
    its parameters (for positional drivers) and the values it carries itself."""

    sql: str
    positions: tuple[str, ...] | None
    defaults: dict[str, Any]


class Closing:
    """Closed at the end of a ``with`` block (``close`` is the subclass's)."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class Database(Closing):
    """The database at ``database_url`` (SQLite or PostgreSQL), its schema created or
    migrated on open; :meth:`close` gives its connections back.

    Attributes: ``engine`` (SQLAlchemy), ``where`` (a printable name for messages),
    ``url``, and ``dialect`` (what differs on this backend).
    """

    def __init__(self, database_url: str) -> None:
        target = connect(database_url)
        self.engine: Engine = target.engine
        self.where: str = target.where
        self.url = database_url
        self.dialect: Dialect = dialect_for(self)
        try:
            with self.transaction("prepare its schema") as conn:
                migrate(conn, self.where, self.dialect)
        except BaseException:
            self.engine.dispose()  # a database that cannot be opened keeps no connection
            raise
        self._kept = _KeptConnections(self.engine, self.dialect)

    def transaction(self, action: str) -> AbstractContextManager[Connection]:
        """A connection in a transaction committed at the end of the block.

        ``action`` says what the block does ("record run 42"): a failure raises
        ``StoreError("cannot <action> in <where>: ...")``.
        """
        return self._translated(action, self.engine.begin)

    def statement(self, action: str) -> AbstractContextManager[Connection]:
        """A connection for a block that executes one statement, committed as the
        backend does it most cheaply (on PostgreSQL by itself: no BEGIN and COMMIT
        round trips). Errors as for :meth:`transaction`."""
        return self._translated(action, self.dialect.single_statement)

    @contextmanager
    def _translated(
        self, action: str, open_connection: Callable[[], AbstractContextManager[Connection]]
    ) -> Iterator[Connection]:
        try:
            with open_connection() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise self._failure(action, exc) from exc

    def _failure(self, action: str, exc: BaseException) -> StoreError:
        return StoreError(f"cannot {action} in {self.where}: {explain(exc)}")

    def prepare(self, statement: ClauseElement) -> Prepared:
        """Compile ``statement`` once, for :meth:`execute`."""
        # A SELECT, INSERT or UPDATE compiles to an SQLCompiler, which knows the order
        # of its parameters.
        compiled = cast(SQLCompiler, statement.compile(dialect=self.engine.dialect))
        positions = compiled.positiontup
        return Prepared(compiled.string, tuple(positions) if positions else None,
                        dict(compiled.params))  # fmt: skip

    def execute(
        self, action: str, prepared: Prepared, values: dict[str, Any], *, fetch: bool = False
    ) -> Any:
        """Execute ``prepared`` with ``values`` as its own transaction, on this thread's
        kept connection; with ``fetch`` return its rows (named tuples), else how many
        rows it changed.

        This skips what SQLAlchemy adds per statement (building and caching the
        statement, checking a connection out of the pool, pinging it and resetting
        it on return): the price of a step row is then little more than the driver's.
        """
        try:
            return self._kept.run(prepared, values, fetch=fetch)
        except Exception as exc:
            raise self._failure(action, exc) from exc

    def close(self) -> None:
        self._kept.close()
        self.engine.dispose()


class _KeptConnections:
    """A pooled DBAPI connection per thread, kept while the thread lives, for
    :meth:`Database.execute`; the dialect says how a statement commits on it."""

    def __init__(self, engine: Engine, dialect: Dialect) -> None:
        self._engine = engine
        self._dialect = dialect
        self._local = threading.local()
        self._all: weakref.WeakSet[_Held] = weakref.WeakSet()

    def _connection(self) -> Any:
        held = getattr(self._local, "held", None)
        if held is None:
            held = self._local.held = _Held(self._engine.raw_connection(), self._dialect)
            self._all.add(held)
        return held.connection

    def close(self) -> None:
        """Give back every thread's connection (before the engine is disposed)."""
        for held in list(self._all):
            _close_quietly(held.connection)
        self._local = threading.local()

    def run(self, prepared: Prepared, values: dict[str, Any], *, fetch: bool) -> Any:
        merged = {**prepared.defaults, **values} if prepared.defaults else values
        params: Any = (
            tuple(merged[name] for name in prepared.positions) if prepared.positions else merged
        )
        return self._execute(prepared.sql, params, fetch)

    def _execute(self, sql: str, params: Any, fetch: bool, *, retry: bool = True) -> Any:
        raw = self._connection()
        try:
            return self._dialect.run_kept(raw, sql, params, fetch)
        except BaseException as exc:
            dropped = self._dropped(exc, raw)
            if dropped:
                raw.invalidate()  # the pool must not hand it out again
            # The connection's state is unknown now: let it go back and start afresh.
            self._local.held = None
            if not (dropped and retry):
                raise
        # A kept connection is not pinged like a pooled one: the server dropped it.
        # Once more, then, on a fresh connection (the pool pings it on checkout).
        return self._execute(sql, params, fetch, retry=False)

    def _dropped(self, exc: BaseException, raw: Any) -> bool:
        dialect = self._engine.dialect
        # SQLAlchemy's PostgreSQL check needs the driver's connection to look at.
        return isinstance(exc, dialect.loaded_dbapi.Error) and dialect.is_disconnect(
            exc, raw.driver_connection, None
        )


class _Held:
    """A pooled DBAPI connection kept by one thread, returned when the thread ends."""

    __slots__ = ("__weakref__", "connection")

    def __init__(self, connection: Any, dialect: Dialect) -> None:
        self.connection = connection
        dialect.hold(connection)
        weakref.finalize(self, _close_quietly, connection)


def _close_quietly(connection: Any) -> None:
    with suppress(Exception):
        driver = connection.driver_connection
        # The pool hands connections out in transaction mode; give it one back so.
        if driver is not None and getattr(driver, "autocommit", False):
            driver.autocommit = False
        connection.close()
