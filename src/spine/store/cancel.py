"""Cancelling a run: one conditional statement decides, on the row as it is."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, and_, case, null, or_, select, update

from spine.core.errors import RunIsMapItemError, RunNotFoundError
from spine.core.status import ErrorCategory, WorkflowStatus
from spine.store.codec import iso
from spine.store.database import Database
from spine.store.schema import runs


def cancelled_at(now: float) -> dict[str, Any]:
    """The columns of a run that nothing executes, cancelled at ``now``."""
    return {
        "status": WorkflowStatus.CANCELLED.value,
        "completed_at": iso(now),
        "wake_at": null(),
        "error": "cancelled by request",
        "error_category": ErrorCategory.CANCELLED.value,
    }


def cancel_run(database: Database, run_id: str, now: float) -> str:
    """Cancel a run: at once when nothing executes it (``PENDING``, or ``WAITING``
    without an owner), else by asking its runner to stop at the next step boundary.
    Returns ``"cancelled"``, ``"requested"`` (its runner will stop it), or the
    status of a run that had already ended. A map item's run is refused
    (``RunIsMapItemError``): nothing reads an item's own request, its map's run stops it.

    One conditional ``UPDATE`` decides, on the row as it is when the statement
    takes it: a worker claiming the run at the same moment either finds it
    ``CANCELLED`` or has made it executing, so the request is left for it (a
    read first, then a write, could cancel a run a worker had just claimed).
    """
    status, owner = runs.c.status, runs.c.owner_id
    waiting = status == WorkflowStatus.WAITING
    idle = or_(status == WorkflowStatus.PENDING, and_(waiting, owner.is_(None)))
    executing = or_(status == WorkflowStatus.RUNNING, and_(waiting, owner.is_not(None)))

    if_idle = {
        name: case((idle, value), else_=runs.c[name]) for name, value in cancelled_at(now).items()
    }
    decide = (
        update(runs)
        .where(and_(runs.c.run_id == run_id, runs.c.parent_run_id.is_(None), or_(idle, executing)))
        .values(**if_idle, cancel_requested=case((idle, runs.c.cancel_requested), else_=1))
        .returning(runs.c.status)
    )
    # Tried again after a try whose answer was lost: a run that try cancelled shows
    # this very cancel (its status and time), and the answer is still "cancelled".
    mine = select(runs.c.status).where(
        runs.c.run_id == run_id,
        runs.c.status == WorkflowStatus.CANCELLED,
        runs.c.completed_at == iso(now),
        runs.c.error_category == ErrorCategory.CANCELLED.value,
    )

    def cancel(conn: Connection) -> Any:
        return conn.execute(decide).scalar()

    def cancel_again(conn: Connection) -> Any:
        return cancel(conn) or conn.execute(mine).scalar()

    changed = database.statement(f"cancel run {run_id}", cancel, again=cancel_again)
    if changed is not None:
        return "cancelled" if changed == WorkflowStatus.CANCELLED else "requested"
    # Nothing to change: the run had ended, is a map item (or does not exist). Only read.
    read = select(runs.c.status, runs.c.parent_run_id, runs.c.parent_step).where(
        runs.c.run_id == run_id
    )
    found = database.statement(f"read run {run_id}", lambda conn: conn.execute(read).first())
    if found is None:
        raise RunNotFoundError(run_id, database.where)
    if found.parent_run_id is not None:
        raise RunIsMapItemError(run_id, found.parent_run_id, found.parent_step)
    return str(found.status)
