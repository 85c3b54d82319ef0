"""``SqlDeliveryLog``: the alert delivery log in spine's database (SQLite or PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Row, select

from spine.framework.alerts import AlertSeverity, DeliveryRecord
from spine.store.codec import iso, storable_text
from spine.store.database import Database
from spine.store.schema import alert_deliveries
from spine.store.view import HasDatabase, StoreView


class SqlDeliveryLog(StoreView):
    """Implements ``spine.framework.alerts.DeliveryLog`` in the database at ``database_url``.

    Opening creates or migrates the schema, as opening the run history does; the
    log may share its database with the runs. Close it when done::

        with SqlDeliveryLog("sqlite:///spine.db") as log:
            alert_registry.set_log(log)
            ...
    """

    def __init__(self, database_url: str) -> None:
        super().__init__(Database(database_url), close_database=True)

    @classmethod
    def sharing(cls, source: Database | HasDatabase) -> SqlDeliveryLog:
        """A log in an open database (or an ``SqlStore``'s), on its connections; closing
        the log leaves the database open."""
        log = cls.__new__(cls)
        StoreView.__init__(log, source)
        return log

    def record(self, record: DeliveryRecord) -> None:
        # The row's id is the delivery's: a write tried again after a commit whose answer
        # was lost finds it there.
        def insert(conn: Connection) -> None:
            conn.execute(
                self.database.dialect.insert_new(alert_deliveries).values(
                    id=record.id,
                    fingerprint=record.fingerprint,
                    severity=record.severity.value,
                    title=storable_text(record.title),
                    message=storable_text(record.message),
                    source=record.source,
                    domain=record.domain,
                    run_id=record.run_id,
                    channel=record.channel,
                    channel_type=record.channel_type,
                    success=int(record.success),
                    throttled=int(record.throttled),
                    attempts=record.attempts,
                    suppressed=record.suppressed,
                    error=storable_text(record.error),
                    created_at=_iso(record.created_at),
                    delivered_at=_iso(record.delivered_at),
                )
            )

        self.database.transaction(f"record the delivery of alert {record.title!r}", insert)

    def recent(self, limit: int = 50, *, run_id: str | None = None) -> list[DeliveryRecord]:
        """The latest ``limit`` deliveries, newest first; only run ``run_id``'s if given."""
        query = select(alert_deliveries).order_by(
            alert_deliveries.c.delivered_at.desc(), alert_deliveries.c.id.desc()
        )
        if run_id is not None:
            query = query.where(alert_deliveries.c.run_id == run_id)
        query = query.limit(max(limit, 0))
        rows = self.database.statement(
            "read the alert deliveries", lambda conn: conn.execute(query).all()
        )
        return [_record(row) for row in rows]

    def prune(self, before: float) -> int:
        """Delete the deliveries made before ``before`` (seconds since the epoch);
        returns how many went."""
        old = alert_deliveries.delete().where(alert_deliveries.c.delivered_at < iso(before))
        return self.database.transaction(
            "prune old alert deliveries", lambda conn: int(conn.execute(old).rowcount)
        )


def _iso(moment: datetime) -> str:
    # Fixed-width UTC text, like every timestamp of the store: sorts as text.
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _record(row: Row[Any]) -> DeliveryRecord:
    return DeliveryRecord(
        id=row.id,
        fingerprint=row.fingerprint,
        severity=AlertSeverity(row.severity),
        title=row.title,
        message=row.message or "",
        source=row.source,
        channel=row.channel,
        channel_type=row.channel_type,
        success=bool(row.success),
        attempts=row.attempts,
        created_at=datetime.fromisoformat(row.created_at),
        delivered_at=datetime.fromisoformat(row.delivered_at),
        domain=row.domain,
        run_id=row.run_id,
        error=row.error,
        throttled=bool(row.throttled),
        suppressed=row.suppressed,
    )
