"""What the ``spine`` command and the web app read and do with the history, written once.

``spine runs``, ``spine show``, ``spine cancel``, ``spine resume --queue`` and the UI's
pages and JSON API all go through these functions over an open
:class:`spine.store.SqlStore` (from ``spine.store.open_store``), so a filter, a run's
detail, a cancellation or a resumption means the same in a terminal as over HTTP. The
JSON forms of runs, steps, alert deliveries and schedules are defined here too:
``--json`` output and the API's bodies are one format.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from spine.core.records import (
    PartitionRun,
    RunRecord,
    SignalRecord,
    StepRecord,
    StoredRun,
    signal_json,
    when,
)
from spine.core.status import LIVE_STATUSES, StepStatus, WorkflowStatus
from spine.store import SqlDeliveryLog, SqlScheduleStore, StepLogs

if TYPE_CHECKING:
    from collections.abc import Collection, Iterator

    from spine.core.schedules import Schedule, ScheduleFire
    from spine.framework.alerts import DeliveryRecord
    from spine.store import AttemptLog, SqlStore

MAX_CHILDREN = 1000
"""Most map items a run's detail lists by default (by map step, then item index)."""
MAX_ALERTS = 50
"""Most alert deliveries a run's detail lists, newest first."""
SUMMARY_RUNS = 200
"""How many recent runs a workflow's figures (success rate, durations) are taken over."""


# -- listing ---------------------------------------------------------------------------


def status_named(text: str | None) -> WorkflowStatus | None:
    """The run status ``text`` names, in any case; ``None`` for no text.

    Raises ``ValueError`` naming every status, for a front end to report or to treat
    as "matches nothing".
    """
    if not text:
        return None
    try:
        return WorkflowStatus(text.upper())
    except ValueError:
        known = ", ".join(WorkflowStatus)
        raise ValueError(f"unknown run status {text!r}; one of {known}") from None


def list_runs(
    store: SqlStore,
    *,
    workflow: str | None = None,
    status: WorkflowStatus | None = None,
    since: float | None = None,
    until: float | None = None,
    triggered_by: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[RunRecord]:
    """Top-level runs (map items are shown with their parent), newest first, of
    ``workflow``, in ``status``, started at or after the timestamp ``since`` and before
    ``until``, triggered by ``triggered_by`` (``manual``, ``schedule``, ``ui``...). A
    live run's step counts are its rows' so far (its own are written when it ends)."""
    found = store.list_runs(
        workflow=workflow, status=status, since=since, until=until,
        triggered_by=triggered_by, limit=limit, offset=offset,
    )  # fmt: skip
    counts = store.step_counts([r.run_id for r in found if r.status in LIVE_STATUSES])
    for run in found:
        if run.run_id in counts:
            run.completed_steps, run.failed_steps = counts[run.run_id]
    return found


# -- what a live run is doing ----------------------------------------------------------

OWNER_LEASE_SECONDS = 30.0
"""How old a heartbeat may be before a reader calls its owner dead: the runners' default
``lease_seconds`` (a reader cannot know the lease of the runner that holds a run)."""


@dataclass(frozen=True, slots=True)
class InFlight:
    """The step a live run is executing now, as its rows tell it (no write of its own:
    a run's first step is stored with the run, each next one with the row before it)."""

    step_name: str
    step_order: int
    attempt: int
    started_at: float | None
    """``None`` when the run was resumed by hand: it started when the resume took it."""
    items: dict[str, int | None] | None = None
    """A map step's progress: ``done``, ``failed``, ``in_flight`` of ``total`` items."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "step_order": self.step_order,
            "step_name": self.step_name,
            "attempt": self.attempt,
            "status": StepStatus.RUNNING.value,
            "started_at": when(self.started_at),
            "items": self.items,
        }


def in_flight(store: SqlStore, stored: StoredRun) -> InFlight | None:
    """The step run ``stored`` is executing, if it is ``RUNNING``."""
    run = stored.run
    if run.status != WorkflowStatus.RUNNING:
        return None
    if not stored.steps:
        if run.first_step is None:
            return None
        step = InFlight(run.first_step, 0, 1, run.started_at)
    else:
        last = stored.steps[-1]
        if last.will_retry:
            # Its next attempt starts when the retry delay (the run's wake-up) ends.
            begins = run.wake_at if run.wake_at is not None else last.completed_at
            step = InFlight(last.step_name, last.step_order, last.attempt + 1, begins)
        elif last.next_step is None:
            # Its last row ended the run, which is running again: resumed by hand, at
            # that step when it failed there (a cancelled run goes on after it).
            if last.status != StepStatus.FAILED:
                return None
            step = InFlight(last.step_name, last.step_order, last.attempt + 1, None)
        else:
            # (A fork's last row may be one it copied, older than the fork itself.)
            begins = max(last.completed_at, run.started_at)
            step = InFlight(last.next_step, last.step_order + 1, 1, begins)
    counts = store.item_counts(run.run_id, f"{step.step_name}#{step.step_order}")
    if not counts:
        return step
    done = counts.get(WorkflowStatus.COMPLETED, 0)
    failed = counts.get(WorkflowStatus.FAILED, 0) + counts.get(WorkflowStatus.PARTIAL, 0)
    items = {"done": done, "failed": failed, "total": run.items_total,
             "in_flight": sum(counts.values()) - done - failed}  # fmt: skip
    return InFlight(step.step_name, step.step_order, step.attempt, step.started_at, items)


def owner_alive(run: RunRecord, now: float) -> bool | None:
    """Whether the process holding a live run is alive (by its process when it is on
    this host, else by its heartbeat); ``None`` when nothing holds the run."""
    from spine.orchestration.leases import owner_gone

    if run.owner is None or run.status not in LIVE_STATUSES:
        return None
    return not owner_gone(run, now, OWNER_LEASE_SECONDS)


# -- one run ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunDetail:
    """A run as its page shows it: its steps, its map items and the alerts sent about it."""

    stored: StoredRun
    children: Sequence[RunRecord] = field(default_factory=tuple)
    """A page of its map items (runs whose parent it is), by map step then item index."""
    children_total: int = 0
    """How many map items it has in all."""
    alerts: Sequence[DeliveryRecord] = field(default_factory=tuple)
    """Deliveries of alerts about it, newest first."""
    live: InFlight | None = None
    """The step it is executing now (``RUNNING`` runs)."""
    owner_alive: bool | None = None
    """Whether the process holding it is alive (``None``: nothing holds it)."""
    signals: Sequence[SignalRecord] = field(default_factory=tuple)
    """The signals sent to it, oldest first."""

    @property
    def run(self) -> RunRecord:
        return self.stored.run

    def to_dict(self) -> dict[str, Any]:
        return {
            **stored_run_to_dict(self.stored, self.live, self.owner_alive),
            "children": [run_to_dict(c) for c in self.children],
            "children_total": self.children_total,
            "alerts": [delivery_to_dict(d) for d in self.alerts],
            "signals": [signal_to_dict(s) for s in self.signals],
        }


def load_run(store: SqlStore, run_id: str) -> StoredRun:
    """Run ``run_id`` with every step attempt, in order; raises ``RunNotFoundError``."""
    return store.load_run(run_id)


def show_run(
    store: SqlStore,
    run_id: str,
    now: float | None = None,
    *,
    items: int = MAX_CHILDREN,
    items_from: int = 0,
) -> RunDetail:
    """Run ``run_id`` with its steps, ``items`` of its map items from the
    ``items_from``-th, alert deliveries and, while it is live, what it is doing; raises
    ``RunNotFoundError``."""
    import time

    stored = store.load_run(run_id)
    children, total = store.map_items(run_id, limit=items, offset=items_from)
    # On the store's own connections: nothing to close.
    alerts = SqlDeliveryLog.sharing(store).recent(limit=MAX_ALERTS, run_id=run_id)
    alive = owner_alive(stored.run, time.time() if now is None else now)
    return RunDetail(stored, children, total, alerts, in_flight(store, stored), alive,
                     store.signals(run_id))  # fmt: skip


def send_signal(
    store: SqlStore, run_id: str, signal_name: str, payload: object, now: float | None = None
) -> None:
    """Send the signal ``signal_name`` (its ``payload`` a JSON object) to run ``run_id``
    (see ``WorkflowRunner.signal``). Raises ``RunNotFoundError``, ``RunEndedError``, and
    ``WorkflowValidationError`` for a bad name or payload."""
    import time

    payload_json = signal_json(signal_name, payload)
    store.send_signal(run_id, signal_name, payload_json, time.time() if now is None else now)


# -- step logs -------------------------------------------------------------------------


def step_logs(
    store: SqlStore, run_id: str, *, step: str | None = None, seen: Collection[str] = ()
) -> tuple[WorkflowStatus, list[AttemptLog]]:
    """Run ``run_id``'s status and the logs of its step attempts and its map items' (only
    step ``step``'s when given), leaving out attempts whose ``step_id`` is in ``seen``;
    raises ``RunNotFoundError``. (One read: a follower that sees the run ended has
    every log.)"""
    return StepLogs.sharing(store).read(run_id, step=step, seen=seen)


def log_line_dicts(log: AttemptLog) -> Iterator[dict[str, Any]]:
    """One attempt's log, a JSON-ready dict per line: ``GET /api/runs/{id}/logs``."""
    for at, level, text in log.lines:
        yield {
            "run_id": log.run_id, "step": log.step_name, "step_order": log.step_order,
            "attempt": log.attempt, "map_step": log.map_step, "item": log.item,
            "time": when(at), "level": level, "text": text,
        }  # fmt: skip


# -- cancelling ------------------------------------------------------------------------


class CancelOutcome(StrEnum):
    """What a request to cancel a run did."""

    CANCELLED = "cancelled"
    """Nothing was executing the run: it is ``CANCELLED`` now."""
    REQUESTED = "requested"
    """A runner executes it: no further step of it starts (nor map item once its map's
    next look at the run is due, at most 10 ms later), and that runner ends it
    ``CANCELLED`` once the steps in flight finish."""
    ALREADY_ENDED = "already_ended"
    """It had ended before; nothing changed."""


@dataclass(frozen=True, slots=True)
class Cancellation:
    run_id: str
    outcome: CancelOutcome
    ended_as: WorkflowStatus | None = None
    """With ``ALREADY_ENDED``: the status it had ended with."""
    in_flight: str | None = None
    """With ``REQUESTED``: the step in flight as the run's rows showed it once the
    request was in. It may still be starting (its runner decided to run it when it
    recorded the step before, just ahead of the request); no step after it starts."""


def cancel_run(store: SqlStore, run_id: str, now: float | None = None) -> Cancellation:
    """Cancel run ``run_id``: at once if nothing executes it, else at its runner's next
    step boundary. Raises ``RunNotFoundError``."""
    import time

    answer = store.cancel(run_id, time.time() if now is None else now)
    if answer == CancelOutcome.REQUESTED:
        # Read after the request is in: a row recorded after it stops the run, so the
        # step its last row names is the last that may start.
        step = in_flight(store, store.load_run(run_id))
        name = None if step is None else step.step_name
        return Cancellation(run_id, CancelOutcome.REQUESTED, in_flight=name)
    if answer == CancelOutcome.CANCELLED:
        return Cancellation(run_id, CancelOutcome.CANCELLED)
    return Cancellation(run_id, CancelOutcome.ALREADY_ENDED, WorkflowStatus(answer))


def withdraw_cancel(store: SqlStore, run_id: str) -> None:
    """Take back a request to stop run ``run_id`` that its runner has not acted on (a
    run that ended keeps its end)."""
    store.withdraw_cancel(run_id)


# -- resuming through the queue -------------------------------------------------------

RESUMABLE = frozenset({WorkflowStatus.FAILED, WorkflowStatus.CANCELLED})
"""The statuses of runs that can be handed back to the queue."""


@dataclass(frozen=True, slots=True)
class Resumption:
    run_id: str
    queued: bool
    """It is ``PENDING`` now: a worker claims it and continues it where it stopped."""
    status: str
    """Its status now."""
    reason: str | None = None
    """Why it was not queued."""


def resume_run(store: SqlStore, run_id: str) -> Resumption:
    """Hand run ``run_id``, failed or cancelled, back to the queue: a worker that knows
    its workflow claims it and continues it from where it stopped (its completed steps
    do not run again). Raises ``RunNotFoundError``."""
    run = store.load_run(run_id).run
    reason = _not_resumable(run)
    if reason is None:
        if store.requeue(run):
            return Resumption(run_id, True, WorkflowStatus.PENDING)
        run = store.load_run(run_id).run
        reason = f"run {run_id} changed while it was being resumed: it is {run.status} now"
    return Resumption(run_id, False, run.status, reason)


def _not_resumable(run: RunRecord) -> str | None:
    if run.parent_run_id is not None:
        return (
            f"run {run.run_id} is an item of a map step of run {run.parent_run_id}: "
            "resume that run, and its map continues the items that did not complete"
        )
    if run.status not in RESUMABLE:
        return f"run {run.run_id} is {run.status}; only a FAILED or CANCELLED run is resumed"
    if run.dry_run:
        return f"run {run.run_id} is a dry run; workers execute real runs only"
    return None


# -- a workflow's figures --------------------------------------------------------------


def workflow_summary(store: SqlStore, name: str, *, shown: int = 50) -> dict[str, Any]:
    """Workflow ``name``'s latest ``shown`` runs, and over its recent runs: the share that
    completed of those that ended, each one's duration (oldest first), and the quality
    metrics its steps reported."""
    recent = store.list_runs(workflow=name, limit=SUMMARY_RUNS)
    ended = [r for r in recent if r.completed_at is not None]
    return {
        "workflow_name": name,
        "runs": [run_to_dict(r) for r in recent[:shown]],
        "success_rate": _success_rate(recent),
        "durations": [
            {
                "run_id": r.run_id,
                "started_at": when(r.started_at),
                "seconds": run_duration(r),
                "status": r.status,
            }
            for r in reversed(ended)
        ],
        "quality": store.quality_history(name),
    }


def workflows_overview(
    store: SqlStore, registered: Collection[str] = (), *, last: int = 5
) -> list[dict[str, Any]]:
    """Every workflow with runs or in ``registered``, by name: its ``last`` runs, the
    share of its recent runs that completed of those that ended, and when a schedule
    runs it next (the earliest of its schedules that are not paused)."""
    next_fire: dict[str, float] = {}
    for schedule in list_schedules(store):
        due = schedule.next_fire_at
        if due is not None and not schedule.paused:
            next_fire[schedule.workflow] = min(due, next_fire.get(schedule.workflow, due))
    names = sorted({*store.workflow_names(), *registered, *next_fire})
    overview = []
    for name in names:
        recent = store.list_runs(workflow=name, limit=SUMMARY_RUNS)
        overview.append({
            "workflow_name": name,
            "registered": name in registered,
            "runs": [run_to_dict(r) for r in recent[:last]],
            "ended_count": sum(r.completed_at is not None for r in recent),
            "success_rate": _success_rate(recent),
            "next_fire_at": when(next_fire.get(name)),
        })  # fmt: skip
    return overview


def _success_rate(recent: Sequence[RunRecord]) -> float | None:
    """The share of ``recent`` runs that completed, of those that ended."""
    ended = [r for r in recent if r.completed_at is not None]
    succeeded = [r for r in ended if r.status == WorkflowStatus.COMPLETED]
    return len(succeeded) / len(ended) if ended else None


# -- schedules -------------------------------------------------------------------------


def list_schedules(store: SqlStore) -> list[Schedule]:
    """Every schedule kept in ``store``'s database, by name."""
    return SqlScheduleStore(store).list_schedules()


@dataclass(frozen=True, slots=True)
class ScheduleDetail:
    """A schedule and what became of its latest due times."""

    schedule: Schedule
    fires: Sequence[ScheduleFire]
    """Newest first."""

    def to_dict(self) -> dict[str, Any]:
        return {**self.schedule.to_dict(), "history": [f.to_dict() for f in self.fires]}


def show_schedule(store: SqlStore, name: str, limit: int = 50) -> ScheduleDetail:
    """Schedule ``name`` and its latest ``limit`` due times; raises ``ScheduleError`` for
    an unknown name."""
    schedules = SqlScheduleStore(store)
    return ScheduleDetail(schedules.get(name), schedules.history(name, limit))


# -- JSON forms ------------------------------------------------------------------------


def run_duration(run: RunRecord) -> float | None:
    """Seconds of execution of a run that ended (``None`` while it is live)."""
    if run.completed_at is None or run.status in LIVE_STATUSES:
        return None
    return run.duration if run.duration is not None else run.completed_at - run.started_at


def run_to_dict(run: RunRecord) -> dict[str, Any]:
    """A run, JSON-ready (timestamps as ISO-8601 UTC)."""
    return {
        "run_id": run.run_id,
        "workflow_name": run.workflow_name,
        "workflow_version": run.workflow_version,
        "status": run.status,
        "started_at": when(run.started_at),
        "completed_at": when(run.completed_at),
        "duration_seconds": run_duration(run),
        "params": dict(run.params),
        "partition": dict(run.partition),
        "completed_steps": run.completed_steps,
        "failed_steps": run.failed_steps,
        "error_step": run.error_step,
        "error": run.error,
        "error_category": run.error_category,
        "parent_run_id": run.parent_run_id,
        "forked_from": run.forked_from,
        "triggered_by": run.triggered_by,
        "schedule_id": run.schedule_id,
        "wake_at": when(run.wake_at),
        "awaiting_signal": run.awaiting_signal if run.status == WorkflowStatus.WAITING else None,
        "owner": run.owner.describe() if run.owner else None,
        "owner_host": run.owner.host if run.owner else None,
        "owner_pid": run.owner.pid if run.owner else None,
    }


def step_to_dict(step: StepRecord) -> dict[str, Any]:
    """One step attempt, JSON-ready."""
    return {
        "step_order": step.step_order,
        "step_name": step.step_name,
        "step_type": step.step_type,
        "attempt": step.attempt,
        "status": step.status,
        "started_at": when(step.started_at),
        "completed_at": when(step.completed_at),
        "duration_seconds": step.completed_at - step.started_at,
        "output": step.output,
        "context_updates": step.context_updates,
        "error": step.error,
        "error_category": step.error_category,
        "will_retry": step.will_retry,
        "row_count": step.row_count,
        "quality": step.quality,
        "next_step": step.next_step,
    }


def stored_run_to_dict(
    stored: StoredRun, live: InFlight | None = None, alive: bool | None = None
) -> dict[str, Any]:
    """A run with every step attempt (key ``steps``; the step in flight last, as
    ``RUNNING``) and whether its owner is alive, JSON-ready: ``spine show --json``."""
    steps = [step_to_dict(s) for s in stored.steps]
    if live is not None:
        steps.append(live.to_dict())
    return {**run_to_dict(stored.run), "owner_alive": alive, "steps": steps}


def partition_to_dict(latest: PartitionRun) -> dict[str, Any]:
    """A partition and its latest run, JSON-ready."""
    return {
        "partition": dict(latest.partition),
        "status": latest.status,
        "run_id": latest.run_id,
        "started_at": when(latest.started_at),
    }


def signal_to_dict(record: SignalRecord) -> dict[str, Any]:
    """A signal sent to a run, JSON-ready."""
    return {
        "signal_name": record.signal_name,
        "payload": record.payload,
        "sent_at": when(record.sent_at),
        "consumed_at": when(record.consumed_at),
    }


def delivery_to_dict(record: DeliveryRecord) -> dict[str, Any]:
    """One alert delivery, JSON-ready (timestamps as ISO-8601)."""
    return {
        "id": record.id,
        "channel": record.channel,
        "channel_type": record.channel_type,
        "severity": record.severity.value,
        "title": record.title,
        "success": record.success,
        "throttled": record.throttled,
        "attempts": record.attempts,
        "suppressed": record.suppressed,
        "error": record.error,
        "created_at": record.created_at.isoformat(),
        "delivered_at": record.delivered_at.isoformat(),
    }


__all__ = [
    "RESUMABLE",
    "CancelOutcome",
    "Cancellation",
    "InFlight",
    "Resumption",
    "RunDetail",
    "ScheduleDetail",
    "cancel_run",
    "delivery_to_dict",
    "in_flight",
    "list_runs",
    "list_schedules",
    "load_run",
    "owner_alive",
    "partition_to_dict",
    "resume_run",
    "run_duration",
    "run_to_dict",
    "show_run",
    "show_schedule",
    "status_named",
    "step_to_dict",
    "stored_run_to_dict",
    "withdraw_cancel",
    "workflow_summary",
    "workflows_overview",
]
