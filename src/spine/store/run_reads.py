"""The reading side of :class:`~spine.store.runs.SqlStore`: runs and their steps, map
items and their counts, listings for the command line and the UI."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Select, and_, case, func, select

from spine.core.errors import RunNotFoundError
from spine.core.jsonvalue import decode
from spine.core.records import PartitionRun, RunRecord, StoredRun, partition_key
from spine.core.status import StepStatus, WorkflowStatus
from spine.store.codec import from_iso, iso, run_record, step_record
from spine.store.database import Database
from spine.store.schema import runs, steps


class RunReads:
    """The read statements of a store over ``database`` (named ``where`` in errors)."""

    database: Database
    where: str

    def load_run(self, run_id: str) -> StoredRun:
        def load(conn: Connection) -> StoredRun:
            row = conn.execute(select(runs).where(runs.c.run_id == run_id)).first()
            if row is None:
                raise RunNotFoundError(run_id, self.where)
            step_rows = conn.execute(
                select(steps)
                .where(steps.c.run_id == run_id)
                .order_by(steps.c.step_order, steps.c.attempt)
            ).all()
            return StoredRun(run=run_record(row), steps=[step_record(r) for r in step_rows])

        return self.database.transaction(f"read run {run_id}", load)

    def child_runs(
        self, parent_run_id: str, parent_step: str, index: int | None = None
    ) -> list[RunRecord]:
        query = select(runs).where(
            and_(runs.c.parent_run_id == parent_run_id, runs.c.parent_step == parent_step)
        )
        if index is not None:
            query = query.where(runs.c.item_index == index)
        return self._records(f"read the map items of run {parent_run_id}", query)

    def item_counts(self, parent_run_id: str, parent_step: str) -> dict[str, int]:
        """How many items of one map step (``parent_step``: its key) are in each status."""
        query = (
            select(runs.c.status, func.count())
            .where(runs.c.parent_run_id == parent_run_id, runs.c.parent_step == parent_step)
            .group_by(runs.c.status)
        )
        rows = self.database.statement(
            f"count the map items of run {parent_run_id}", lambda conn: conn.execute(query).all()
        )
        return {str(status): int(count) for status, count in rows}

    def map_items(
        self, parent_run_id: str, *, limit: int, offset: int = 0
    ) -> tuple[list[RunRecord], int]:
        """A page of a run's map items, by map step execution then item index, and how
        many it has in all."""
        query = (
            select(runs)
            .where(runs.c.parent_run_id == parent_run_id)
            .order_by(runs.c.parent_step, runs.c.item_index)
            .limit(limit)
            .offset(offset)
        )
        total = select(func.count()).where(runs.c.parent_run_id == parent_run_id)
        found = self._records(f"list the map items of run {parent_run_id}", query)
        count = self.database.statement(
            f"count the map items of run {parent_run_id}",
            lambda conn: int(conn.execute(total).scalar_one()),
        )
        return found, count

    def workflow_names(self) -> list[str]:
        """The names of the workflows with top-level runs, sorted."""
        query = (
            select(runs.c.workflow_name)
            .where(runs.c.parent_run_id.is_(None))
            .distinct()
            .order_by(runs.c.workflow_name)
        )
        return self.database.statement(
            "list the workflows with runs",
            lambda conn: [str(name) for name in conn.execute(query).scalars()],
        )

    def queue_depth(self) -> dict[str, int]:
        """How many runs wait in the queue (``PENDING``), by workflow. Tried once, not
        again through an outage: a metrics reader asks, and must not wait it out."""
        query = (
            select(runs.c.workflow_name, func.count())
            .where(runs.c.status == WorkflowStatus.PENDING)
            .group_by(runs.c.workflow_name)
        )
        with self.database.engine.connect() as conn:
            return {str(name): int(count) for name, count in conn.execute(query)}

    def step_counts(self, run_ids: Sequence[str]) -> dict[str, tuple[int, int]]:
        """Completed and failed steps of live runs, from their rows (a run's own counts
        are written when it ends): run id -> (completed, failed). A failed attempt that
        was retried is not a failed step."""
        if not run_ids:
            return {}
        done = func.sum(case((steps.c.status == StepStatus.COMPLETED, 1), else_=0))
        failed = and_(steps.c.status == StepStatus.FAILED, steps.c.will_retry == 0)
        query = (
            select(steps.c.run_id, done, func.sum(case((failed, 1), else_=0)))
            .where(steps.c.run_id.in_(list(run_ids)))
            .group_by(steps.c.run_id)
        )
        rows = self.database.statement(
            "count the steps of live runs", lambda conn: conn.execute(query).all()
        )
        return {run_id: (int(ok or 0), int(bad or 0)) for run_id, ok, bad in rows}

    def _records(self, action: str, query: Select[Any]) -> list[RunRecord]:
        rows = self.database.statement(action, lambda conn: conn.execute(query).all())
        return [run_record(r) for r in rows]

    def quality_history(self, workflow_name: str, limit: int = 1000) -> list[dict[str, Any]]:
        """Quality metrics every step of ``workflow_name`` reported, oldest first."""
        query = (
            select(steps.c.run_id, steps.c.step_name, steps.c.completed_at, steps.c.quality)
            .join(runs, runs.c.run_id == steps.c.run_id)
            .where(and_(runs.c.workflow_name == workflow_name, steps.c.quality.is_not(None)))
            .order_by(steps.c.completed_at)
            .limit(limit)
        )
        rows = self.database.statement(
            f"read quality metrics of {workflow_name!r}", lambda conn: conn.execute(query).all()
        )
        return [
            {
                "run_id": r.run_id,
                "step_name": r.step_name,
                "completed_at": r.completed_at,
                "quality": decode(r.quality),
            }
            for r in rows
        ]

    def latest_partitions(self, workflow_name: str) -> list[PartitionRun]:
        """The latest top-level run of each partition of ``workflow_name`` (matched by
        their canonical JSON), by partition."""
        query = (
            select(runs.c.run_id, runs.c.status, runs.c.partition, runs.c.started_at)
            .where(runs.c.workflow_name == workflow_name, runs.c.parent_run_id.is_(None))
            .order_by(runs.c.started_at.desc())
        )
        rows = self.database.statement(
            f"read the partitions of {workflow_name!r}", lambda conn: conn.execute(query).all()
        )
        latest: dict[str, PartitionRun] = {}
        for row in rows:
            partition = decode(row.partition) if row.partition else {}
            latest.setdefault(partition_key(partition), PartitionRun(
                partition, row.run_id, row.status, from_iso(row.started_at) or 0.0))  # fmt: skip
        return [latest[key] for key in sorted(latest)]

    def list_runs(
        self,
        *,
        workflow: str | None = None,
        status: str | None = None,
        since: float | None = None,
        until: float | None = None,
        triggered_by: str | None = None,
        limit: int = 50,
        offset: int = 0,
        top_level: bool = True,
        parent: str | None = None,
    ) -> list[RunRecord]:
        """Runs, newest first, filtered by workflow name, status, start time (``since``
        inclusive, ``until`` exclusive), trigger or parent."""
        query = select(runs)
        if until is not None:
            query = query.where(runs.c.started_at < iso(until))
        if triggered_by is not None:
            query = query.where(runs.c.triggered_by == triggered_by)
        if parent is not None:
            query = query.where(runs.c.parent_run_id == parent)
        if workflow is not None:
            query = query.where(runs.c.workflow_name == workflow)
        if status is not None:
            query = query.where(runs.c.status == status.upper())
        if since is not None:
            query = query.where(runs.c.started_at >= iso(since))
        if top_level:
            query = query.where(runs.c.parent_run_id.is_(None))
        return self._records(
            "list runs", query.order_by(runs.c.started_at.desc()).limit(limit).offset(offset)
        )
