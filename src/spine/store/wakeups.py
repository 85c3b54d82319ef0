"""Waking idle workers when a run becomes claimable, without polling the database.

A write that makes a run claimable announces it in its own transaction
(:meth:`~spine.store.dialects.Dialect.announce`): a submit, a run handed back to the
queue (``spine resume --queue``, a worker without the run's workflow version), a
schedule's fire (``Wakeup.PENDING``), a signal that makes a waiting run due
(``Wakeup.DUE``). On
PostgreSQL the announcement is a ``NOTIFY`` on the database's channel (one per schema),
which the server delivers when the transaction commits; a worker's watch
(:class:`PostgresWatch`) listens on a connection of its own and says so at once. SQLite
has no notifications, but telling that another connection committed is cheap: a
watch (:class:`SqliteWatch`) reads ``PRAGMA data_version`` every
:data:`SQLITE_CHECK_SECONDS` on a connection it keeps, a look at the WAL index in
shared memory, and says ``Wakeup.CHANGED`` when it moved.

A watch only says when to look; what a worker claims is decided by its claim
statement. Whatever a watch misses (a connection lost, a write that announces
nothing) the worker's slow poll finds.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, text

from spine.core.outage import Outage
from spine.core.status import Wakeup

if TYPE_CHECKING:
    from spine.store.database import Database

SQLITE_CHECK_SECONDS = 0.02
"""How often an SQLite watch reads the change counter (about 2 µs a read)."""
LISTEN_SLICE_SECONDS = 0.25
"""How long a PostgreSQL watch waits for a notification before it looks whether it
was closed."""
RETRY_SECONDS = 1.0
"""How long a watch whose database failed waits before it connects again."""

_CHANNEL = "'spine_' || md5(coalesce(current_schema(), ''))"
"""The channel of the database (schema) a PostgreSQL connection works in, as SQL:
workers of other schemas in the same server database are not woken, and any schema
name fits in a channel name (at most 63 bytes)."""

logger = logging.getLogger("spine.store")

Wake = Callable[[str], None]
"""What a watch calls with why it woke (a :class:`~spine.core.status.Wakeup`)."""


def notify(conn: Connection, what: str) -> None:
    """``NOTIFY`` the workers of ``conn``'s schema that ``what`` happened, when the
    transaction of ``conn`` commits (PostgreSQL)."""
    conn.execute(text(f"SELECT pg_notify({_CHANNEL}, :what)"), {"what": what})


class Watch:
    """A thread that calls ``wake`` when the database says a run may be claimable,
    until :meth:`close`; the subclass says how it learns it."""

    def __init__(self, database: Database, wake: Wake) -> None:
        self._database = database
        self._wake = wake
        self._closed = threading.Event()
        # (Not a warning: the database layer warns of an outage, and the slow poll
        # finds runs meanwhile.)
        self._outage = Outage(lambda line: logger.info("watching %s: %s", database.where, line))
        self._thread = threading.Thread(target=self._watch, name="spine-watch", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        connected_before = False
        while not self._closed.is_set():
            try:
                connection = self._connect()
            except Exception as exc:  # the database away: the slow poll covers it
                self._outage.failed(exc)
                self._closed.wait(RETRY_SECONDS)
                continue
            try:
                if connected_before:
                    # What was announced while it was away went unheard.
                    self._wake(Wakeup.CHANGED)
                connected_before = True
                self._follow(connection)
            except Exception as exc:
                self._outage.failed(exc)
                self._closed.wait(RETRY_SECONDS)
            finally:
                self._disconnect(connection)

    def _connect(self) -> Any:
        raise NotImplementedError

    def _follow(self, connection: Any) -> None:
        """Call ``wake`` for what ``connection`` tells, until closed (or it fails)."""
        raise NotImplementedError

    def _disconnect(self, connection: Any) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self._closed.set()
        self._thread.join(timeout=5)


class PostgresWatch(Watch):
    """Listens on the channel of its database's schema on a connection of its own
    (taken out of the pool for good: it keeps listening)."""

    def _connect(self) -> Any:
        pooled = self._database.engine.raw_connection()
        driver: Any = pooled.driver_connection
        pooled.detach()
        try:
            driver.autocommit = True
            channel = driver.execute(f"SELECT {_CHANNEL}").fetchone()[0]
            driver.execute(f'LISTEN "{channel}"')
        except BaseException:
            driver.close()
            raise
        return driver

    def _follow(self, connection: Any) -> None:
        while not self._closed.is_set():
            for note in connection.notifies(timeout=LISTEN_SLICE_SECONDS):
                self._wake(note.payload)
            self._outage.worked()

    def _disconnect(self, connection: Any) -> None:
        connection.close()


class SqliteWatch(Watch):
    """Reads SQLite's change counter (``PRAGMA data_version``), which moves when
    another connection, of any process, commits a change to the file."""

    def _connect(self) -> Any:
        path = self._database.engine.url.database
        connection = sqlite3.connect(path or "", isolation_level=None)
        connection.execute("PRAGMA busy_timeout = 1000")
        return connection

    def _follow(self, connection: Any) -> None:
        seen = None
        while not self._closed.wait(SQLITE_CHECK_SECONDS):
            version = connection.execute("PRAGMA data_version").fetchone()[0]
            if seen is not None and version != seen:
                self._wake(Wakeup.CHANGED)
            seen = version
            self._outage.worked()

    def _disconnect(self, connection: Any) -> None:
        connection.close()
