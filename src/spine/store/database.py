"""``Database``: one spine database, shared by the run, schedule and alert stores.

It opens the engine for a URL and brings the schema up to date, then offers three
ways to execute SQL, each turning a SQLAlchemy or driver error into a
:class:`~spine.core.errors.StoreError` that names what was being done and where:

- :meth:`Database.transaction`: a function of a connection, run in a transaction;
- :meth:`Database.statement`: a function that executes one statement, which commits
  by itself in the cheapest way its backend offers;
- :meth:`Database.prepare` and :meth:`Database.execute`: the fast path for
  statements every run executes (one per step), compiled once and run on a
  connection each thread keeps.

Each of them tries again when the database could not answer (a connection dropped
or refused, a server shutting down, SQLite's lock held past its busy timeout, an
I/O hiccup): at once, then after 50 ms, doubling up to 2 s, for up to
``retry_seconds`` (60 by default, or ``$SPINE_DB_RETRY_SECONDS``). Another try may
follow a commit whose answer was lost, so what is handed to them must be
idempotent; where a second try has to look before it writes, it is passed as
``again``. An error of the statement itself (a constraint, bad SQL) is not retried.

What differs between backends is asked of :attr:`Database.dialect`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, suppress
from dataclasses import dataclass
from functools import cached_property
from operator import itemgetter
from types import TracebackType
from typing import Any, Self, TypeVar, cast

from sqlalchemy import Connection, Engine, event
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from spine.core.errors import StoreError
from spine.store.dialects import Dialect, dialect_for
from spine.store.engine import connect
from spine.store.migrations import migrate

T = TypeVar("T")
Work = Callable[[Connection], T]
"""What :meth:`Database.transaction` and :meth:`Database.statement` run: a function of a
connection, called again if the database did not answer."""

logger = logging.getLogger("spine.store")

DEFAULT_RETRY_SECONDS = 60.0
"""How long a statement is tried again while the database does not answer."""
FIRST_PAUSE = 0.05
LONGEST_PAUSE = 2.0


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


Values = Mapping[str, Any] | tuple[Any, ...]
"""A prepared statement's parameter values: by name, or in the order of its positions."""


@dataclass(frozen=True, slots=True)
class Prepared:
    """A statement compiled once for :meth:`Database.execute`: its SQL (with positional
    parameters), their names in order, and the values it carries itself."""

    sql: str
    positions: tuple[str, ...]
    defaults: dict[str, Any]
    """Each parameter's value when a call gives none (a literal's, else ``None``)."""
    ordered: Callable[[Mapping[str, Any]], tuple[Any, ...]]
    """The parameters' values in order, from a mapping of their names."""


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

    ``retry_seconds``: how long a statement is tried again while the database does not
    answer (default ``$SPINE_DB_RETRY_SECONDS``, else 60; 0 tries once).

    Attributes: ``engine`` (SQLAlchemy), ``where`` (a printable name for messages),
    ``url``, ``retry_seconds``, ``dialect`` (what differs on this backend), and
    ``last_outage``: when the database last stopped answering and answered again
    (seconds since the epoch), or ``None``.
    """

    def __init__(self, database_url: str, *, retry_seconds: float | None = None) -> None:
        self.retry_seconds = _retry_seconds(retry_seconds)
        target = connect(database_url)
        self.engine: Engine = target.engine
        self.where: str = target.where
        self.url = database_url
        self.dialect: Dialect = dialect_for(self)
        self._answered = False
        # Ahead of SQLAlchemy's own first-connect queries, which a dropped connection
        # can interrupt too.
        event.listen(self.engine, "first_connect", self._connected, insert=True)
        self._outage: tuple[float, float] | None = None  # (monotonic, epoch) it began
        self._outage_lock = threading.Lock()
        self.last_outage: tuple[float, float] | None = None
        try:
            self.transaction("prepare its schema", self._migrate)
        except BaseException:
            self.engine.dispose()  # a database that cannot be opened keeps no connection
            raise
        self._kept = _KeptConnections(self.engine, self.dialect)

    def _connected(self, dbapi_connection: Any, record: Any) -> None:
        self._answered = True

    def _migrate(self, conn: Connection) -> None:
        migrate(conn, self.where, self.dialect)

    def transaction(self, action: str, work: Work[T], *, again: Work[T] | None = None) -> T:
        """``work(conn)`` in a transaction committed when it returns; its result.

        ``action`` says what it does ("record run 42"): a failure raises
        ``StoreError("cannot <action> in <where>: ...")``. Tried again while the
        database does not answer, with ``again`` instead of ``work`` if given (the
        first try may have committed).
        """
        return self._attempts(action, self.engine.begin, work, again)

    def statement(self, action: str, work: Work[T], *, again: Work[T] | None = None) -> T:
        """``work(conn)``, which executes one statement, committed as the backend does
        it most cheaply (on PostgreSQL by itself: no BEGIN and COMMIT round trips).
        Errors and tries as for :meth:`transaction`."""
        return self._attempts(action, self.dialect.single_statement, work, again)

    def _attempts(
        self,
        action: str,
        open_connection: Callable[[], AbstractContextManager[Connection]],
        work: Work[T],
        again: Work[T] | None,
    ) -> T:
        def attempt(block: Work[T]) -> T:
            with open_connection() as conn:
                return block(conn)

        try:
            result = attempt(work)
        except Exception as exc:
            return self._retried(action, exc, lambda: attempt(again or work))
        if self._outage is not None:
            self._outage_ends()
        return result

    def prepare(self, statement: ClauseElement) -> Prepared:
        """Compile ``statement`` once, for :meth:`execute`."""
        # A SELECT, INSERT or UPDATE compiles to an SQLCompiler, which knows the order
        # of its parameters. Positional, whatever the driver's default: a tuple of
        # values costs the driver less than a dict it must put in order on every call.
        compiled = cast(SQLCompiler, statement.compile(dialect=self._positional))
        positions = tuple(compiled.positiontup or ())
        return Prepared(compiled.string, positions, dict(compiled.params), _in_order(positions))

    @cached_property
    def _positional(self) -> Any:
        """The engine's SQLAlchemy dialect, compiling positional parameters."""
        dialect = self.engine.dialect
        if dialect.positional:
            return dialect
        return cast(Any, type(dialect))(paramstyle="format")

    def execute(
        self,
        action: str,
        prepared: Prepared,
        values: Values,
        *,
        fetch: bool = False,
        again: Prepared | None = None,
    ) -> Any:
        """Execute ``prepared`` with ``values`` (by name, or a tuple in the order of its
        ``positions``) as its own transaction, on this thread's kept connection; with
        ``fetch`` return its rows (named tuples), else how many rows it changed. Tried
        again as :meth:`transaction` is (``again``: the statement for the later tries).

        This skips what SQLAlchemy adds per statement (building and caching the
        statement, checking a connection out of the pool, pinging it and resetting
        it on return): the price of a step row is then little more than the driver's.
        """
        try:
            result = self._kept.run(prepared, values, fetch)
        except Exception as exc:
            return self._retried(
                action, exc, lambda: self._kept.run(again or prepared, values, fetch)
            )
        if self._outage is not None:
            self._outage_ends()
        return result

    def _retried(self, action: str, failure: Exception, attempt: Callable[[], T]) -> T:
        """After a first try failed with ``failure``: ``attempt()`` again while the
        database could not answer, pausing longer each time, until ``retry_seconds``
        have passed; else the ``StoreError`` of the last failure (anything not from the
        database is raised as it is)."""
        if not self._from_database(failure):
            raise failure
        began = time.monotonic()
        deadline = began + self.retry_seconds
        tries, pause = 1, 0.0  # a dropped connection is usually replaced at once
        while self._transient(failure) and (left := deadline - time.monotonic()) > 0:
            if pause:
                self._outage_begins(failure)
                time.sleep(min(pause, left))
            pause = min(max(pause * 2, FIRST_PAUSE), LONGEST_PAUSE)
            tries += 1
            try:
                result = attempt()
            except Exception as exc:
                if not self._from_database(exc):
                    raise
                failure = exc
                continue
            if self._outage is not None:
                self._outage_ends()
            return result
        raise self._failure(action, failure, tries, time.monotonic() - began) from failure

    def _from_database(self, exc: Exception) -> bool:
        return isinstance(exc, SQLAlchemyError | self.engine.dialect.loaded_dbapi.Error)

    def _transient(self, exc: Exception) -> bool:
        """Whether ``exc`` says the database could not answer now, rather than that the
        statement is wrong."""
        if not self._answered:
            # A database that never answered is most likely a wrong URL: say so at once.
            return False
        if isinstance(exc, DBAPIError):
            if exc.connection_invalidated:
                return True
            return exc.orig is not None and self.dialect.transient(exc.orig)
        return self.dialect.transient(exc)

    def _outage_begins(self, failure: Exception) -> None:
        # Once per outage, however many threads wait it out: not a line per try.
        with self._outage_lock:
            if self._outage is not None:
                return
            self._outage = (time.monotonic(), time.time())
        logger.warning("%s does not answer (%s); trying again for up to %g s",
                       self.where, explain(failure), self.retry_seconds)  # fmt: skip

    def _outage_ends(self) -> None:
        with self._outage_lock:
            began = self._outage
            if began is None:
                return
            self._outage = None
            self.last_outage = (began[1], time.time())
        logger.info("%s answers again, after %.1f s", self.where, time.monotonic() - began[0])

    def _failure(
        self, action: str, exc: BaseException, tries: int = 1, seconds: float = 0.0
    ) -> StoreError:
        gave_up = f" (tried {tries} times over {seconds:.1f} s)" if tries > 1 else ""
        return StoreError(f"cannot {action} in {self.where}: {explain(exc)}{gave_up}")

    def close(self) -> None:
        self._kept.close()
        self.engine.dispose()


def _in_order(positions: tuple[str, ...]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """What takes a statement's parameter values, in order, from a mapping of names."""
    if len(positions) > 1:
        return itemgetter(*positions)  # (a tuple only for two names or more)
    if not positions:
        return lambda values: ()
    (name,) = positions
    return lambda values: (values[name],)


def _retry_seconds(given: float | None) -> float:
    if given is None:
        text = os.environ.get("SPINE_DB_RETRY_SECONDS")
        if not text:
            return DEFAULT_RETRY_SECONDS
        try:
            given = float(text)
        except ValueError:
            given = -1.0
        if not given >= 0:
            raise StoreError(
                f"SPINE_DB_RETRY_SECONDS={text!r}: give how many seconds to try again "
                "while the database does not answer (a number >= 0)"
            )
    if not given >= 0:
        raise ValueError(f"retry_seconds must be a number >= 0, got {given!r}")
    return float(given)


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
            raw = self._engine.raw_connection()
            try:
                held = self._local.held = _Held(raw, self._dialect)
            except BaseException:
                # Lost while being readied (a server going away): not back to the pool,
                # whose reset of it would fail too.
                raw.invalidate()
                raise
            self._all.add(held)
        return held.connection

    def close(self) -> None:
        """Give back every thread's connection (before the engine is disposed)."""
        for held in list(self._all):
            _close_quietly(held.connection, self._dialect)
        self._local = threading.local()

    def run(self, prepared: Prepared, values: Values, fetch: bool) -> Any:
        if isinstance(values, tuple):
            params = values
        else:
            try:
                params = prepared.ordered(values)
            except KeyError:  # a value the statement carries itself (a literal), or None
                params = prepared.ordered({**prepared.defaults, **values})
        raw = self._connection()
        try:
            return self._dialect.run_kept(raw, prepared.sql, params, fetch)
        except BaseException as exc:
            # A kept connection is not pinged like a pooled one: one the server dropped
            # shows here, and the pool must not hand it out again.
            if self._dropped(exc, raw):
                raw.invalidate()
            # Its state is unknown now: let it go back, and take a fresh one next time.
            self._local.held = None
            raise

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
        weakref.finalize(self, _close_quietly, connection, dialect)


def _close_quietly(connection: Any, dialect: Dialect) -> None:
    with suppress(Exception):
        driver = connection.driver_connection
        if driver is not None:
            try:
                dialect.let_go(driver)
            except Exception:
                # Lost (a server gone away): not back to the pool, whose reset would fail.
                connection.invalidate()
                return
        connection.close()
