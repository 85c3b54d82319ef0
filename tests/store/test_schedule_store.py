"""``SqlScheduleStore`` on SQLite and PostgreSQL: managing schedules, and firing a due time
atomically and exactly once."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import inspect, select

from spine.core.errors import ScheduleError, StoreError
from spine.core.records import RunRecord
from spine.orchestration.schedules import FireOutcome, Schedule, ScheduleFire
from spine.store import SqlScheduleStore, SqlStore, open_schedules, open_store
from spine.store.schema import SCHEMA_VERSION, schedule_fires, schedules, schema_version

from .helpers import raw_engine

NOW = 1_736_143_170.0  # 2025-01-06 05:59:30 UTC
SIX = 1_736_143_200.0  # 06:00


@pytest.fixture
def history(database_url: str) -> Iterator[SqlStore]:
    with open_store(database_url) as opened:
        yield opened


@pytest.fixture
def store(history: SqlStore) -> SqlScheduleStore:
    """Schedules sharing ``history``'s database, as a worker's do."""
    return SqlScheduleStore(history)


def _run(run_id: str, schedule: str = "daily") -> RunRecord:
    return RunRecord(
        run_id=run_id,
        workflow_name="etl",
        status="PENDING",
        started_at=SIX,
        params={"day": 1},
        partition={},
        triggered_by="schedule",
        schedule_id=schedule,
    )


def _fire(
    store: SqlScheduleStore, schedule: Schedule, run_id: str | None, due: float = SIX
) -> ScheduleFire | None:
    outcome = FireOutcome.FIRED if run_id else FireOutcome.MISSED
    planned = ScheduleFire(schedule.name, due, outcome, run_id, due + 1)
    run = _run(run_id, schedule.name) if run_id else None
    return store.fire(schedule, planned, due + 86400, run)


def test_a_schedule_round_trips_with_its_first_fire_time(store: SqlScheduleStore) -> None:
    definition = Schedule("daily", "etl", "0 6 * * MON-FRI", timezone="Europe/London",
                          params={"tables": ["a", "b"]}, partition={"region": "eu"},
                          misfire="skip", misfire_grace_seconds=300, max_instances=2)  # fmt: skip
    added = store.add(definition, now=NOW)
    assert added.created_at == NOW
    assert added.next_fire_at == SIX  # 06:00 in London is 06:00 UTC in January
    assert store.get("daily") == added
    assert store.list_schedules() == [added]
    assert store.due(SIX - 1) == []
    assert store.due(SIX) == [added]


def test_the_largest_grace_and_max_instances_round_trip(store: SqlScheduleStore) -> None:
    # The bounds Schedule enforces are what the 32-bit columns hold (on PostgreSQL too).
    largest = Schedule("big", "etl", "0 6 * * *", misfire_grace_seconds=2_147_483,
                       max_instances=2**31 - 1)  # fmt: skip
    added = store.add(largest, now=NOW)
    assert store.get("big") == added
    assert (added.misfire_grace_seconds, added.max_instances) == (2_147_483.0, 2**31 - 1)


def test_schedules_are_listed_by_name_and_a_paused_one_is_never_due(
    store: SqlScheduleStore,
) -> None:
    store.add(Schedule("b", "etl", "* * * * *"), now=NOW)
    store.add(Schedule("a", "etl", "* * * * *", paused=True), now=NOW)
    assert [s.name for s in store.list_schedules()] == ["a", "b"]
    assert store.get("a").next_fire_at is None
    assert [s.name for s in store.due(NOW + 3600)] == ["b"]
    assert store.resume("a", now=NOW).next_fire_at == SIX
    assert store.pause("b").paused
    assert [s.name for s in store.due(NOW + 3600)] == ["a"]


def test_a_stored_schedule_that_no_longer_loads_does_not_stop_the_others(
    store: SqlScheduleStore, caplog: pytest.LogCaptureFixture
) -> None:
    store.add(Schedule("good", "etl", "0 6 * * *"), now=NOW)
    store.add(Schedule("gone", "etl", "0 6 * * *"), now=NOW)
    with store.database.engine.begin() as conn:  # its time zone left the tz database, say
        conn.execute(
            schedules.update().where(schedules.c.name == "gone").values(timezone="Atlantis/Capital")
        )
    assert [s.name for s in store.due(SIX)] == ["good"]
    assert "schedule 'gone' cannot fire" in caplog.text


def test_a_taken_or_unknown_name_is_refused(store: SqlScheduleStore) -> None:
    store.add(Schedule("daily", "etl", "0 6 * * *"), now=NOW)
    with pytest.raises(ScheduleError, match="already exists"):
        store.add(Schedule("daily", "other", "0 7 * * *"), now=NOW)
    for action in (store.get, store.pause, store.resume, store.delete, store.history):
        with pytest.raises(ScheduleError, match="no schedule 'weekly'"):
            action("weekly")


def test_firing_stores_the_run_and_what_became_of_the_due_time(
    store: SqlScheduleStore, history: SqlStore
) -> None:
    schedule = store.add(Schedule("daily", "etl", "0 6 * * *"), now=NOW)
    fire = _fire(store, schedule, "run-1")
    assert fire == ScheduleFire("daily", SIX, FireOutcome.FIRED, "run-1", SIX + 1)
    run = history.load_run("run-1").run
    assert (run.status, run.triggered_by, run.schedule_id) == ("PENDING", "schedule", "daily")
    after = store.get("daily")
    assert (after.last_fired_at, after.next_fire_at) == (SIX, SIX + 86400)
    assert store.history("daily") == [fire]


def test_a_due_time_fires_once_however_many_workers_try(database_url: str) -> None:
    stores = [open_schedules(database_url) for _ in range(4)]
    try:
        schedule = stores[0].add(Schedule("daily", "etl", "0 6 * * *"), now=NOW)
        start = threading.Barrier(len(stores))
        fires: list[ScheduleFire | None] = [None] * len(stores)

        def attempt(index: int) -> None:
            start.wait()
            fires[index] = _fire(stores[index], schedule, f"run-{index}")

        threads = [threading.Thread(target=attempt, args=(i,)) for i in range(len(stores))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        [won] = [f for f in fires if f is not None]
        with open_store(database_url) as history:
            runs = history.list_runs(limit=10)
        assert [(r.run_id, r.schedule_id) for r in runs] == [(won.run_id, "daily")]
        assert stores[0].history("daily") == [won]
    finally:
        for opened in stores:
            opened.close()


def test_a_schedule_moved_on_paused_or_redefined_is_not_fired(
    store: SqlScheduleStore, history: SqlStore
) -> None:
    schedule = store.add(Schedule("daily", "etl", "0 6 * * *"), now=NOW)
    assert _fire(store, schedule, None) is not None
    assert _fire(store, schedule, "late-twin") is None  # that due time has moved on

    paused = store.add(Schedule("paused", "etl", "0 6 * * *"), now=NOW)
    store.pause("paused")
    assert _fire(store, paused, "run-p") is None

    store.delete("daily")
    store.add(Schedule("daily", "etl", "0 6 * * *"), now=NOW + 1)
    assert _fire(store, schedule, "stale") is None  # the deleted definition's claim
    assert history.list_runs(limit=10) == []


def test_max_instances_live_runs_skip_a_due_time(
    store: SqlScheduleStore, history: SqlStore
) -> None:
    schedule = store.add(Schedule("daily", "etl", "0 6 * * *", max_instances=1), now=NOW)
    _fire(store, schedule, "run-1")
    skipped = _fire(store, schedule, "run-2", due=SIX + 86400)
    assert skipped is not None
    assert (skipped.outcome, skipped.run_id) == (FireOutcome.SKIPPED, None)
    assert skipped.detail == "1 runs of the schedule were pending, running or waiting " \
        "(max_instances=1)"  # fmt: skip
    assert [r.run_id for r in history.list_runs(limit=10)] == ["run-1"]
    assert store.get("daily").last_fired_at == SIX

    history.cancel("run-1", SIX + 86400)  # an ended run no longer counts
    third = _fire(store, schedule, "run-3", due=SIX + 2 * 86400)
    assert third is not None
    assert third.outcome == FireOutcome.FIRED


def test_a_firing_that_fails_leaves_the_schedule_where_it_was(
    store: SqlScheduleStore, history: SqlStore
) -> None:
    schedule = store.add(Schedule("daily", "etl", "0 6 * * *", max_instances=5), now=NOW)
    history.create_run(_run("taken", "elsewhere"))
    with pytest.raises(StoreError, match="fire schedule 'daily'"):
        _fire(store, schedule, "taken")
    assert store.get("daily") == schedule
    assert store.history("daily") == []


def test_deleting_a_schedule_keeps_its_runs(store: SqlScheduleStore, history: SqlStore) -> None:
    schedule = store.add(Schedule("daily", "etl", "0 6 * * *"), now=NOW)
    _fire(store, schedule, "run-1")
    store.delete("daily")
    assert store.list_schedules() == []
    assert history.load_run("run-1").run.schedule_id == "daily"
    with raw_engine(store.database.url) as engine, engine.connect() as conn:
        assert conn.execute(select(schedule_fires)).all() == []


def test_a_version_4_database_gains_the_schedule_tables(database_url: str) -> None:
    open_store(database_url).close()
    with raw_engine(database_url) as engine, engine.begin() as conn:
        conn.exec_driver_sql("DROP INDEX ix_core_workflow_runs_schedule")
        schedule_fires.drop(conn)
        schedules.drop(conn)
        conn.execute(schema_version.update().values(version=4))

    with open_schedules(database_url) as store:
        store.add(Schedule("daily", "etl", "0 6 * * *"), now=NOW)
        inspector = inspect(store.database.engine)
        indexes = {i["name"] for i in inspector.get_indexes("core_workflow_runs")}
        assert {"core_schedules", "core_schedule_fires"} <= set(inspector.get_table_names())
    assert "ix_core_workflow_runs_schedule" in indexes
    with raw_engine(database_url) as engine, engine.connect() as conn:
        assert conn.execute(select(schema_version.c.version)).scalar() == SCHEMA_VERSION


def test_prune_removes_due_times_recorded_before_the_cutoff(store: SqlScheduleStore) -> None:
    schedule = store.add(Schedule("daily", "etl", "0 6 * * *"), now=NOW)
    first = _fire(store, schedule, None)
    schedule = store.get("daily")
    second = _fire(store, schedule, None, due=SIX + 86400)
    assert first is not None
    assert second is not None

    store.prune(SIX + 86400)  # between the two due times' records

    assert store.history("daily") == [second]
