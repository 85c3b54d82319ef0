"""Schedules: start runs of a registered workflow at the times of a cron expression.

A :class:`Schedule` names a workflow, a cron expression and the IANA time zone it is
read in. Workers fire schedules through a :class:`Scheduler`: each due time is
claimed with a compare-and-swap on the schedule's next fire time, in the same
transaction that stores the run as ``PENDING`` (``triggered_by="schedule"``, its
``schedule_id`` the schedule's name), so any number of workers fire each due time
exactly once. The SQL lives in ``spine.store`` behind :class:`ScheduleStore`.

Time zones follow cron (Vixie cron's rules): a local time the clocks skip in spring
fires once, as the clocks change; a local time the clocks repeat in autumn fires
once, at its first occurrence, unless the schedule fires every hour (its hour field
is ``*``), in which case it keeps to elapsed time and fires in both.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Protocol

from spine.core.errors import WorkflowValidationError
from spine.core.records import RunRecord, when
from spine.core.schedules import FireOutcome, Schedule, ScheduleFire

if TYPE_CHECKING:
    from spine.core.clock import Clock
    from spine.orchestration.workflow import Workflow
    from spine.orchestration.workflow_runner import WorkflowRunner

logger = logging.getLogger("spine.orchestration")


def _unmade(planned: ScheduleFire, exc: Exception) -> ScheduleFire:
    """``planned`` recorded as ``missed`` because its run could not be made."""
    reason = f"no run: it could not be made: {type(exc).__name__}: {exc}"
    if planned.outcome is FireOutcome.LATE:
        reason += "; it was found past the misfire grace, and so were the times passed over"
    return replace(planned, outcome=FireOutcome.MISSED, run_id=None, detail=reason)


class ScheduleStore(Protocol):
    """Where schedules are kept: what a :class:`Scheduler` reads and writes."""

    def due(self, now: float) -> list[Schedule]:
        """Schedules not paused whose next fire time is at or before ``now``."""
        ...

    def fire(
        self,
        schedule: Schedule,
        planned: ScheduleFire,
        next_fire_at: float | None,
        run: RunRecord | None,
    ) -> ScheduleFire | None:
        """In one transaction: move ``schedule`` from ``planned.due_at`` on to
        ``next_fire_at`` (``None``: it fires no more) if it still is there
        (compare-and-swap), store ``run`` as it is unless ``max_instances`` runs of the
        schedule are live (then the outcome is ``skipped``), and record the outcome.

        Returns the recorded outcome, or ``None`` when the schedule had moved on (another
        worker fired that time), was paused or deleted: then nothing is written.
        """
        ...


class Scheduler:
    """Fires the due schedules of the workflows ``runner`` knows.

    Call :meth:`fire_due` about once a second (``spine worker`` does, from a thread
    of its own); the runs it stores are ``PENDING``, for any worker to execute.
    Schedules of workflows the runner does not know are left for a worker that does.
    """

    def __init__(
        self, runner: WorkflowRunner, schedules: ScheduleStore, clock: Clock | None = None
    ) -> None:
        self.runner = runner
        self.schedules = schedules
        self.clock = clock or runner.clock
        self._unknown: set[str] = set()
        self._failing: dict[str, float | None] = {}
        """Schedules whose firing raised, and the due time it raised at: logged once."""

    def fire_due(self, now: float | None = None) -> list[ScheduleFire]:
        """Fire every due time at or before ``now`` (the clock's time if omitted) of the
        schedules of known workflows; returns what became of each due time this call
        took (due times another worker took are not in it).

        One schedule that cannot fire does not stop the others: a due time whose run
        cannot be made (the workflow's defaults cannot be stored as JSON, say) is
        recorded as ``missed`` with the error and the schedule goes on; any other error
        is logged and the due time is tried again at the next call.
        """
        moment = self.clock.time() if now is None else now
        fires = []
        for schedule in self.schedules.due(moment):
            if schedule.workflow not in self.runner.workflows:
                if schedule.name not in self._unknown:
                    self._unknown.add(schedule.name)
                    logger.warning(
                        "schedule %r: workflow %r is not registered here; left for a worker "
                        "that knows it",
                        schedule.name,
                        schedule.workflow,
                    )
                continue
            try:
                # One by one, so the times fired before an error are still returned.
                for fire in self._fire(schedule, moment):
                    fires.append(fire)
            except Exception as exc:  # whatever it is, the other schedules still fire
                self._report_failure(schedule, exc)
            else:
                self._failing.pop(schedule.name, None)
        return fires

    def _report_failure(self, schedule: Schedule, exc: Exception) -> None:
        """Log a schedule that could not fire, once per due time (workers call
        :meth:`fire_due` every second: a database that refuses it every second would
        otherwise flood the log)."""
        if self._failing.get(schedule.name, -1.0) == schedule.next_fire_at:
            return
        self._failing[schedule.name] = schedule.next_fire_at
        logger.error(
            "schedule %r: could not fire its due time %s (workflow %r): %s: %s; tried again "
            "at the next look",
            schedule.name,
            when(schedule.next_fire_at),
            schedule.workflow,
            type(exc).__name__,
            exc,
            exc_info=exc,
        )

    def _fire(self, schedule: Schedule, now: float) -> Iterator[ScheduleFire]:
        workflow = self.runner.workflows.get(schedule.workflow)
        due = schedule.next_fire_at
        while due is not None and due <= now:
            outcome, following, detail = schedule.resolve(due, now)
            planned = ScheduleFire(schedule.name, due, outcome, None, now, detail)
            run: RunRecord | None = None
            unmade: Exception | None = None
            if outcome is not FireOutcome.MISSED:
                try:
                    run = self._run(schedule, workflow)
                except Exception as exc:  # whatever the definitions raise: recorded below
                    unmade = exc
            fire = None
            if unmade is None:
                try:
                    fire = self.schedules.fire(
                        schedule,
                        replace(planned, run_id=run.run_id if run else None),
                        following,
                        run,
                    )
                except WorkflowValidationError as exc:
                    if run is None:
                        raise
                    # The store refused the run itself (its params cannot be stored as
                    # JSON, say): a bad request, not a database hiccup.
                    unmade = exc
            if unmade is not None:
                # The run depends only on the definitions, so this due time would fail
                # the same way at every look: record why, and go on with the next time.
                fire = self.schedules.fire(schedule, _unmade(planned, unmade), following, None)
            if fire is None:
                break  # another worker took this time, and goes on with the rest
            # A skip is max_instances doing its job; a missed time is news; a run that
            # cannot be made needs someone to fix a definition.
            level = logging.WARNING if fire.outcome is FireOutcome.MISSED else logging.INFO
            level = logging.ERROR if unmade is not None else level
            logger.log(level, "schedule %r: %s %s: %s", schedule.name, fire.outcome, when(due),
                       fire.run_id or fire.detail)  # fmt: skip
            yield fire
            due = following

    def _run(self, schedule: Schedule, workflow: Workflow) -> RunRecord:
        """The row ``runner.submit`` stores for this schedule's run, not yet stored: the
        store inserts it in the transaction that advances the schedule."""
        return self.runner.queue.pending_record(
            workflow,
            schedule.params,
            schedule.partition,
            triggered_by="schedule",
            schedule_id=schedule.name,
        )


__all__ = [
    "FireOutcome",
    "Schedule",
    "ScheduleFire",
    "ScheduleStore",
    "Scheduler",
]
