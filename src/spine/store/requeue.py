"""Resuming a run through the queue: an ended run goes back to ``PENDING`` for a worker."""

from __future__ import annotations

from sqlalchemy import Connection, and_, null, select, update

from spine.core.records import RunRecord
from spine.core.status import Wakeup, WorkflowStatus
from spine.store.codec import owner_values
from spine.store.database import Database
from spine.store.schema import runs


def requeue_run(database: Database, expected: RunRecord) -> bool:
    """Put ``expected`` (an ended run, as read) back in the queue: ``PENDING``, its end
    cleared, at the next lease epoch; ``False`` if the row no longer shows it so.

    The epoch goes up, as at a takeover: a worker that claims the run knows by it that
    the run has step rows to continue from (a submitted run's epoch is 0), and nothing
    still holding an older lease of the run can write to it. Like ``claim``, it spends
    a request to stop and the count of takeovers: the run starts its resumption clean.
    Its duration so far is kept: the worker's execution adds to it. Idle workers are
    told (see :mod:`spine.store.wakeups`).
    """
    run_id, epoch = expected.run_id, expected.lease_epoch + 1
    as_read = and_(
        runs.c.run_id == run_id,
        runs.c.status == expected.status,
        runs.c.lease_epoch == expected.lease_epoch,
    )
    # The epoch is set, not added to: a try whose answer was lost changes nothing more.
    back = (
        update(runs)
        .where(as_read)
        .values(status=WorkflowStatus.PENDING, completed_at=null(), outputs=null(),
                error=null(), error_category=null(), error_step=null(), wake_at=null(),
                cancel_requested=0, takeovers=0, takeover_order=null(), lease_epoch=epoch,
                **owner_values(None, None))
    )  # fmt: skip
    pending = runs.c.status == WorkflowStatus.PENDING
    mine = select(runs.c.run_id).where(
        runs.c.run_id == run_id, pending, runs.c.lease_epoch == epoch
    )

    def requeue(conn: Connection) -> bool:
        if conn.execute(back).rowcount != 1:
            return False
        database.dialect.announce(conn, Wakeup.PENDING)
        return True

    def requeue_again(conn: Connection) -> bool:
        return requeue(conn) or conn.execute(mine).first() is not None

    return database.transaction(f"requeue run {run_id}", requeue, again=requeue_again)
