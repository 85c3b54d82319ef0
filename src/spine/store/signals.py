"""Signals sent to runs: kept until the step awaiting them takes one.

Sending inserts the signal and, in the same transaction, makes a run waiting for it
due at once (its ``wake_at`` now) and tells idle workers (see
:mod:`spine.store.wakeups`), so a worker's next look resumes it. Taking one is
a single conditional ``UPDATE`` of the oldest unconsumed signal of that name, so two
holders of a run cannot both take it.
"""

from __future__ import annotations

from sqlalchemy import Connection, and_, exists, select, update

from spine.core.errors import RunEndedError, RunNotFoundError
from spine.core.ids import new_id
from spine.core.jsonvalue import decode
from spine.core.records import Lease, SignalRecord
from spine.core.status import LIVE_STATUSES, Wakeup, WorkflowStatus
from spine.store.codec import from_iso, iso
from spine.store.conditions import held_by
from spine.store.database import Database
from spine.store.schema import runs, signals


def send_signal(
    database: Database, run_id: str, signal_name: str, payload_json: str, now: float
) -> None:
    """Keep a signal for run ``run_id`` (``RunNotFoundError``; ``RunEndedError`` once
    the run has ended) and wake the run if it is waiting for it."""
    read = select(runs.c.status).where(runs.c.run_id == run_id)
    signal_id = new_id()
    keep = signals.insert().values(
        signal_id=signal_id, run_id=run_id, signal_name=signal_name, payload=payload_json,
        sent_at=iso(now),
    )  # fmt: skip
    kept = select(signals.c.signal_id).where(signals.c.signal_id == signal_id)
    wake = (
        update(runs)
        .where(
            runs.c.run_id == run_id,
            runs.c.status == WorkflowStatus.WAITING,
            runs.c.awaiting_signal == signal_name,
        )
        .values(wake_at=iso(now))
    )

    def send(conn: Connection) -> None:
        status = conn.execute(read.with_for_update()).scalar()
        if status is None:
            raise RunNotFoundError(run_id, database.where)
        if status not in LIVE_STATUSES:
            raise RunEndedError(run_id, str(status), signal_name)
        conn.execute(keep)
        if conn.execute(wake).rowcount:
            database.dialect.announce(conn, Wakeup.DUE)

    def send_again(conn: Connection) -> None:
        # The try whose answer was lost may have committed: then it is sent, once.
        if conn.execute(kept).first() is None:
            send(conn)

    database.transaction(f"send signal {signal_name!r} to run {run_id}", send, again=send_again)


def take_signal(
    database: Database, run_id: str, signal_name: str, now: float, lease: Lease | None
) -> str | None:
    """Consume the oldest signal ``signal_name`` kept for the run, returning its payload
    as JSON (``None``: none yet); with ``lease``, only while it holds the run."""
    oldest = (
        select(signals.c.signal_id)
        .where(
            signals.c.run_id == run_id,
            signals.c.signal_name == signal_name,
            signals.c.consumed_at.is_(None),
        )
        .order_by(signals.c.sent_at, signals.c.signal_id)
        .limit(1)
        .scalar_subquery()
    )
    this = and_(signals.c.signal_id == oldest, signals.c.consumed_at.is_(None))
    if lease is not None:
        held = select(runs.c.run_id).where(
            runs.c.run_id == run_id, *held_by(lease.owner_id, lease.epoch)
        )
        this = and_(this, exists(held))
    take = update(signals).where(this).values(consumed_at=iso(now)).returning(signals.c.payload)
    payload = database.statement(
        f"take signal {signal_name!r} of run {run_id}", lambda conn: conn.execute(take).scalar()
    )
    return None if payload is None else str(payload)


def signals_of(database: Database, run_id: str) -> list[SignalRecord]:
    """The signals sent to a run, oldest first."""
    query = (
        select(signals)
        .where(signals.c.run_id == run_id)
        .order_by(signals.c.sent_at, signals.c.signal_id)
    )
    rows = database.statement(
        f"read the signals of run {run_id}", lambda conn: conn.execute(query).all()
    )
    return [
        SignalRecord(
            signal_name=row.signal_name,
            payload=dict(decode(row.payload)),
            sent_at=from_iso(row.sent_at) or 0.0,
            consumed_at=from_iso(row.consumed_at),
        )
        for row in rows
    ]
