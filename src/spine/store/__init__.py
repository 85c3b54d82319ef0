"""SQL history for spine runs: SQLite (the embedded default) and PostgreSQL.

``open_store(url)`` returns a :class:`SqlStore` implementing
:class:`spine.orchestration.history.HistoryStore`; ``open_schedules(url)`` a
:class:`SqlScheduleStore` implementing
:class:`spine.orchestration.schedules.ScheduleStore`; :class:`SqlDeliveryLog`
implements :class:`spine.framework.alerts.DeliveryLog`. All SQL of spine lives in
this package.
"""

from spine.store.alert_log import SqlDeliveryLog
from spine.store.engine import default_url
from spine.store.schedules import SqlScheduleStore
from spine.store.sql_store import SqlStore


def open_store(database_url: str) -> SqlStore:
    """Open (creating or migrating its schema) the history database at ``database_url``."""
    return SqlStore(database_url)


def open_schedules(database_url: str) -> SqlScheduleStore:
    """Open the schedules kept in the history database at ``database_url`` (creating or
    migrating its schema); closing the result closes the database."""
    return SqlScheduleStore(SqlStore(database_url), close_store=True)


__all__ = [
    "SqlDeliveryLog",
    "SqlScheduleStore",
    "SqlStore",
    "default_url",
    "open_schedules",
    "open_store",
]
