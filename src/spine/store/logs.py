"""Step logs as stored: read a run's (``spine logs``, the API), and drop old ones.

Each step attempt's log is the ``log`` column of its row (written with the row, in the
same statement; see :mod:`spine.store.schema`), so deleting a run's steps deletes its
logs, and dropping only logs is setting that column to ``NULL``.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Row, and_, select, update

from spine.core.errors import RunNotFoundError
from spine.core.records import LogLine, log_from_json
from spine.core.status import WorkflowStatus
from spine.store.codec import iso
from spine.store.schema import runs, steps

if TYPE_CHECKING:
    from spine.store.database import Database
    from spine.store.runs import SqlStore

_CHUNK = 500
"""Step ids per read: well under every backend's limit on bound parameters."""


@dataclass(frozen=True, slots=True)
class AttemptLog:
    """The log of one step attempt of a run or of one of its map items."""

    step_id: str
    run_id: str
    step_order: int
    attempt: int
    step_name: str
    item: int | None
    """The map item's index, for a step of a map item (``step_name`` is the item's
    step; ``map_step`` the map's)."""
    map_step: str | None
    lines: list[LogLine]

    @property
    def label(self) -> str:
        """How a terminal names the attempt: ``step#2``, ``fan_out[3].step#1``."""
        own = f"{self.step_name}#{self.attempt}"
        return own if self.item is None else f"{self.map_step}[{self.item}].{own}"


class StepLogs:
    """The step logs in one database."""

    def __init__(self, database: Database) -> None:
        self.database = database

    @classmethod
    def sharing(cls, store: SqlStore) -> StepLogs:
        return cls(store.database)

    def read(
        self, run_id: str, *, step: str | None = None, seen: Collection[str] = ()
    ) -> tuple[WorkflowStatus, list[AttemptLog]]:
        """Run ``run_id``'s status and the logs of its step attempts and its map items',
        in the order the attempts ended, except those whose ``step_id`` is in ``seen``
        (what a follower read before); only step ``step``'s (a map's item steps
        included, or item steps of that name) when given. ``RunNotFoundError`` for no
        such run."""

        def load(conn: Connection) -> tuple[WorkflowStatus, list[AttemptLog]]:
            status = conn.execute(select(runs.c.status).where(runs.c.run_id == run_id)).scalar()
            if status is None:
                raise RunNotFoundError(run_id, self.database.where)
            # (An item's parent_step is "<map step>#<its step execution>".)
            items: dict[str, tuple[str | None, int | None]] = {
                row.run_id: ((row.parent_step or "").rsplit("#", 1)[0], row.item_index)
                for row in conn.execute(
                    select(runs.c.run_id, runs.c.parent_step, runs.c.item_index).where(
                        runs.c.parent_run_id == run_id
                    )
                )
            }
            # Which attempts have a log (no log read yet): a follower reads only new ones.
            keys = select(steps.c.step_id, steps.c.run_id, steps.c.step_name).where(
                steps.c.run_id.in_([run_id, *items]), steps.c.log.is_not(None)
            )
            wanted = [
                row.step_id
                for row in conn.execute(keys)
                if row.step_id not in seen
                and (step is None or step in (row.step_name, items.get(row.run_id, (None,))[0]))
            ]
            rows: list[Row[Any]] = []
            for start in range(0, len(wanted), _CHUNK):
                rows.extend(conn.execute(
                    select(steps.c.step_id, steps.c.run_id, steps.c.step_order, steps.c.attempt,
                           steps.c.step_name, steps.c.completed_at, steps.c.log)
                    .where(steps.c.step_id.in_(wanted[start : start + _CHUNK]))
                ))  # fmt: skip
            rows.sort(key=lambda r: (r.completed_at or "", r.run_id != run_id, r.step_order))
            logs = []
            for row in rows:
                map_step, item = items.get(row.run_id, (None, None))
                lines = log_from_json(row.log)
                logs.append(AttemptLog(row.step_id, row.run_id, row.step_order, row.attempt,
                                       row.step_name, item, map_step, lines))  # fmt: skip
            return WorkflowStatus(status), logs

        return self.database.transaction(f"read the logs of run {run_id}", load)

    def drop(self, before: float) -> int:
        """Drop the logs of step attempts that ended before ``before``, keeping their
        rows (and runs); returns how many attempts' logs went."""
        old = (
            update(steps)
            .where(and_(steps.c.log.is_not(None), steps.c.completed_at < iso(before)))
            .values(log=None)
        )
        return int(
            self.database.statement("drop old step logs", lambda conn: conn.execute(old).rowcount)
        )
