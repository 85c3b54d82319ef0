"""Versioned, forward-only schema migrations, applied when a store is opened.

The version lives in ``spine_schema_version``. A new database gets the current
schema of ``spine.store.schema`` at once; a database at an older version gets, in
order, each function here that brings version N-1 to N. A test checks that both
paths yield exactly the tables ``schema.metadata`` defines.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy import Connection, inspect, select, text

from spine.core.errors import StoreError
from spine.store.schema import (
    SCHEMA_VERSION,
    alert_deliveries,
    metadata,
    runs,
    schedule_fires,
    schedules,
    schema_version,
    signals,
    steps,
)

if TYPE_CHECKING:
    from spine.store.dialects import Dialect


def _create_indexes(conn: Connection) -> None:
    """Create the runs table's indexes that are missing and whose columns it has now: a
    migration adds those its columns allow, a later one those its own columns do."""
    columns = {c["name"] for c in inspect(conn).get_columns(runs.name)}
    for index in runs.indexes:
        if {column.name for column in index.columns} <= columns:
            index.create(conn, checkfirst=True)


def _v2(conn: Connection) -> None:
    """Version 2: where the spine command loaded a run's workflow, and listing indexes."""
    columns = {c["name"] for c in inspect(conn).get_columns(runs.name)}
    if "source" not in columns:
        conn.execute(text(f"ALTER TABLE {runs.name} ADD COLUMN source TEXT"))
    _create_indexes(conn)


def _v3(conn: Connection) -> None:
    """Version 3: cancellation requests for executing runs."""
    columns = {c["name"] for c in inspect(conn).get_columns(runs.name)}
    if "cancel_requested" not in columns:
        conn.execute(
            text(f"ALTER TABLE {runs.name} ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0")
        )


def _v4(conn: Connection) -> None:
    """Version 4: the alert delivery log."""
    alert_deliveries.create(conn, checkfirst=True)


def _v5(conn: Connection) -> None:
    """Version 5: schedules, what became of their due times, and runs by schedule."""
    schedules.create(conn, checkfirst=True)
    schedule_fires.create(conn, checkfirst=True)
    _create_indexes(conn)


def _v6(conn: Connection) -> None:
    """Version 6: takeovers of a run at the same step, for the recovery limit."""
    columns = {c["name"] for c in inspect(conn).get_columns(runs.name)}
    if "takeovers" not in columns:
        conn.execute(
            text(f"ALTER TABLE {runs.name} ADD COLUMN takeovers INTEGER NOT NULL DEFAULT 0")
        )
    if "takeover_order" not in columns:
        conn.execute(text(f"ALTER TABLE {runs.name} ADD COLUMN takeover_order INTEGER"))


def _v7(conn: Connection) -> None:
    """Version 7: the lease epoch that fences a run's writes to its current holder."""
    columns = {c["name"] for c in inspect(conn).get_columns(runs.name)}
    if "lease_epoch" not in columns:
        conn.execute(
            text(f"ALTER TABLE {runs.name} ADD COLUMN lease_epoch INTEGER NOT NULL DEFAULT 0")
        )


def _v8(conn: Connection) -> None:
    """Version 8: a live run's first step and its map's size, for what it is doing now."""
    columns = {c["name"] for c in inspect(conn).get_columns(runs.name)}
    for name, kind in (("first_step", "TEXT"), ("items_total", "INTEGER")):
        if name not in columns:
            conn.execute(text(f"ALTER TABLE {runs.name} ADD COLUMN {name} {kind}"))


def _v9(conn: Connection) -> None:
    """Version 9: idempotency keys (unique per workflow) and priorities of submitted runs."""
    columns = {c["name"] for c in inspect(conn).get_columns(runs.name)}
    if "idempotency_key" not in columns:
        conn.execute(text(f"ALTER TABLE {runs.name} ADD COLUMN idempotency_key TEXT"))
    if "priority" not in columns:
        conn.execute(
            text(f"ALTER TABLE {runs.name} ADD COLUMN priority INTEGER NOT NULL DEFAULT 0")
        )
    _create_indexes(conn)


def _v10(conn: Connection) -> None:
    """Version 10: step logs (what each attempt wrote), on the step's row."""
    columns = {c["name"] for c in inspect(conn).get_columns(steps.name)}
    if "log" not in columns:
        conn.execute(text(f"ALTER TABLE {steps.name} ADD COLUMN log TEXT"))


def _v11(conn: Connection) -> None:
    """Version 11: the run a forked run was forked from."""
    columns = {c["name"] for c in inspect(conn).get_columns(runs.name)}
    if "forked_from" not in columns:
        conn.execute(text(f"ALTER TABLE {runs.name} ADD COLUMN forked_from TEXT"))


def _v12(conn: Connection) -> None:
    """Version 12: signals sent to runs, and the signal a waiting run awaits."""
    columns = {c["name"] for c in inspect(conn).get_columns(runs.name)}
    if "awaiting_signal" not in columns:
        conn.execute(text(f"ALTER TABLE {runs.name} ADD COLUMN awaiting_signal TEXT"))
    signals.create(conn, checkfirst=True)


def _v13(conn: Connection) -> None:
    """Version 13: the claim index in the claim's order (priority descending), so that
    a claim of one run reads one index entry instead of sorting every pending run."""
    conn.execute(text("DROP INDEX IF EXISTS ix_core_workflow_runs_claim"))
    _create_indexes(conn)


def _v14(conn: Connection) -> None:
    """Version 14: durations and row counts in 64 bits. PostgreSQL's ``INTEGER`` stops at
    2³¹ - 1: a run that waited 25 days, or a step that loaded three billion rows, could
    not be recorded. (SQLite's integers are 64-bit whatever a column is declared.)"""
    if conn.dialect.name == "postgresql":
        # Each ALTER rewrites its table (once for all its columns), however long that
        # takes: a server's statement timeout must not leave the store unopenable.
        conn.execute(text("SET LOCAL statement_timeout = 0"))
        conn.execute(text(f"ALTER TABLE {runs.name} ALTER COLUMN duration_ms TYPE BIGINT"))
        conn.execute(text(f"ALTER TABLE {steps.name} ALTER COLUMN duration_ms TYPE BIGINT, "
                          "ALTER COLUMN row_count TYPE BIGINT"))  # fmt: skip


MIGRATIONS: dict[int, Callable[[Connection], None]] = {
    2: _v2, 3: _v3, 4: _v4, 5: _v5, 6: _v6, 7: _v7, 8: _v8, 9: _v9, 10: _v10, 11: _v11,
    12: _v12, 13: _v13, 14: _v14,
}  # fmt: skip
"""Version -> the function that migrates the version before it to this one."""


def current_version(conn: Connection, where: str, *, own_database: bool) -> int | None:
    """The schema version of the database, or ``None`` when spine never touched it.

    With ``own_database`` (an SQLite file) any table spine did not create makes the
    file foreign; a server database may hold other applications' tables.
    """
    tables = set(inspect(conn).get_table_names())
    if schema_version.name not in tables:
        ours = set(metadata.tables)
        foreign = tables - ours if own_database else set()
        if tables & ours or foreign:
            raise StoreError(
                f"{where} already holds tables spine did not create "
                f"({', '.join(sorted(tables)[:5])}); point spine at its own database, "
                "or an empty one"
            )
        return None
    version = conn.execute(select(schema_version.c.version)).scalar()
    return int(version) if version is not None else None


def migrate(conn: Connection, where: str, dialect: Dialect) -> int:
    """Bring the schema to ``SCHEMA_VERSION`` inside ``conn``'s transaction, taking
    turns with other processes opening the database at once."""
    dialect.lock_schema(conn)
    version = current_version(conn, where, own_database=dialect.own_database)
    if version is not None and version > SCHEMA_VERSION:
        raise StoreError(
            f"{where} has schema version {version}, newer than this spine-orchestration "
            f"understands ({SCHEMA_VERSION}); upgrade spine-orchestration to use it"
        )
    if version == SCHEMA_VERSION:
        return version
    if version is None:
        metadata.create_all(conn, tables=[schema_version])
        conn.execute(schema_version.insert().values(version=0))
        version = 0
    if version == 0:
        # Nothing but the version table: create the current schema directly.
        metadata.create_all(
            conn, tables=[runs, steps, alert_deliveries, schedules, schedule_fires, signals]
        )
        conn.execute(schema_version.update().values(version=SCHEMA_VERSION))
        return SCHEMA_VERSION
    for target in range(version + 1, SCHEMA_VERSION + 1):
        MIGRATIONS[target](conn)
        conn.execute(schema_version.update().values(version=target))
    return SCHEMA_VERSION
