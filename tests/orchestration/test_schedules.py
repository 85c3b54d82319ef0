"""Schedules: their validation, cron times across DST changes, misfires and firing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from spine.core.errors import ScheduleError, ScheduleValidationError, StoreError
from spine.orchestration import Step, Workflow, WorkflowRunner, register_workflow
from spine.orchestration.schedules import FireOutcome, Schedule, ScheduleFire, Scheduler
from spine.store import SqlScheduleStore, open_schedules, open_store
from spine.testing import FakeClock

NOW = 1_736_143_170.0  # 2025-01-06 05:59:30 UTC, a Monday
LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")


def at(zone: ZoneInfo, *fields: int, fold: int = 0) -> float:
    return datetime(*fields, tzinfo=zone, fold=fold).timestamp()


def fire_times(schedule: Schedule, start: float, count: int) -> list[str]:
    """The next ``count`` fire times after ``start``, as local ISO text."""
    zone = ZoneInfo(schedule.timezone)
    times, moment = [], start
    for _ in range(count):
        moment = schedule.next_fire_after(moment)
        times.append(datetime.fromtimestamp(moment, zone).isoformat())
    return times


# -- the definition ----------------------------------------------------------------------


def test_every_problem_is_reported_at_once_naming_the_schedule_and_fields() -> None:
    with pytest.raises(ScheduleValidationError) as info:
        Schedule(
            "nightly",
            "etl",
            "61 * * * *",
            timezone="Mars/Olympus",
            misfire="later",
            max_instances=0,
            misfire_grace_seconds=0,
            params={"when": datetime.now(UTC)},
        )
    error = info.value
    assert isinstance(error, ValueError)
    assert isinstance(error, ScheduleError)
    assert error.schedule == "nightly"
    assert str(error).startswith("schedule 'nightly': ")
    assert len(error.problems) == 6
    for field in ("cron '61 * * * *'", "timezone 'Mars/Olympus'", "misfire", "max_instances",
                  "misfire_grace_seconds", "params['when']"):  # fmt: skip
        assert any(p.startswith(field) for p in error.problems), field


@pytest.mark.parametrize(
    ("cron", "message"),
    [("", "cron must be"), ("* * *", "not a valid cron"), ("0 6 * * FUNDAY", "not a valid cron"),
     ("H 6 * * * * * *", "not a valid cron")],
)  # fmt: skip
def test_a_bad_cron_expression_is_refused(cron: str, message: str) -> None:
    with pytest.raises(ScheduleValidationError, match=message):
        Schedule("s", "etl", cron)


@pytest.mark.parametrize(
    ("field", "value"),
    [("misfire_grace_seconds", float("inf")), ("misfire_grace_seconds", float("nan")),
     ("misfire_grace_seconds", 1e30), ("misfire_grace_seconds", 2_147_484),
     ("max_instances", 99999999999999999999), ("max_instances", 2**31)],
)  # fmt: skip
def test_grace_and_max_instances_are_bounded_by_what_the_store_holds(
    field: str, value: float
) -> None:
    # They used to reach the store's integer columns as an OverflowError.
    with pytest.raises(ScheduleValidationError) as info:
        Schedule("s", "etl", "0 6 * * *", **{field: value})
    [problem] = info.value.problems
    assert problem.startswith(f"{field} must be ")
    assert problem.endswith(f"got {value!r}")
    assert str(info.value).startswith("schedule 's': ")


def test_the_largest_grace_and_max_instances_are_accepted() -> None:
    largest = Schedule(
        "s", "etl", "0 6 * * *", misfire_grace_seconds=2_147_483, max_instances=2**31 - 1
    )
    assert (largest.misfire_grace_seconds, largest.max_instances) == (2_147_483.0, 2**31 - 1)


def test_a_cron_expression_without_a_next_date_cannot_be_started() -> None:
    never = Schedule("s", "etl", "0 0 30 2 *")  # it loads: only starting it needs a date
    assert never.next_fire_after(NOW) is None
    with pytest.raises(ScheduleValidationError, match="matches no date after"):
        never.first_fire_after(NOW)


def test_defaults_and_frozen_params() -> None:
    schedule = Schedule("s", "etl", "0 6 * * *", params={"a": 1})
    assert (schedule.timezone, schedule.misfire, schedule.max_instances) == ("UTC", "run_once", 1)
    assert schedule.misfire_grace_seconds == 60.0
    with pytest.raises(TypeError):
        schedule.params["a"] = 2  # type: ignore[index]


# -- cron times, time zones and DST ----------------------------------------------------


def test_a_daily_time_stays_at_local_time_across_both_changes() -> None:
    daily = Schedule("s", "etl", "0 6 * * *", timezone="Europe/London")
    spring = fire_times(daily, at(LONDON, 2025, 3, 29, 12), 2)
    autumn = fire_times(daily, at(LONDON, 2025, 10, 25, 12), 2)
    assert spring == ["2025-03-30T06:00:00+01:00", "2025-03-31T06:00:00+01:00"]
    assert autumn == ["2025-10-26T06:00:00+00:00", "2025-10-27T06:00:00+00:00"]


def test_a_time_the_clocks_skip_fires_once_as_they_change() -> None:
    london = Schedule("s", "etl", "30 1 * * *", timezone="Europe/London")
    assert fire_times(london, at(LONDON, 2025, 3, 29, 12), 2) == [
        "2025-03-30T02:00:00+01:00",  # 01:30 does not exist that night
        "2025-03-31T01:30:00+01:00",
    ]
    new_york = Schedule("s", "etl", "30 2 * * *", timezone="America/New_York")
    assert fire_times(new_york, at(NEW_YORK, 2025, 3, 8, 12), 2) == [
        "2025-03-09T03:00:00-04:00",
        "2025-03-10T02:30:00-04:00",
    ]


def test_a_time_the_clocks_repeat_fires_once_at_its_first_occurrence() -> None:
    london = Schedule("s", "etl", "30 1 * * *", timezone="Europe/London")
    assert fire_times(london, at(LONDON, 2025, 10, 25, 12), 2) == [
        "2025-10-26T01:30:00+01:00",
        "2025-10-27T01:30:00+00:00",
    ]
    # Found again from inside the repeated hour, it is not fired a second time.
    second_pass = at(LONDON, 2025, 10, 26, 1, 10, fold=1)
    assert fire_times(london, second_pass, 1) == ["2025-10-27T01:30:00+00:00"]


def test_a_schedule_firing_every_hour_keeps_to_elapsed_time_in_the_repeated_hour() -> None:
    hourly = Schedule("s", "etl", "0 * * * *", timezone="Europe/London")
    assert fire_times(hourly, at(LONDON, 2025, 10, 26, 0, 30), 3) == [
        "2025-10-26T01:00:00+01:00",
        "2025-10-26T01:00:00+00:00",
        "2025-10-26T02:00:00+00:00",
    ]
    half_hourly = Schedule("s", "etl", "*/30 * * * *", timezone="Europe/London")
    assert len(fire_times(half_hourly, at(LONDON, 2025, 10, 26, 0, 45), 5)) == 5
    assert fire_times(half_hourly, at(LONDON, 2025, 10, 26, 0, 45), 5)[-1] == (
        "2025-10-26T02:00:00+00:00"  # 01:00 and 01:30, each twice
    )


@pytest.mark.parametrize(
    ("alias", "first"),
    [("@daily", "2025-01-07T00:00:00+00:00"), ("@midnight", "2025-01-07T00:00:00+00:00"),
     ("@hourly", "2025-01-06T06:00:00+00:00"), ("@weekly", "2025-01-12T00:00:00+00:00"),
     ("@monthly", "2025-02-01T00:00:00+00:00"), ("@yearly", "2026-01-01T00:00:00+00:00"),
     ("@annually", "2026-01-01T00:00:00+00:00")],
)  # fmt: skip
@pytest.mark.parametrize("name", ["nightly", "report"])
def test_an_alias_fires_at_its_cron_time_whatever_the_name(
    alias: str, first: str, name: str
) -> None:
    # The name used to reach croniter as a hash id, which turns @daily into H H * * *.
    assert fire_times(Schedule(name, "etl", alias), NOW, 1) == [first]


def test_h_spreads_a_field_by_the_name_and_only_that_field() -> None:
    nightly = fire_times(Schedule("nightly", "etl", "H 6 * * *"), NOW, 2)
    report = fire_times(Schedule("report", "etl", "H 6 * * *"), NOW, 2)
    assert nightly != report  # each name its own minute past six...
    for times in (nightly, report):
        assert {t[11:13] for t in times} == {"06"}  # ...of the hour the expression fixes
        assert times[0][14:] == times[1][14:]  # the same minute every day
    quarterly = Schedule("nightly", "etl", "H/15 * * * *")
    first = quarterly.next_fire_after(NOW)
    assert first is not None
    assert quarterly.next_fire_after(first) == first + 900


def test_a_sixth_field_counts_seconds() -> None:
    every_second = Schedule("s", "etl", "* * * * * *")
    assert every_second.next_fire_after(1_700_000_000.25) == 1_700_000_001.0
    assert Schedule("s", "etl", "* * * * * */10").next_fire_after(1_700_000_001) == 1_700_000_010


# -- misfires ---------------------------------------------------------------------------


def test_a_due_time_found_within_the_grace_fires_on_time() -> None:
    daily = Schedule("s", "etl", "0 6 * * *", misfire_grace_seconds=30)
    due = at(UTC, 2025, 1, 6, 6)
    assert daily.resolve(due, due + 30) == (FireOutcome.FIRED, at(UTC, 2025, 1, 7, 6), None)


@pytest.mark.parametrize(("misfire", "outcome"), [("run_once", "late"), ("skip", "missed")])
def test_times_missed_past_the_grace_collapse_into_one_decision(misfire: str, outcome: str) -> None:
    minutely = Schedule("s", "etl", "* * * * *", misfire=misfire, misfire_grace_seconds=90)
    due = at(UTC, 2025, 1, 6, 6)
    now = due + 3600 + 5  # 07:00:05
    decided, following, detail = minutely.resolve(due, now)
    assert decided == outcome
    # Missed: 06:00 to 06:58; 06:59 and 07:00 are still within the grace.
    assert following == at(UTC, 2025, 1, 6, 6, 59)
    assert detail is not None
    assert f"misfire={misfire!r}" in detail
    assert "3605 s late" in detail


# -- firing -------------------------------------------------------------------------------


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=NOW)


@pytest.fixture
def store(sqlite_url: str) -> Iterator[SqlScheduleStore]:
    with open_schedules(sqlite_url) as schedules:
        yield schedules


@pytest.fixture
def runner(sqlite_url: str, clock: FakeClock) -> Iterator[WorkflowRunner]:
    with WorkflowRunner(database_url=sqlite_url, clock=clock) as made:
        yield made


def _report() -> Workflow:
    return register_workflow(
        Workflow(
            "sched.report",
            [Step.lambda_("count", lambda ctx, cfg: {"day": ctx.get_param("day")})],
            defaults={"day": "today", "region": "eu"},
        )
    )


def _runs(store: SqlScheduleStore, schedule: str) -> list[str]:
    """Ids of the runs of ``schedule``."""
    with open_store(store.database.url) as history:
        return [r.run_id for r in history.list_runs(limit=1000) if r.schedule_id == schedule]


def test_a_due_time_stores_one_pending_run_that_workers_execute(
    runner: WorkflowRunner, store: SqlScheduleStore, clock: FakeClock
) -> None:
    _report()
    store.add(Schedule("daily", "sched.report", "0 6 * * *", params={"day": "monday"}),
              now=clock.time())  # fmt: skip
    scheduler = Scheduler(runner, store)
    assert scheduler.fire_due() == []  # 05:59:30: not due yet

    clock.advance(31)
    [fire] = scheduler.fire_due()
    assert (fire.schedule, fire.outcome, fire.due_at) == ("daily", "fired", at(UTC, 2025, 1, 6, 6))
    assert scheduler.fire_due() == []  # that time has fired
    assert runner.store is not None
    run = runner.store.load_run(str(fire.run_id)).run
    assert (run.status, run.triggered_by, run.schedule_id) == ("PENDING", "schedule", "daily")
    assert run.params == {"day": "monday", "region": "eu"}  # over the workflow's defaults
    [result] = runner.run_pending()
    assert result.run_id == fire.run_id
    assert result.context.get_output("count") == {"day": "monday"}
    stored = store.get("daily")
    assert stored.last_fired_at == at(UTC, 2025, 1, 6, 6)
    assert stored.next_fire_at == at(UTC, 2025, 1, 7, 6)


def test_each_due_time_within_the_grace_gets_its_own_run(
    runner: WorkflowRunner, store: SqlScheduleStore, clock: FakeClock
) -> None:
    _report()
    store.add(Schedule("often", "sched.report", "* * * * * */10", max_instances=10),
              now=clock.time())  # fmt: skip
    clock.advance(45)  # 06:00:15: 05:59:40, :50 and 06:00:00, :10 are due
    fires = Scheduler(runner, store).fire_due()
    assert [f.outcome for f in fires] == ["fired"] * 4
    assert [f.due_at - fires[0].due_at for f in fires] == [0, 10, 20, 30]
    assert len(set(_runs(store, "often"))) == 4


@pytest.mark.parametrize("misfire", ["run_once", "skip"])
def test_times_missed_while_no_worker_ran(
    runner: WorkflowRunner, store: SqlScheduleStore, clock: FakeClock, misfire: str
) -> None:
    _report()
    store.add(Schedule("daily", "sched.report", "0 6 * * *", misfire=misfire), now=clock.time())
    clock.advance(3 * 86400)  # Thursday 05:59:30: Monday to Wednesday were missed

    fires = Scheduler(runner, store).fire_due()

    [fire] = fires
    assert fire.due_at == at(UTC, 2025, 1, 6, 6)
    assert store.get("daily").next_fire_at == at(UTC, 2025, 1, 9, 6)
    if misfire == "run_once":
        assert fire.outcome == "late"
        assert _runs(store, "daily") == [fire.run_id]
    else:
        assert (fire.outcome, fire.run_id) == ("missed", None)
        assert _runs(store, "daily") == []
    assert store.history("daily") == fires


def test_a_due_time_is_skipped_while_max_instances_runs_are_live(
    runner: WorkflowRunner, store: SqlScheduleStore, clock: FakeClock
) -> None:
    _report()
    store.add(Schedule("minutely", "sched.report", "* * * * *"), now=clock.time())
    scheduler = Scheduler(runner, store)
    clock.advance(30)
    [first] = scheduler.fire_due()
    clock.advance(60)
    [skipped] = scheduler.fire_due()  # the first run is still pending
    assert (skipped.outcome, skipped.run_id) == ("skipped", None)
    assert skipped.detail is not None
    assert "max_instances=1" in skipped.detail
    assert store.get("minutely").last_fired_at == first.due_at

    runner.run_pending()
    clock.advance(60)
    [third] = scheduler.fire_due()
    assert third.outcome == "fired"
    assert [f.outcome for f in store.history("minutely")] == ["fired", "skipped", "fired"]


def test_a_schedule_of_an_unknown_workflow_is_left_for_a_worker_that_knows_it(
    runner: WorkflowRunner,
    store: SqlScheduleStore,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    added = store.add(Schedule("daily", "sched.report", "0 6 * * *"), now=clock.time())
    clock.advance(60)
    assert Scheduler(runner, store).fire_due() == []
    assert store.get("daily").next_fire_at == added.next_fire_at
    assert "not registered here" in caplog.text

    _report()
    [fire] = Scheduler(runner, store).fire_due()
    assert fire.outcome == "fired"


def test_a_schedule_whose_last_time_has_fired_is_never_due_again(
    runner: WorkflowRunner, store: SqlScheduleStore, clock: FakeClock
) -> None:
    _report()
    store.add(Schedule("once", "sched.report", "0 6 6 1 * 0 2025"), now=clock.time())  # a year
    clock.advance(60)
    [fire] = Scheduler(runner, store).fire_due()
    assert fire.outcome == "fired"
    assert store.get("once").next_fire_at is None
    assert store.due(clock.time() + 10 * 366 * 86400) == []


def test_a_paused_schedule_fires_nothing_and_resumes_with_its_next_time(
    runner: WorkflowRunner, store: SqlScheduleStore, clock: FakeClock
) -> None:
    _report()
    store.add(Schedule("daily", "sched.report", "0 6 * * *"), now=clock.time())
    assert store.pause("daily").next_fire_at is None
    clock.advance(2 * 86400)
    scheduler = Scheduler(runner, store)
    assert scheduler.fire_due() == []
    resumed = store.resume("daily", now=clock.time())
    assert resumed.next_fire_at == at(UTC, 2025, 1, 8, 6)  # the days paused through stay unrun
    clock.advance(60)
    assert [f.due_at for f in scheduler.fire_due()] == [at(UTC, 2025, 1, 8, 6)]


def test_two_schedulers_at_the_same_time_fire_once(
    runner: WorkflowRunner, sqlite_url: str, store: SqlScheduleStore, clock: FakeClock
) -> None:
    _report()
    store.add(Schedule("daily", "sched.report", "0 6 * * *"), now=clock.time())
    clock.advance(60)
    with open_schedules(sqlite_url) as other:
        first = Scheduler(runner, store).fire_due()
        second = Scheduler(runner, other).fire_due(now=clock.time())
    assert len(first) == 1
    assert second == []
    assert len(_runs(store, "daily")) == 1


def test_a_schedule_whose_run_cannot_be_made_does_not_stop_the_others(
    runner: WorkflowRunner,
    store: SqlScheduleStore,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The defaults cannot be stored as JSON: the store refuses the run of every due time.
    register_workflow(Workflow("sched.bad", [Step.lambda_("a", lambda c, f: None)],
                               defaults={"since": {1, 2}}))  # fmt: skip
    _report()
    store.add(Schedule("a-bad", "sched.bad", "0 * * * *"), now=clock.time())  # due first
    store.add(Schedule("b-good", "sched.report", "0 * * * *"), now=clock.time())
    scheduler = Scheduler(runner, store)
    clock.advance(30)  # 06:00:00

    fires = scheduler.fire_due()

    assert [(f.schedule, f.outcome) for f in fires] == [("a-bad", "missed"), ("b-good", "fired")]
    [missed] = store.history("a-bad")
    assert missed.run_id is None
    assert missed.detail is not None
    assert missed.detail.startswith("no run: it could not be made: WorkflowValidationError: ")
    assert "params['since'] cannot be stored as JSON: it is a set" in missed.detail
    assert "schedule 'a-bad'" in caplog.text
    assert "cannot be stored as JSON" in caplog.text
    # The broken schedule went on with its next time, and both fire again at 07:00.
    assert store.get("a-bad").next_fire_at == at(UTC, 2025, 1, 6, 7)
    assert _runs(store, "a-bad") == []
    assert scheduler.fire_due() == []
    runner.run_pending()
    clock.advance(3600)
    assert [(f.schedule, f.outcome) for f in scheduler.fire_due()] == [
        ("a-bad", "missed"), ("b-good", "fired"),
    ]  # fmt: skip


def test_a_run_that_cannot_be_built_is_recorded_as_missed(
    runner: WorkflowRunner,
    store: SqlScheduleStore,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _report()
    store.add(Schedule("daily", "sched.report", "0 6 * * *", misfire="run_once"),
              now=clock.time())  # fmt: skip
    scheduler = Scheduler(runner, store)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("no plan for it")

    monkeypatch.setattr(runner.queue, "pending_record", broken)
    clock.advance(2 * 86400)  # found late: 06:00 on Monday and Tuesday were missed

    [fire] = scheduler.fire_due()

    assert (fire.outcome, fire.run_id, fire.due_at) == ("missed", None, at(UTC, 2025, 1, 6, 6))
    assert fire.detail is not None
    assert fire.detail.startswith("no run: it could not be made: RuntimeError: no plan for it")
    assert "past the misfire grace" in fire.detail
    assert store.get("daily").next_fire_at == at(UTC, 2025, 1, 8, 6)


class _FlakyStore:
    """A schedule store whose firing of one schedule fails, as a database might."""

    def __init__(self, store: SqlScheduleStore, failing: str) -> None:
        self.store, self.failing, self.calls = store, failing, 0

    def due(self, now: float) -> list[Schedule]:
        return self.store.due(now)

    def fire(self, schedule: Schedule, *args: Any) -> ScheduleFire | None:
        if schedule.name == self.failing:
            self.calls += 1
            raise StoreError("database is locked")
        return self.store.fire(schedule, *args)


def test_a_schedule_the_store_cannot_fire_is_tried_again_and_logged_once(
    runner: WorkflowRunner,
    store: SqlScheduleStore,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _report()
    store.add(Schedule("a-stuck", "sched.report", "0 6 * * *"), now=clock.time())
    store.add(Schedule("b-good", "sched.report", "0 6 * * *"), now=clock.time())
    flaky = _FlakyStore(store, "a-stuck")
    scheduler = Scheduler(runner, flaky)
    clock.advance(30)

    assert [f.schedule for f in scheduler.fire_due()] == ["b-good"]
    assert scheduler.fire_due() == []
    assert flaky.calls == 2  # tried at each look: the database may come back
    assert caplog.text.count("schedule 'a-stuck': could not fire its due time") == 1
    assert "StoreError: database is locked" in caplog.text
    assert store.get("a-stuck").next_fire_at == at(UTC, 2025, 1, 6, 6)  # not advanced

    flaky.failing = ""
    [fire] = scheduler.fire_due()
    assert (fire.schedule, fire.outcome) == ("a-stuck", "fired")
