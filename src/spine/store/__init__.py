"""SQL history for spine runs: SQLite (the embedded default) and PostgreSQL.

``open_store(url)`` returns a :class:`SqlStore` implementing
:class:`spine.orchestration.history.HistoryStore`; ``open_schedules(url)`` a
:class:`SqlScheduleStore` implementing
:class:`spine.orchestration.schedules.ScheduleStore`; :class:`SqlDeliveryLog`
implements :class:`spine.framework.alerts.DeliveryLog`. The three can share one open
:class:`Database` (``SqlScheduleStore(store)``, ``store.delivery_log()``), and each
prunes its own tables. All SQL of spine lives in this package::

    database.py   Database: engine, transactions, the fast path; errors -> StoreError
    dialects.py   SqliteDialect, PostgresDialect: what differs between the backends
    conditions.py what the dialects' statements share; pg_statements.py PostgreSQL's
                  fast-path statements
    wakeups.py    waking idle workers: NOTIFY, and the watches that hear it
    codec.py      records <-> rows
    runs.py       SqlStore (writing)  schedules.py  SqlScheduleStore
    run_reads.py  SqlStore (reading)  leases.py     SqlStore (claims, leases)
    alert_log.py  SqlDeliveryLog      view.py       what the last two share
    logs.py       StepLogs: step logs read, and dropped before their runs
    schema.py     the tables          migrations.py schema versions
    engine.py     a URL -> a configured SQLAlchemy engine
"""

from spine.store.alert_log import SqlDeliveryLog
from spine.store.database import Database
from spine.store.engine import default_url
from spine.store.logs import AttemptLog, StepLogs
from spine.store.runs import SqlStore
from spine.store.schedules import SqlScheduleStore


def open_store(database_url: str) -> SqlStore:
    """Open (creating or migrating its schema) the history database at ``database_url``."""
    return SqlStore(database_url)


def open_schedules(database_url: str) -> SqlScheduleStore:
    """Open the schedules kept in the history database at ``database_url`` (creating or
    migrating its schema); closing the result closes the database."""
    return SqlScheduleStore(Database(database_url), close_database=True)


__all__ = [
    "AttemptLog",
    "Database",
    "SqlDeliveryLog",
    "SqlScheduleStore",
    "SqlStore",
    "StepLogs",
    "default_url",
    "open_schedules",
    "open_store",
]
