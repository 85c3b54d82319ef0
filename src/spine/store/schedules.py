"""``SqlScheduleStore``: schedules in the history database, and the atomic firing of one."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import replace
from functools import cached_property
from typing import Any

from sqlalchemy import Connection, Row, and_, bindparam, func, select, update
from sqlalchemy.exc import IntegrityError

from spine.core.errors import ScheduleError, ScheduleValidationError
from spine.core.jsonvalue import decode, encode
from spine.core.records import RunRecord
from spine.core.schedules import FireOutcome, Schedule, ScheduleFire
from spine.core.status import LIVE_STATUSES, Wakeup
from spine.store.codec import from_iso, iso, new_run_values
from spine.store.database import Prepared
from spine.store.schema import runs, schedule_fires, schedules
from spine.store.view import StoreView

logger = logging.getLogger("spine.store")


class SqlScheduleStore(StoreView):
    """Implements :class:`spine.orchestration.schedules.ScheduleStore` in an open database
    (a :class:`~spine.store.database.Database`, or an ``SqlStore``'s, whose connections
    it then shares), and adds what the ``spine schedule`` command and code need to
    manage schedules.

    ``close_database``: close the database with this store. :func:`spine.store.open_schedules`
    opens both from a URL::

        with open_schedules("sqlite:///spine.db") as schedules:
            schedules.add(Schedule("nightly", "etl.nightly", "0 6 * * *", "Europe/London"))
    """

    def add(self, schedule: Schedule, now: float | None = None) -> Schedule:
        """Store a new schedule (its first fire time is the first after ``now``) and
        return it as stored. A taken name raises ``ScheduleError``."""
        moment = time.time() if now is None else now
        stored = replace(
            schedule,
            created_at=moment,
            next_fire_at=None if schedule.paused else schedule.first_fire_after(moment),
            last_fired_at=None,
        )
        values = _values(stored)
        taken = ScheduleError(
            f"schedule {schedule.name!r} already exists in {self.where}; delete it first "
            "(spine schedule delete) to define it anew",
            schedule=schedule.name,
        )

        def add(conn: Connection) -> None:
            try:
                conn.execute(schedules.insert().values(**values))
            except IntegrityError:
                raise taken from None

        def add_again(conn: Connection) -> None:
            # The try that failed may have committed: then the name holds this very row.
            conn.execute(self.database.dialect.insert_new(schedules).values(**values))
            created = conn.execute(
                select(schedules.c.created_at).where(schedules.c.name == schedule.name)
            ).scalar()
            if created != values["created_at"]:
                raise taken

        self.database.transaction(f"add schedule {schedule.name!r}", add, again=add_again)
        return stored

    def get(self, name: str) -> Schedule:
        return self.database.transaction(f"read schedule {name!r}", lambda c: self._load(c, name))

    def list_schedules(self) -> list[Schedule]:
        """Every schedule, by name."""
        query = select(schedules).order_by(schedules.c.name)
        rows = self.database.statement("list schedules", lambda conn: conn.execute(query).all())
        return [_schedule(row) for row in rows]

    def pause(self, name: str) -> Schedule:
        """Stop firing ``name`` until :meth:`resume`; runs it started are not touched."""

        def pause(conn: Connection) -> Schedule:
            schedule = self._load(conn, name)
            conn.execute(
                update(schedules)
                .where(schedules.c.name == name)
                .values(paused=1, next_fire_at=None)
            )
            return replace(schedule, paused=True, next_fire_at=None)

        return self.database.transaction(f"pause schedule {name!r}", pause)

    def resume(self, name: str, now: float | None = None) -> Schedule:
        """Fire ``name`` again from its first time after ``now``: the times it was paused
        through are not made up for. Resuming a schedule that is not paused changes
        nothing."""
        moment = time.time() if now is None else now

        def resume(conn: Connection) -> Schedule:
            schedule = self._load(conn, name)
            if not schedule.paused:
                return schedule
            following = schedule.first_fire_after(moment)
            conn.execute(
                update(schedules)
                .where(schedules.c.name == name)
                .values(paused=0, next_fire_at=iso(following))
            )
            return replace(schedule, paused=False, next_fire_at=following)

        return self.database.transaction(f"resume schedule {name!r}", resume)

    def delete(self, name: str) -> None:
        """Delete ``name`` and its record of due times; the runs it started stay."""

        def delete(conn: Connection) -> None:
            self._load(conn, name)
            conn.execute(schedule_fires.delete().where(schedule_fires.c.schedule_name == name))
            conn.execute(schedules.delete().where(schedules.c.name == name))

        self.database.transaction(f"delete schedule {name!r}", delete)

    def history(self, name: str, limit: int = 50) -> list[ScheduleFire]:
        """What became of the latest ``limit`` due times of ``name``, newest first."""

        def history(conn: Connection) -> Sequence[Row[Any]]:
            self._load(conn, name)
            return conn.execute(
                select(schedule_fires)
                .where(schedule_fires.c.schedule_name == name)
                .order_by(schedule_fires.c.due_at.desc())
                .limit(max(limit, 0))
            ).all()

        rows = self.database.transaction(f"read the history of schedule {name!r}", history)
        return [_fire(row) for row in rows]

    # -- the ScheduleStore protocol ---------------------------------------------------

    @cached_property
    def _due(self) -> Prepared:
        # Every worker looks once a second: on the fast path, which pings no pooled
        # connection first (a ping is a transaction of its own on PostgreSQL).
        return self.database.prepare(
            select(schedules)
            .where(schedules.c.paused == 0, schedules.c.next_fire_at <= bindparam("now"))
            .order_by(schedules.c.next_fire_at)
        )

    def due(self, now: float) -> list[Schedule]:
        rows = self.database.execute(
            "look for due schedules", self._due, {"now": iso(now)}, fetch=True
        )
        found = []
        for row in rows:
            try:
                found.append(_schedule(row))
            except ScheduleValidationError as exc:
                # One schedule this spine cannot read (a time zone gone from the system's
                # tz database, say) must not stop the others from firing.
                logger.error("schedule %r cannot fire: %s", row.name, exc)
        return found

    def fire(
        self,
        schedule: Schedule,
        planned: ScheduleFire,
        next_fire_at: float | None,
        run: RunRecord | None,
    ) -> ScheduleFire | None:
        name = schedule.name

        # Tried again after a commit whose answer was lost, the claim finds the due time
        # moved on and changes nothing, as it does when another worker fired it.
        def fire(conn: Connection) -> ScheduleFire | None:
            # The claim of this due time. On PostgreSQL a second worker's UPDATE waits
            # for the first one's commit, then finds the row moved on and changes nothing.
            # created_at ties the claim to this very definition, not a namesake added
            # after a delete.
            claimed = conn.execute(
                update(schedules)
                .where(
                    and_(
                        schedules.c.name == name,
                        schedules.c.next_fire_at == iso(planned.due_at),
                        schedules.c.created_at == iso(schedule.created_at),
                        schedules.c.paused == 0,
                    )
                )
                .values(next_fire_at=iso(next_fire_at))
            )
            if claimed.rowcount != 1:
                return None
            fire = planned if run is None else _start(conn, schedule, planned, run)
            if fire.run_id is not None:
                self.database.dialect.announce(conn, Wakeup.PENDING)
            conn.execute(
                schedule_fires.insert().values(
                    schedule_name=name,
                    due_at=iso(fire.due_at),
                    outcome=str(fire.outcome),
                    run_id=fire.run_id,
                    recorded_at=iso(fire.recorded_at),
                    detail=fire.detail,
                )
            )
            return fire

        return self.database.transaction(f"fire schedule {name!r}", fire)

    def prune(self, before: float) -> int:
        """Delete the records of due times recorded before ``before``: a schedule's next
        time has moved past them, so they no longer guard anything. Returns how many
        went."""
        old = schedule_fires.delete().where(schedule_fires.c.recorded_at < iso(before))
        return self.database.transaction(
            "prune old schedule due times", lambda conn: int(conn.execute(old).rowcount)
        )

    def _load(self, conn: Connection, name: str) -> Schedule:
        row = conn.execute(select(schedules).where(schedules.c.name == name)).first()
        if row is None:
            raise ScheduleError(
                f"no schedule {name!r} in {self.where}; spine schedule list shows them",
                schedule=name,
            )
        return _schedule(row)


def _live_runs(conn: Connection, name: str) -> int:
    return int(
        conn.execute(
            select(func.count())
            .select_from(runs)
            .where(and_(runs.c.schedule_id == name, runs.c.status.in_(sorted(LIVE_STATUSES))))
        ).scalar_one()
    )


def _values(schedule: Schedule) -> dict[str, Any]:
    return {
        "name": schedule.name,
        "workflow_name": schedule.workflow,
        "cron": schedule.cron,
        "timezone": schedule.timezone,
        "params": encode(schedule.params, "params"),
        "partition": encode(schedule.partition, "partition"),
        "paused": int(schedule.paused),
        "misfire": schedule.misfire,
        "misfire_grace_ms": round(schedule.misfire_grace_seconds * 1000),
        "max_instances": schedule.max_instances,
        "next_fire_at": iso(schedule.next_fire_at),
        "last_fired_at": iso(schedule.last_fired_at),
        "created_at": iso(schedule.created_at),
    }


def _schedule(row: Row[Any]) -> Schedule:
    return Schedule(
        name=row.name,
        workflow=row.workflow_name,
        cron=row.cron,
        timezone=row.timezone,
        params=decode(row.params),
        partition=decode(row.partition),
        paused=bool(row.paused),
        misfire=row.misfire,
        misfire_grace_seconds=row.misfire_grace_ms / 1000,
        max_instances=row.max_instances,
        next_fire_at=from_iso(row.next_fire_at),
        last_fired_at=from_iso(row.last_fired_at),
        created_at=from_iso(row.created_at),
    )


def _fire(row: Row[Any]) -> ScheduleFire:
    return ScheduleFire(
        schedule=row.schedule_name,
        due_at=from_iso(row.due_at) or 0.0,
        outcome=FireOutcome(row.outcome),
        run_id=row.run_id,
        recorded_at=from_iso(row.recorded_at) or 0.0,
        detail=row.detail,
    )


def _start(
    conn: Connection, schedule: Schedule, planned: ScheduleFire, run: RunRecord
) -> ScheduleFire:
    """Store the due time's run, unless ``max_instances`` runs of the schedule are live
    (counted while holding the schedule's row: every earlier firing of it has committed
    its run); what became of the due time."""
    live = _live_runs(conn, schedule.name)
    if live >= schedule.max_instances:
        return replace(
            planned,
            outcome=FireOutcome.SKIPPED,
            run_id=None,
            detail=f"{live} runs of the schedule were pending, running or waiting "
            f"(max_instances={schedule.max_instances})",
        )
    conn.execute(runs.insert().values(**new_run_values(run)))
    conn.execute(
        update(schedules)
        .where(schedules.c.name == schedule.name)
        .values(last_fired_at=iso(planned.due_at))
    )
    return planned
