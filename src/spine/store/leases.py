"""Leases on runs in the store: the runs whose lease may be taken over, claiming a run (a
stale one, or submitted ones), renewing and giving it back, and counting takeovers.
:class:`~spine.store.runs.SqlStore` has these as methods."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Any

from sqlalchemy import Connection, and_, or_, select, update

from spine.core.records import Lease, Owner, RunRecord
from spine.core.status import LIVE_STATUSES, Wakeup, WorkflowStatus
from spine.store.cancel import cancelled_at
from spine.store.codec import iso, owner_values, run_record
from spine.store.conditions import held_by
from spine.store.database import Database, Prepared
from spine.store.dialects import Dialect
from spine.store.schema import runs


class RunLeases:
    """The lease statements of a store over ``database`` (with its ``_dialect``)."""

    database: Database
    _dialect: Dialect
    _claim_lock: threading.Lock
    _last_claim: int

    def claim(self, expected: RunRecord, owner: Owner, now: float) -> Lease | None:
        """Take the lease if the row still shows ``expected``'s status, owner, heartbeat
        and epoch; the lease taken (at the next epoch), or ``None``."""
        old = expected.owner
        now = self._claim_time(now)
        # A request to stop a run that has since ended is spent: resuming it (a cancelled
        # run too) starts over without one, and with a clean count of takeovers (a run
        # the recovery limit stopped gets its limit again once someone fixed and resumed
        # it). A live run's request and count still stand.
        # Its old end is cleared too: a resumed run is live, with no end yet.
        cleared = {} if expected.status in LIVE_STATUSES else {
            "cancel_requested": 0, "takeovers": 0, "completed_at": None, "outputs": None,
            "error": None, "error_category": None, "error_step": None}  # fmt: skip
        run_id = expected.run_id
        epoch = expected.lease_epoch + 1
        swap = (
            update(runs)
            .where(
                and_(
                    runs.c.run_id == run_id,
                    runs.c.status == expected.status,
                    runs.c.owner_id.is_not_distinct_from(old.owner_id if old else None),
                    runs.c.heartbeat_at.is_not_distinct_from(iso(expected.heartbeat_at)),
                    runs.c.lease_epoch == expected.lease_epoch,
                )
            )
            # Claimed is executing: a second resume must find it RUNNING and owned. The
            # epoch is set, not added to, so a try whose answer was lost changes nothing.
            .values(status=WorkflowStatus.RUNNING, **owner_values(owner, now), **cleared,
                    lease_epoch=epoch)
        )  # fmt: skip
        taken = select(runs.c.run_id).where(
            and_(
                runs.c.run_id == run_id,
                runs.c.status == WorkflowStatus.RUNNING,
                runs.c.owner_id == owner.owner_id,
                runs.c.heartbeat_at == iso(now),
                runs.c.lease_epoch == epoch,
            )
        )

        def take(conn: Connection) -> bool:
            return bool(conn.execute(swap).rowcount == 1)

        def take_again(conn: Connection) -> bool:
            # The try that failed may have committed: then the row shows this very claim.
            return take(conn) or conn.execute(taken).first() is not None

        taken_now = self.database.statement(f"claim run {run_id}", take, again=take_again)
        return Lease(owner.owner_id, epoch) if taken_now else None

    def recoverable(self, now: float, lease_seconds: float) -> list[RunRecord]:
        """Top-level runs that are ``RUNNING`` or ``WAITING`` (map items recover with
        their parent; submitted runs are claimed by ``claim_pending``).

        For ``lease_seconds`` after the database was last away, runs of other processes
        whose lease has not been renewed since are left out: no owner could renew it
        meanwhile, so its age says nothing of whether the owner is alive. (This
        process's own runs are known exactly: by whether a runner here holds them.)"""
        rows = self.database.execute("list runs to recover", self._recoverable, {}, fetch=True)
        found = sorted((run_record(row) for row in rows), key=lambda run: run.started_at)
        outage = self.database.last_outage
        if outage is not None and time.time() - outage[1] < lease_seconds:
            back, here = outage[1], (socket.gethostname(), os.getpid())
            found = [r for r in found if r.owner is None or (r.owner.host, r.owner.pid) == here
                     or (r.heartbeat_at or 0.0) >= back]  # fmt: skip
        return found

    @cached_property
    def _recoverable(self) -> Prepared:
        # Every idle worker lists these once a second: on the fast path, which pings no
        # pooled connection first (a ping is a transaction of its own on PostgreSQL).
        # (Sorted by the caller: a statement on the fast path sorts nothing.)
        executing = or_(runs.c.status == WorkflowStatus.RUNNING,
                        runs.c.status == WorkflowStatus.WAITING)  # fmt: skip
        return self.database.prepare(select(runs).where(executing, runs.c.parent_run_id.is_(None)))

    def heartbeat(self, run_ids: Sequence[str], owner: Owner, now: float) -> None:
        if not run_ids:
            return
        renew = (
            update(runs)
            # (Not a run that ended meanwhile: its row is left as its end left it.)
            .where(
                runs.c.run_id.in_(list(run_ids)),
                runs.c.owner_id == owner.owner_id,
                runs.c.status.in_(sorted(LIVE_STATUSES)),
            )
            .values(heartbeat_at=iso(now))
        )
        self.database.statement("renew leases", lambda conn: conn.execute(renew))

    def record_takeover(self, run_id: str, owner: Owner, step_order: int) -> int:
        """Count a takeover of run ``run_id`` (now owned by ``owner``) from a dead owner,
        at step execution ``step_order``; returns how many in a row happened there."""
        this_run = runs.c.run_id == run_id
        before = self.database.statement(
            f"read run {run_id}",
            lambda conn: conn.execute(
                select(runs.c.takeovers, runs.c.takeover_order).where(this_run)
            ).first(),
        )
        in_a_row = 1
        if before is not None and before.takeover_order == step_order:
            in_a_row = int(before.takeovers or 0) + 1
        # The count is set, not added to: written again after a commit whose answer was
        # lost, it stays the same. Only the run's owner writes it, and that is ``owner``.
        count = (
            update(runs)
            .where(and_(this_run, runs.c.owner_id == owner.owner_id))
            .values(takeovers=in_a_row, takeover_order=step_order)
        )
        self.database.statement(
            f"record a takeover of run {run_id}", lambda conn: conn.execute(count)
        )
        return in_a_row

    def release(self, run_id: str, lease: Lease, status: str | None = None) -> None:
        """Give the run's lease up (nothing, if ``lease`` no longer holds it); with
        ``status``, set it in the same statement (a run given back to the queue is
        ``PENDING`` and unowned at once: no other claim can slip in between)."""
        status_value = {} if status is None else {"status": status}
        release = (
            update(runs)
            .where(runs.c.run_id == run_id, *held_by(lease.owner_id, lease.epoch))
            .values(**owner_values(None, None), **status_value)
        )
        if status != WorkflowStatus.PENDING:
            self.database.statement(f"release run {run_id}", lambda conn: conn.execute(release))
            return

        def queue_again(conn: Connection) -> None:
            if conn.execute(release).rowcount == 1:
                self._dialect.announce(conn, Wakeup.PENDING)  # for a worker that has its workflow

        self.database.transaction(f"release run {run_id}", queue_again)

    def claim_pending(
        self,
        owner: Owner,
        now: float,
        workflow_names: Sequence[str],
        limit: int = 1,
        caps: Mapping[str, int] | None = None,
    ) -> list[RunRecord]:
        """Take up to ``limit`` of the oldest submitted runs of these workflows.

        Workers claiming at once each get different runs (on PostgreSQL the rows are
        locked with ``FOR UPDATE SKIP LOCKED``, so none queues behind another; SQLite's
        write lock taken up front serialises them). ``caps`` bounds how many runs of a
        workflow may be ``RUNNING`` at once, across every worker: claims of a capped
        workflow take turns.
        """
        if not workflow_names:
            return []
        now = self._claim_time(now)
        rows = self._dialect.claim_submitted(owner, now, workflow_names, limit, caps or {})
        return self._claimed(rows, owner, now)

    def _claimed(self, rows: Sequence[Any], owner: Owner, now: float) -> list[RunRecord]:
        """The runs of the rows a claim by ``owner`` at ``now`` took, but those asked to
        stop meanwhile (they end here)."""
        claimed = []
        for row in rows:
            if row.cancel_requested:
                # Asked to stop while a runner that gave it back held it: the request
                # stands, so it ends here, and every run returned was not asked.
                self._end_cancelled(row.run_id, owner, now)
                continue
            # A submitted run starts when it is claimed, and has no step rows yet: the
            # record is all a runner needs.
            run = run_record(row)
            run.started_at = now
            claimed.append(run)
        return claimed

    def _end_cancelled(self, run_id: str, owner: Owner, now: float) -> None:
        end = (
            update(runs)
            .where(and_(runs.c.run_id == run_id, runs.c.owner_id == owner.owner_id))
            .values(**cancelled_at(now), **owner_values(None, None))
        )
        self.database.statement(f"cancel run {run_id}", lambda conn: conn.execute(end))

    def _claim_time(self, now: float) -> float:
        """``now``, or a microsecond after this store's previous claim: a claim tried
        again finds the rows it took by owner and time, so no two claims of one owner
        (threads of one runner) may share a time."""
        with self._claim_lock:
            micros = self._last_claim = max(round(now * 1e6), self._last_claim + 1)
        return micros / 1e6
