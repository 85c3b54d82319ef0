"""The conditions and columns the dialects' statements share: a run's lease holding it,
the end of a run being written, a claim tried again, the flags a holder reads."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BindParameter, ColumnElement, Select, and_, select

from spine.core.records import Lease
from spine.core.status import WorkflowStatus
from spine.store.schema import runs


def held_by(owner_id: Any, epoch: Any) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """The ``WHERE`` terms true of a run while the lease ``(owner_id, epoch)`` holds it."""
    return (runs.c.owner_id == owner_id, runs.c.lease_epoch == epoch)


def ending(run_id: Any, unless_asked: bool, lease: Any = None) -> ColumnElement[bool]:
    """The ``WHERE`` of writing run ``run_id``'s end; ``unless_asked``: not if the run
    was asked to stop (a run asked to stop ends ``CANCELLED`` and no other way);
    ``lease``: only while that ``(owner_id, epoch)`` holds the run."""
    this_run = runs.c.run_id == run_id
    if lease is not None:
        this_run = and_(this_run, *held_by(*lease))
    return and_(this_run, runs.c.cancel_requested == 0) if unless_asked else this_run


FLAGS = (runs.c.cancel_requested, runs.c.owner_id, runs.c.lease_epoch)
"""What a holder reads of its run at step boundaries: the cancel flag and the lease."""


def flags(row: Any) -> tuple[bool, Lease | None]:
    """A row of ``FLAGS`` as (asked to stop, the lease holding the run)."""
    if row is None:
        return False, None
    asked, owner_id, epoch = row
    return bool(asked), None if owner_id is None else Lease(owner_id, int(epoch or 0))


def claimed_by(owner_id: str | BindParameter[str], at: str | BindParameter[str]) -> Select[Any]:
    """The submitted runs a claim by owner ``owner_id`` at time ``at`` (ISO text) took:
    what a claim tried again returns, in case the try that failed had committed. The
    time tells one claim of an owner from another (the store never gives two the same)."""
    return select(runs).where(
        and_(
            runs.c.status == WorkflowStatus.RUNNING,
            runs.c.heartbeat_at == at,
            runs.c.started_at == at,
            runs.c.owner_id == owner_id,
            runs.c.parent_run_id.is_(None),
        )
    )
