"""From a database URL to a configured SQLAlchemy engine, for SQLite and PostgreSQL."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError

from spine.core.errors import StoreError
from spine.store.schema import schema_version

DEFAULT_PATH = Path("~/.spine/spine.db")

_SYNCHRONOUS = {"off": "OFF", "normal": "NORMAL", "full": "FULL", "extra": "EXTRA"}


@dataclass(frozen=True, slots=True)
class Target:
    """Where a store lives: the engine and a printable name (the backend's differences
    are chosen from the engine's dialect, by :func:`spine.store.dialects.dialect_for`)."""

    engine: Engine
    where: str


def default_url() -> str:
    """The embedded default: an SQLite file under ``~/.spine``."""
    return f"sqlite:///{DEFAULT_PATH.expanduser()}"


def sqlite_file(database_url: str) -> Path | None:
    """The file an SQLite URL names; ``None`` for another backend, an in-memory database
    or text that is no URL (opening it says why)."""
    try:
        url = make_url(database_url)
    except ArgumentError:
        return None
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database).expanduser()


def _sqlite(url: URL) -> Target:
    query = dict(url.query)
    synchronous = str(query.pop("synchronous", "normal")).lower()
    if synchronous not in _SYNCHRONOUS:
        raise StoreError(
            f"database URL {url.render_as_string(hide_password=True)!r}: synchronous="
            f"{synchronous!r} is not one of {', '.join(_SYNCHRONOUS)}"
        )
    database = url.database or ""
    if database in ("", ":memory:"):
        raise StoreError(
            "an in-memory SQLite database cannot keep history across processes; "
            "give a file path, e.g. sqlite:///runs.db"
        )
    path = Path(database).expanduser()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the directory of {path}: {exc}") from exc
    engine = create_engine(
        url.set(drivername="sqlite+pysqlite", database=str(path), query=query),
        connect_args={"timeout": 30.0, "check_same_thread": False},
        # Each thread writing step rows (map items run on threads) keeps a connection.
        pool_size=8,
        max_overflow=64,
    )

    @event.listens_for(engine, "connect")
    def configure(dbapi_connection: Any, record: Any) -> None:
        # Let SQLAlchemy's "begin" below start transactions, not the driver.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout = 30000")
        # WAL with synchronous=NORMAL survives any process crash (a committed step is
        # in the log); synchronous=FULL adds an fsync per commit for power loss.
        # Switching to WAL rewrites the file's header: only on an empty file or one
        # spine already keeps, never on another application's (the migration refuses
        # that one, which must then be left exactly as it was).
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        tables = {row[0] for row in cursor.fetchall()}
        if not tables or schema_version.name in tables:
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute(f"PRAGMA synchronous = {_SYNCHRONOUS[synchronous]}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def begin(conn: Any) -> None:
        # Take the write lock up front: two processes upgrading read locks to write
        # locks at once would otherwise fail with "database is locked".
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return Target(engine=engine, where=f"SQLite file {path}")


_KEEPALIVES = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10,
               "keepalives_count": 3}  # fmt: skip
"""TCP keepalives (libpq's settings; the URL's own win): a connection dropped without a
word (a NAT's idle timeout, a server host gone) fails within about a minute, not the
system's two hours. A worker's ``LISTEN`` connection only waits: without them, it would
wait on a dead connection, and the worker would hear of new runs only by its poll."""


def _postgres(url: URL) -> Target:
    try:
        import psycopg  # noqa: F401
    except ImportError as exc:
        raise StoreError(
            "PostgreSQL history needs psycopg 3: pip install 'spine-orchestration[postgres]'"
        ) from exc
    engine = create_engine(
        url.set(drivername="postgresql+psycopg"),
        pool_pre_ping=True,
        pool_size=int(os.environ.get("SPINE_DB_POOL_SIZE", "8")),
        # Each thread writing step rows (map items run on threads) keeps a connection.
        max_overflow=64,
        connect_args={
            "connect_timeout": 10,
            **{k: v for k, v in _KEEPALIVES.items() if k not in url.query},
        },
    )
    where = f"PostgreSQL database {url.database!r} on {url.host or 'localhost'}"
    return Target(engine=engine, where=where)


def connect(database_url: str) -> Target:
    """Build the engine for ``database_url``; raises ``StoreError`` for a bad URL."""
    try:
        url = make_url(database_url)
    except ArgumentError as exc:
        raise StoreError(
            f"{database_url!r} is not a database URL; use sqlite:///path/to/file.db "
            "or postgresql://user@host/dbname"
        ) from exc
    backend = url.get_backend_name()
    if backend == "sqlite":
        return _sqlite(url)
    if backend in ("postgresql", "postgres"):
        return _postgres(url.set(drivername="postgresql"))
    raise StoreError(
        f"database URL scheme {url.drivername!r} is not supported; use sqlite:///path/to/file.db "
        "or postgresql://user@host/dbname"
    )
