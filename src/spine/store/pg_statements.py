"""The statements every queued run executes on PostgreSQL, compiled once for the fast
path (:class:`~spine.store.dialects.PostgresDialect` executes them)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import (
    BindParameter,
    Integer,
    Update,
    bindparam,
    exists,
    func,
    insert,
    literal_column,
    select,
    true,
    update,
)

from spine.core.status import WorkflowStatus
from spine.store.codec import END_COLUMNS
from spine.store.conditions import claimed_by, ending, held_by
from spine.store.schema import runs, steps

if TYPE_CHECKING:
    from spine.store.database import Database, Prepared


class PostgresStatements:
    """What every queued run executes on PostgreSQL, compiled once for the fast path.

    Each is kept under 4,096 characters (``*`` rather than every column where it can):
    psycopg parses a longer statement again at every execution.
    """

    def __init__(self, database: Database) -> None:
        self._database = database
        self._claims: dict[int, Update] = {}
        self._prepared_claims: dict[int, Prepared] = {}
        mine = claimed_by(bindparam("owner_id"), bindparam("now"))
        self.claimed_before: Prepared = database.prepare(
            mine.add_columns(runs.c.started_at.label("submitted"))
        )
        # The last step's row and the run's end in one statement (a data-modifying
        # WITH): one round trip and one commit where there would be two of each. The
        # step's row goes in even when the end does not (see Dialect.finish_run).
        row = select(*[bindparam(f"step_{c.name}", type_=c.type) for c in steps.c])
        fence: tuple[BindParameter[str], BindParameter[int]] = (
            bindparam("fence_owner"),
            bindparam("fence_epoch", type_=Integer),
        )
        held = exists().where(runs.c.run_id == bindparam("key"), *held_by(*fence))
        columns = [c.name for c in steps.c]
        last_steps = {
            False: insert(steps).from_select(columns, row).cte("last_step"),
            # Fenced: the row goes in only while the owner holds the run, as the end.
            True: insert(steps).from_select(columns, row.where(held)).cte("last_step"),
        }
        self._ending: dict[tuple[bool, bool, bool], Update] = {}
        """The statement ending a run, by whether it yields to a request to stop, whether
        it is fenced by its owner and whether it writes the last step's row."""
        self.finish: dict[tuple[bool, bool, bool], Prepared] = {}
        for unless_asked in (False, True):
            for fenced in (False, True):
                finish = (
                    update(runs)
                    .where(ending(bindparam("key"), unless_asked, fence if fenced else None))
                    .values({name: bindparam(f"end_{name}") for name in END_COLUMNS})
                )
                for with_step in (False, True):
                    key = (unless_asked, fenced, with_step)
                    self._ending[key] = finish.add_cte(last_steps[fenced]) if with_step else finish
                    self.finish[key] = database.prepare(self._ending[key])
        self._finish_claiming: dict[tuple[bool, bool, bool, int], Prepared] = {}

    def _claiming(self, limit: int) -> Update:
        """Picks and claims up to ``limit`` submitted runs in one statement: one round
        trip, one commit. The limit is written into the statement: a prepared statement
        whose limit is a parameter gets a generic plan that expects a tenth of the runs,
        and joins them by reading the whole table."""
        found = self._claims.get(limit)
        if found is None:
            picked = (
                select(runs.c.run_id, runs.c.started_at.label("submitted"))
                .where(
                    runs.c.status == WorkflowStatus.PENDING,
                    runs.c.parent_run_id.is_(None),
                    runs.c.workflow_name == func.any(bindparam("names")),
                )
                .order_by(runs.c.priority.desc(), runs.c.started_at)
                .limit(literal_column(str(int(limit))))
                .with_for_update(skip_locked=True)
                .subquery("picked")
            )
            found = self._claims[limit] = (
                update(runs)
                .where(runs.c.run_id == picked.c.run_id)
                .values(status=WorkflowStatus.RUNNING, owner_id=bindparam("owner_id"),
                        owner_host=bindparam("owner_host"), owner_pid=bindparam("owner_pid"),
                        heartbeat_at=bindparam("now"), started_at=bindparam("now"))
                .returning(literal_column(f"{runs.name}.*"), picked.c.submitted)
            )  # fmt: skip
        return found

    def claim(self, limit: int) -> Prepared:
        """The statement claiming up to ``limit`` submitted runs (compiled on first use)."""
        found = self._prepared_claims.get(limit)
        if found is None:
            found = self._prepared_claims[limit] = self._database.prepare(self._claiming(limit))
        return found

    def finish_claiming(self, key: tuple[bool, bool, bool], limit: int) -> Prepared:
        """The statement ``finish[key]`` that claims up to ``limit`` submitted runs too,
        as :meth:`claim` does (one round trip and one commit where there would be two):
        one row, its claim's columns ``NULL`` when it took none, or one row per run it
        took; the column ``ended`` says whether the end was written. Compiled on first
        use."""
        found = self._finish_claiming.get((*key, limit))
        if found is None:
            ended = self._ending[key].returning(runs.c.run_id).cte("ended")
            claimed = self._claiming(limit).cte("claimed")
            done = select(func.count().label("ended")).select_from(ended).subquery("done")
            statement = select(done.c.ended, literal_column("claimed.*")).select_from(
                done.outerjoin(claimed, true())
            )
            found = self._finish_claiming[(*key, limit)] = self._database.prepare(statement)
        return found
