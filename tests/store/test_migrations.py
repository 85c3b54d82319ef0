"""Schema versions: reopening keeps rows, newer databases are refused, migrations go forward."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import BigInteger, Connection, inspect, select, update

from spine.core.errors import StoreError
from spine.orchestration import (
    Step,
    Workflow,
    WorkflowContext,
    WorkflowRunner,
    WorkflowStatus,
    register_workflow,
)
from spine.store import migrations, open_store
from spine.store.schema import (
    SCHEMA_VERSION,
    alert_deliveries,
    metadata,
    schedule_fires,
    schedules,
    schema_version,
    signals,
)

from .helpers import all_rows, raw_engine, step_rows, store_of

MakeRunner = Callable[..., WorkflowRunner]


def _workflow() -> Workflow:
    def double(ctx: WorkflowContext, config: dict[str, Any]) -> dict[str, Any]:
        return {"value": ctx.get_output("start", "value") * 2}

    return Workflow(
        "store.migrating",
        [Step.lambda_("start", lambda ctx, config: {"value": 21}), Step.lambda_("double", double)],
    )


def _versions(database_url: str) -> list[int]:
    with raw_engine(database_url) as engine, engine.connect() as conn:
        return list(conn.execute(select(schema_version.c.version)).scalars())


def _set_version(database_url: str, version: int) -> None:
    with raw_engine(database_url) as engine, engine.begin() as conn:
        conn.execute(update(schema_version).values(version=version))


def _snapshot(database_url: str) -> dict[str, list[tuple[Any, ...]]]:
    with raw_engine(database_url) as engine:
        return all_rows(engine)


def test_reopening_a_database_keeps_its_runs(database_url: str, make_runner: MakeRunner) -> None:
    first = make_runner(database_url=database_url)
    result = first.execute(_workflow())
    assert result.status == WorkflowStatus.COMPLETED
    first.close()
    before = _snapshot(database_url)

    second = make_runner(database_url=database_url)
    stored = store_of(second).load_run(result.run_id)

    assert stored.run.status == "COMPLETED"
    assert stored.run.outputs == {"start": {"value": 21}, "double": {"value": 42}}
    assert [(s.step_name, s.output) for s in stored.steps] == [
        ("start", {"value": 21}),
        ("double", {"value": 42}),
    ]
    resumed = second.resume(result.run_id, _workflow())
    assert resumed.status == WorkflowStatus.COMPLETED
    assert resumed.outputs == result.outputs
    assert _snapshot(database_url) == before
    # The reopened database takes new runs beside the old ones.
    again = second.execute(_workflow())
    assert len(step_rows(store_of(second).engine, again.run_id)) == 2
    assert len(_snapshot(database_url)["runs"]) == 2
    assert _versions(database_url) == [SCHEMA_VERSION]


def test_reopening_does_not_add_version_rows(database_url: str) -> None:
    for _ in range(3):
        open_store(database_url).close()
    assert _versions(database_url) == [SCHEMA_VERSION]


def test_a_database_newer_than_the_package_is_refused_untouched(
    database_url: str, make_runner: MakeRunner
) -> None:
    runner = make_runner(database_url=database_url)
    result = runner.execute(_workflow())
    runner.close()
    newer = SCHEMA_VERSION + 1
    _set_version(database_url, newer)
    before = _snapshot(database_url)

    with pytest.raises(StoreError, match="newer") as info:
        make_runner(database_url=database_url)

    message = str(info.value)
    assert str(newer) in message
    assert "upgrade" in message
    assert _snapshot(database_url) == before
    assert _versions(database_url) == [newer]
    # Back at the version this package knows, the run is there as it was.
    _set_version(database_url, SCHEMA_VERSION)
    reopened = make_runner(database_url=database_url)
    assert store_of(reopened).load_run(result.run_id).run.status == "COMPLETED"


def test_a_database_at_version_zero_is_migrated_to_the_current_schema(database_url: str) -> None:
    """A version table that says 0 (spine created it, nothing else yet) is brought forward."""
    with raw_engine(database_url) as engine, engine.begin() as conn:
        metadata.create_all(conn, tables=[schema_version])
        conn.execute(schema_version.insert().values(version=0))

    store = open_store(database_url)
    try:
        tables = set(inspect(store.engine).get_table_names())
    finally:
        store.close()

    assert tables == set(metadata.tables)
    assert _versions(database_url) == [SCHEMA_VERSION]


def _add_note_column(conn: Connection) -> None:
    conn.exec_driver_sql("ALTER TABLE core_workflow_runs ADD COLUMN note TEXT")
    conn.exec_driver_sql("UPDATE core_workflow_runs SET note = 'migrated'")


def test_a_later_version_migrates_forward_keeping_rows(
    database_url: str, make_runner: MakeRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = make_runner(database_url=database_url)
    result = runner.execute(_workflow())
    runner.close()
    before = _snapshot(database_url)

    monkeypatch.setattr(migrations, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    monkeypatch.setitem(migrations.MIGRATIONS, SCHEMA_VERSION + 1, _add_note_column)
    open_store(database_url).close()

    assert _versions(database_url) == [SCHEMA_VERSION + 1]
    with raw_engine(database_url) as engine, engine.connect() as conn:
        notes = conn.exec_driver_sql("SELECT run_id, note FROM core_workflow_runs").all()
    assert [tuple(n) for n in notes] == [(result.run_id, "migrated")]
    assert _snapshot(database_url) == before  # the columns spine reads are as they were
    # Opening again at that version runs no migration a second time.
    monkeypatch.setitem(migrations.MIGRATIONS, SCHEMA_VERSION + 1, _never)
    open_store(database_url).close()


def _never(conn: Connection) -> None:
    raise AssertionError("a migration ran again on a database already at its version")


def _broken(conn: Connection) -> None:
    conn.exec_driver_sql("ALTER TABLE core_workflow_runs ADD COLUMN note TEXT")
    conn.exec_driver_sql("UPDATE no_such_table SET x = 1")


def test_a_failing_migration_leaves_the_database_as_it_was(
    database_url: str, make_runner: MakeRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = make_runner(database_url=database_url)
    result = runner.execute(_workflow())
    runner.close()
    before = _snapshot(database_url)

    monkeypatch.setattr(migrations, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    monkeypatch.setitem(migrations.MIGRATIONS, SCHEMA_VERSION + 1, _broken)
    with pytest.raises(StoreError, match="schema"):
        open_store(database_url)
    monkeypatch.undo()

    assert _versions(database_url) == [SCHEMA_VERSION]
    assert _snapshot(database_url) == before
    store = open_store(database_url)
    try:
        columns = {c["name"] for c in inspect(store.engine).get_columns("core_workflow_runs")}
        assert store.load_run(result.run_id).run.status == "COMPLETED"
    finally:
        store.close()
    assert "note" not in columns


def test_a_version_1_database_is_migrated_forward(database_url: str) -> None:
    """Version 1 had no ``source`` column and no listing indexes, nor anything later
    versions added (so no migration may create an index on a column not there yet)."""
    store = open_store(database_url)
    store.close()
    later_indexes = ("ix_core_workflow_runs_started", "ix_core_workflow_runs_status_started",
                     "ix_core_workflow_runs_schedule", "ux_core_workflow_runs_idempotency",
                     "ix_core_workflow_runs_claim")  # fmt: skip
    later_columns = ("source", "cancel_requested", "takeovers", "takeover_order", "lease_epoch",
                     "first_step", "items_total", "idempotency_key", "priority",
                     "forked_from", "awaiting_signal")  # fmt: skip
    with raw_engine(database_url) as engine, engine.begin() as conn:
        for name in later_indexes:
            conn.exec_driver_sql(f"DROP INDEX {name}")
        for column in later_columns:
            conn.exec_driver_sql(f"ALTER TABLE core_workflow_runs DROP COLUMN {column}")
        conn.exec_driver_sql("ALTER TABLE core_workflow_steps DROP COLUMN log")
        for table in (signals, schedule_fires, schedules, alert_deliveries):
            table.drop(conn)
        conn.execute(schema_version.update().values(version=1))

    store = open_store(database_url)
    try:
        inspector = inspect(store.engine)
        columns = {c["name"] for c in inspector.get_columns("core_workflow_runs")}
        indexes = {i["name"] for i in inspector.get_indexes("core_workflow_runs")}
    finally:
        store.close()
    assert columns == {c.name for c in metadata.tables["core_workflow_runs"].columns}
    assert {i.name for i in metadata.tables["core_workflow_runs"].indexes} <= indexes
    assert _versions(database_url) == [SCHEMA_VERSION]


_RUNS, _STEPS = "core_workflow_runs", "core_workflow_steps"
_SINCE_7 = [(_RUNS, "first_step"), (_RUNS, "items_total")]
_SINCE_8 = [(_RUNS, "idempotency_key"), (_RUNS, "priority")]
_SINCE_9 = [(_STEPS, "log")]
_SINCE_11 = [(_RUNS, "awaiting_signal")]
_SINCE_10 = [(_RUNS, "forked_from"), *_SINCE_11]
ADDED_SINCE = {
    5: [(_RUNS, "takeovers"), (_RUNS, "takeover_order"), (_RUNS, "lease_epoch"),
        *_SINCE_7, *_SINCE_8, *_SINCE_9, *_SINCE_10],
    6: [(_RUNS, "lease_epoch"), *_SINCE_7, *_SINCE_8, *_SINCE_9, *_SINCE_10],
    7: [*_SINCE_7, *_SINCE_8, *_SINCE_9, *_SINCE_10],
    8: [*_SINCE_8, *_SINCE_9, *_SINCE_10],
    9: [*_SINCE_9, *_SINCE_10],
    10: _SINCE_10,
    11: _SINCE_11,
}  # fmt: skip
"""The (table, column)s each older version lacks (every one of them also lacks the
signals table, added in version 12)."""


@pytest.mark.parametrize("version", sorted(ADDED_SINCE))
def test_an_older_database_with_runs_is_migrated_and_a_failed_run_resumed(
    database_url: str, make_runner: MakeRunner, version: int
) -> None:
    """Version 5 had no takeover columns, version 6 no lease epoch, version 7 no first
    step or map size, version 8 no idempotency key or priority, version 9 no step logs,
    version 10 no forked_from: their runs load, one of them is resumed (its claim raises
    the epoch the migration added, and its new attempt's log is stored) and one forked."""
    attempts = {"n": 0}

    def flaky(ctx: WorkflowContext, config: dict[str, Any]) -> dict[str, Any]:
        attempts["n"] += 1
        if attempts["n"] == 1:
            raise RuntimeError("warehouse offline")
        print("loaded on attempt", attempts["n"])
        return {"value": ctx.get_output("start", "value") + 1}

    flaky_flow = Workflow(
        "store.v5.flaky",
        [Step.lambda_("start", lambda ctx, config: {"value": 1}), Step.lambda_("next", flaky)],
    )
    runner = make_runner(database_url=database_url)
    done = runner.execute(_workflow())
    failed = runner.execute(flaky_flow)
    assert failed.status == WorkflowStatus.FAILED
    runner.close()
    with raw_engine(database_url) as engine, engine.begin() as conn:
        if version < 9:  # (the indexes on the columns go with them)
            for index in ("ux_core_workflow_runs_idempotency", "ix_core_workflow_runs_claim"):
                conn.exec_driver_sql(f"DROP INDEX {index}")
        for table, column in ADDED_SINCE[version]:
            conn.exec_driver_sql(f"ALTER TABLE {table} DROP COLUMN {column}")
        signals.drop(conn)
        conn.execute(schema_version.update().values(version=version))

    again = make_runner(database_url=database_url)
    resumed = again.resume(failed.run_id, flaky_flow)

    assert _versions(database_url) == [SCHEMA_VERSION]
    assert resumed.status == WorkflowStatus.COMPLETED
    assert resumed.context.get_output("next", "value") == 2
    store = store_of(again)
    assert store.load_run(done.run_id).run.status == "COMPLETED"
    assert store.load_run(failed.run_id).run.takeovers == 0
    assert store.load_run(failed.run_id).run.lease_epoch == 1  # taken once, by the resume
    last = store.load_run(failed.run_id).steps[-1]
    assert [text for _, _, text in last.log] == ["loaded on attempt 2"]
    # A run stored before version 11 is forked like any (the column the migration added).
    assert store.load_run(done.run_id).run.forked_from is None
    fork = again.fork(done.run_id, "double", workflow=_workflow())
    assert fork.context.get_output("double", "value") == 42
    assert store.load_run(fork.run_id).run.forked_from == done.run_id


def _claim_index(conn: Connection) -> str:
    """How the database defines the claim index (its CREATE INDEX, upper-cased)."""
    if conn.dialect.name == "sqlite":
        query = "SELECT sql FROM sqlite_master WHERE name = 'ix_core_workflow_runs_claim'"
    else:
        query = ("SELECT indexdef FROM pg_indexes WHERE indexname = "
                 "'ix_core_workflow_runs_claim' AND schemaname = current_schema()")  # fmt: skip
    return str(conn.exec_driver_sql(query).scalar()).upper()


def test_version_13_puts_the_claim_index_in_the_claims_order(
    database_url: str, make_runner: MakeRunner
) -> None:
    """Version 12 kept the claim index by priority ascending, so that a claim (highest
    priority first) sorted every pending run; version 13 rebuilds it descending."""
    runner = make_runner(database_url=database_url)
    pending = runner.submit(register_workflow(_workflow()))
    runner.close()
    with raw_engine(database_url) as engine, engine.begin() as conn:
        conn.exec_driver_sql("DROP INDEX ix_core_workflow_runs_claim")
        conn.exec_driver_sql("CREATE INDEX ix_core_workflow_runs_claim ON core_workflow_runs "
                             "(status, priority, started_at)")  # fmt: skip
        conn.execute(schema_version.update().values(version=12))
        assert "PRIORITY DESC" not in _claim_index(conn)

    store = open_store(database_url)
    store.close()
    with raw_engine(database_url) as engine, engine.connect() as conn:
        assert "PRIORITY DESC" in _claim_index(conn)
    assert _versions(database_url) == [SCHEMA_VERSION]
    again = make_runner(database_url=database_url)
    [done] = again.recover()  # the run submitted before is claimed through the new index
    assert done.run_id == pending


_WIDENED = [(_RUNS, "duration_ms"), (_STEPS, "duration_ms"), (_STEPS, "row_count")]


def test_version_14_widens_durations_and_row_counts(
    database_url: str, make_runner: MakeRunner
) -> None:
    """Version 13 kept durations and row counts in PostgreSQL ``INTEGER`` (32 bits): a
    step that counted three billion rows could not be recorded. Version 14 widens them;
    a run failed before the upgrade is resumed, and its new attempt's count stored."""
    attempts = {"n": 0}

    def load(ctx: WorkflowContext, config: dict[str, Any]) -> dict[str, Any]:
        attempts["n"] += 1
        if attempts["n"] == 1:
            raise RuntimeError("warehouse offline")
        return {"row_count": 3_000_000_000}

    flow = Workflow("store.v13.load", [Step.lambda_("load", load)])
    runner = make_runner(database_url=database_url)
    failed = runner.execute(flow)
    assert failed.status == WorkflowStatus.FAILED
    runner.close()
    with raw_engine(database_url) as engine, engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            for table, column in _WIDENED:
                conn.exec_driver_sql(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE INTEGER")
        conn.execute(schema_version.update().values(version=13))

    again = make_runner(database_url=database_url)
    resumed = again.resume(failed.run_id, flow)

    assert _versions(database_url) == [SCHEMA_VERSION]
    assert resumed.status == WorkflowStatus.COMPLETED, resumed.error
    assert step_rows(store_of(again).engine, failed.run_id)[-1]["row_count"] == 3_000_000_000
    with raw_engine(database_url) as engine:
        if engine.dialect.name == "postgresql":
            inspector = inspect(engine)
            for table, column in _WIDENED:
                [found] = [c for c in inspector.get_columns(table) if c["name"] == column]
                assert isinstance(found["type"], BigInteger), (table, column, found["type"])
