"""SQL history for spine runs: SQLite (the embedded default) and PostgreSQL.

``open_store(url)`` returns a :class:`SqlStore` implementing
:class:`spine.orchestration.history.HistoryStore`; :class:`SqlDeliveryLog`
implements :class:`spine.framework.alerts.DeliveryLog`. All SQL of spine lives in
this package.
"""

from spine.store.alert_log import SqlDeliveryLog
from spine.store.engine import default_url
from spine.store.sql_store import SqlStore


def open_store(database_url: str) -> SqlStore:
    """Open (creating or migrating its schema) the history database at ``database_url``."""
    return SqlStore(database_url)


__all__ = ["SqlDeliveryLog", "SqlStore", "default_url", "open_store"]
