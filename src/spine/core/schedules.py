"""Schedules as data: a workflow, a cron expression read in a time zone, and what
became of each due time.

The model is shared by the engine (``spine.orchestration.schedules`` fires them) and
the store (which keeps them), so it lives here. Time zones follow cron (Vixie cron's
rules): a local time the clocks skip in spring fires once, as the clocks change; a
local time the clocks repeat in autumn fires once, at its first occurrence, unless
the schedule fires every hour (its hour field is ``*``), in which case it keeps to
elapsed time and fires in both.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from spine.core.errors import ScheduleValidationError
from spine.core.fields import unstorable
from spine.core.frozen import freeze_dict
from spine.core.jsonvalue import JsonValueError, encode
from spine.core.records import when

MISFIRE_POLICIES = ("run_once", "skip")
DEFAULT_MISFIRE_GRACE_SECONDS = 60.0
MIN_MISFIRE_GRACE_SECONDS = 1.0
"""Workers look for due schedules about once a second: a shorter grace would make
every due time a misfire."""
MAX_MISFIRE_GRACE_SECONDS = 2_147_483.0
"""About 24.8 days: the store keeps the grace in milliseconds in a 32-bit column."""
MAX_INSTANCES = 2**31 - 1
"""The store keeps ``max_instances`` in a 32-bit column."""


class FireOutcome(StrEnum):
    """What became of one due time of a schedule."""

    FIRED = "fired"
    """A run started, on time (within the misfire grace)."""
    LATE = "late"
    """Found past the grace (``run_once``): one run for it and the later missed times."""
    MISSED = "missed"
    """Found past the grace (``skip``): no run for it nor for the later missed times."""
    SKIPPED = "skipped"
    """``max_instances`` runs of the schedule were still live: no run."""


@dataclass(frozen=True, slots=True)
class Schedule:
    """Run ``workflow`` at the times of ``cron``, read in ``timezone``.

    Built with its definition only; a store fills in ``next_fire_at``,
    ``last_fired_at`` and ``created_at``. Every problem with the definition is
    reported at once, by :class:`~spine.core.errors.ScheduleValidationError`.
    """

    name: str
    """Unique; the runs the schedule starts carry it as their ``schedule_id``."""
    workflow: str
    """The registered workflow to run (workers that do not know it leave it alone)."""
    cron: str
    """Five fields (minute hour day month weekday), or six with seconds as the sixth
    (``"* * * * * */10"``: every 10 s); ``@daily``-style aliases work too (``@daily``
    is midnight). ``H`` in a field (``"H 6 * * *"``) picks a value from the name."""
    timezone: str = "UTC"
    """IANA time zone in which ``cron`` is read (``"Europe/London"``)."""
    params: Mapping[str, Any] = field(default_factory=dict)
    """Params of every run (JSON values); the workflow's defaults lie beneath them."""
    partition: Mapping[str, Any] = field(default_factory=dict)
    """Partition of every run."""
    paused: bool = False
    """A paused schedule fires nothing; resuming it starts from the next future time."""
    misfire: str = "run_once"
    """What to do about due times found later than ``misfire_grace_seconds`` (no
    worker ran): ``"run_once"`` starts one run for all of them, ``"skip"`` none."""
    misfire_grace_seconds: float = DEFAULT_MISFIRE_GRACE_SECONDS
    """How late a due time may be found and still fire as on time."""
    max_instances: int = 1
    """Most runs of this schedule ``PENDING``, ``RUNNING`` or ``WAITING`` at once; a
    due time that finds that many is skipped (and recorded as skipped)."""
    next_fire_at: float | None = None
    """When it fires next (seconds since the epoch); ``None`` while paused."""
    last_fired_at: float | None = None
    """The last due time that started a run."""
    created_at: float | None = None

    def __post_init__(self) -> None:
        problems = _problems(self)
        if problems:
            raise ScheduleValidationError(
                f"schedule {self.name!r}: " + "; ".join(problems),
                schedule=self.name if isinstance(self.name, str) else None,
                problems=problems,
            )
        object.__setattr__(self, "params", freeze_dict(self.params))
        object.__setattr__(self, "partition", freeze_dict(self.partition))
        object.__setattr__(self, "misfire_grace_seconds", float(self.misfire_grace_seconds))

    def next_fire_after(self, moment: float) -> float | None:
        """The first fire time strictly after ``moment`` (seconds since the epoch), or
        ``None`` if ``cron`` matches no later date (``"0 0 30 2 *"``, a past year)."""
        from croniter import CroniterBadDateError, croniter

        times = croniter(
            self.cron,
            datetime.fromtimestamp(moment, ZoneInfo(self.timezone)),
            hash_id=_hash_id(self.cron, self.name),
        )
        by_elapsed_time = _fires_every_hour(self.cron, self.name)
        while True:
            try:
                candidate: datetime = times.get_next(datetime)
            except CroniterBadDateError:
                return None
            if by_elapsed_time or not _repeated_local_time(candidate):
                return candidate.timestamp()

    def first_fire_after(self, moment: float) -> float:
        """Like :meth:`next_fire_after`, for a schedule being started: one whose ``cron``
        matches no later date is refused."""
        first = self.next_fire_after(moment)
        if first is None:
            problem = f"cron {self.cron!r} matches no date after {when(moment)}"
            raise ScheduleValidationError(
                f"schedule {self.name!r}: {problem}", schedule=self.name, problems=[problem]
            )
        return first

    def resolve(self, due: float, now: float) -> tuple[FireOutcome, float | None, str | None]:
        """At ``now``, what becomes of due time ``due``, the fire time that follows
        (``None``: no more), and why (for a misfire).

        A due time found within the grace fires on time and is followed by the next
        cron time. One found later was missed, and so were the later times up to the
        first one still within the grace, which follows it.
        """
        if now - due <= self.misfire_grace_seconds:
            return FireOutcome.FIRED, self.next_fire_after(due), None
        following = self.next_fire_after(now - self.misfire_grace_seconds)
        found = (
            f"found {now - due:.0f} s late (misfire_grace_seconds="
            f"{self.misfire_grace_seconds:g}, misfire={self.misfire!r}): no worker fired it "
            "in time"
        )
        until = "any later times" if following is None else f"the times before {when(following)}"
        if self.misfire == "skip":
            return FireOutcome.MISSED, following, f"{found}; no run for it nor {until}"
        return FireOutcome.LATE, following, f"{found}; one run for it and {until}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: timestamps as ISO-8601 UTC, the next fire also in local time."""
        local = None
        if self.next_fire_at is not None:
            local = datetime.fromtimestamp(self.next_fire_at, ZoneInfo(self.timezone)).isoformat()
        return {
            "name": self.name,
            "workflow": self.workflow,
            "cron": self.cron,
            "timezone": self.timezone,
            "params": dict(self.params),
            "partition": dict(self.partition),
            "paused": self.paused,
            "misfire": self.misfire,
            "misfire_grace_seconds": self.misfire_grace_seconds,
            "max_instances": self.max_instances,
            "next_fire_at": when(self.next_fire_at),
            "next_fire_local": local,
            "last_fired_at": when(self.last_fired_at),
            "created_at": when(self.created_at),
        }


def _problems(schedule: Schedule) -> list[str]:
    """Every problem with a schedule's definition, each naming its field."""
    problems = []
    name = schedule.name
    if not isinstance(name, str) or not name or name != name.strip():
        problems.append(f"name must be a non-empty string without surrounding spaces, got {name!r}")
        name = ""
    elif reason := unstorable(name):
        problems.append(f"name {name!r} {reason}")
        name = ""
    if not isinstance(schedule.workflow, str) or not schedule.workflow.strip():
        problems.append(f"workflow must name a workflow, got {schedule.workflow!r}")
    elif reason := unstorable(schedule.workflow):
        problems.append(f"workflow {schedule.workflow!r} {reason}")
    zone = schedule.timezone
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        problems.append(
            f"timezone {zone!r} is not an IANA time zone (such as 'UTC' or 'Europe/London')"
        )
    problems.extend(_cron_problems(schedule.cron, name))
    for field_name in ("params", "partition"):
        value = getattr(schedule, field_name)
        if not isinstance(value, Mapping):
            problems.append(f"{field_name} must be a mapping, got {type(value).__name__}")
            continue
        try:
            encode(value, field_name)
        except JsonValueError as exc:
            problems.append(str(exc))
    if not isinstance(schedule.paused, bool):
        problems.append(f"paused must be True or False, got {schedule.paused!r}")
    if schedule.misfire not in MISFIRE_POLICIES:
        problems.append(
            f"misfire must be one of {', '.join(map(repr, MISFIRE_POLICIES))}, "
            f"got {schedule.misfire!r}"
        )
    grace = schedule.misfire_grace_seconds
    # The comparisons also refuse NaN and infinities, which would otherwise reach the
    # store's integer column as an OverflowError.
    if (
        isinstance(grace, bool)
        or not isinstance(grace, int | float)
        or not (MIN_MISFIRE_GRACE_SECONDS <= grace <= MAX_MISFIRE_GRACE_SECONDS)
    ):
        problems.append(
            f"misfire_grace_seconds must be a number of seconds from "
            f"{MIN_MISFIRE_GRACE_SECONDS:g} (workers look for due schedules about once a "
            f"second) to {MAX_MISFIRE_GRACE_SECONDS:.0f} (about 24 days), got {grace!r}"
        )
    count = schedule.max_instances
    if isinstance(count, bool) or not isinstance(count, int) or not (1 <= count <= MAX_INSTANCES):
        problems.append(
            f"max_instances must be an integer from 1 to {MAX_INSTANCES}, got {count!r}"
        )
    return problems


def _cron_problems(cron: object, name: str) -> list[str]:
    # Only the syntax: whether times remain depends on when it is asked (a stored
    # schedule whose last time has passed must still load); add() asks that.
    if not isinstance(cron, str) or not cron.strip():
        return [f"cron must be a cron expression such as '0 6 * * MON', got {cron!r}"]
    from croniter import CroniterError, croniter

    try:
        croniter.expand(cron, hash_id=_hash_id(cron, name))
    except CroniterError as exc:
        return [f"cron {cron!r} is not a valid cron expression ({exc})"]
    return []


def _fires_every_hour(cron: str, name: str) -> bool:
    """Whether the hour field allows every hour (``*``, ``0-23``, ``@hourly``...)."""
    from croniter import croniter

    fields = croniter.expand(cron, hash_id=_hash_id(cron, name))[0]
    return fields[1] == ["*"]


_HASHED_FIELD = re.compile(r"[Hh](\(\d+-\d+\))?(/\d+)?")
"""A field croniter spreads by a hash: ``H``, ``H(0-29)``, ``H/15``, ``H(0-29)/10``."""


def _hash_id(cron: str, name: str) -> bytes | None:
    """The schedule's name as croniter's ``hash_id`` when ``cron`` has an ``H`` field,
    else ``None``.

    croniter reads an alias given a ``hash_id`` as its hashed form (``@daily`` becomes
    ``H H * * *``), so passing the name always would fire ``@daily`` at a time drawn
    from the name instead of at midnight. ``None`` for an unnamed schedule lets
    croniter report ``H`` as needing a name.
    """
    if not name or not any(_HASHED_FIELD.fullmatch(part) for part in cron.split()):
        return None
    return name.encode()


def _repeated_local_time(moment: datetime) -> bool:
    """Whether ``moment`` is the second occurrence of a local time the clocks repeat."""
    return moment.fold == 1 and moment.replace(fold=0).utcoffset() != moment.utcoffset()


@dataclass(frozen=True, slots=True)
class ScheduleFire:
    """What became of one due time of a schedule (``spine schedule history``)."""

    schedule: str
    due_at: float
    outcome: FireOutcome
    run_id: str | None
    """The run it started (``fired`` and ``late``)."""
    recorded_at: float
    detail: str | None = None
    """Why it was late, missed or skipped."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "schedule": self.schedule,
            "due_at": when(self.due_at),
            "outcome": str(self.outcome),
            "run_id": self.run_id,
            "recorded_at": when(self.recorded_at),
            "detail": self.detail,
        }
