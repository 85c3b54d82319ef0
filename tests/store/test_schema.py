"""The history tables: every column of the spec's SQL schema, and what a run writes into them."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Integer, String, inspect, select

from spine.orchestration import (
    QualityMetrics,
    RetryPolicy,
    Step,
    StepResult,
    Workflow,
    WorkflowContext,
    WorkflowRunner,
    WorkflowStatus,
)
from spine.store import open_store
from spine.store.schema import SCHEMA_VERSION, metadata, schema_version
from spine.testing import FakeClock

from .helpers import run_row, step_rows, store_of

MakeRunner = Callable[..., WorkflowRunner]

# The spec's "SQL Schema": column -> (type, NOT NULL).
SPEC_RUNS = {
    "run_id": (String, True),
    "workflow_name": (String, True),
    "status": (String, True),
    "started_at": (String, False),
    "completed_at": (String, False),
    "duration_ms": (Integer, False),
    "params": (String, False),
    "outputs": (String, False),
    "error": (String, False),
    "error_category": (String, False),
    "total_steps": (Integer, False),
    "completed_steps": (Integer, False),
    "failed_steps": (Integer, False),
    "triggered_by": (String, False),
    "parent_run_id": (String, False),
    "schedule_id": (String, False),
}
SPEC_STEPS = {
    "step_id": (String, True),
    "run_id": (String, True),
    "step_name": (String, True),
    "step_type": (String, True),
    "step_order": (Integer, True),
    "status": (String, True),
    "started_at": (String, False),
    "completed_at": (String, False),
    "duration_ms": (Integer, False),
    "params": (String, False),
    "outputs": (String, False),
    "error": (String, False),
    "error_category": (String, False),
    "row_count": (Integer, False),
    "attempt": (Integer, True),
}


def utc(text: str | None) -> datetime:
    """Parse a stored timestamp, requiring ISO-8601 with a UTC offset."""
    assert isinstance(text, str), f"timestamp {text!r} is not text"
    parsed = datetime.fromisoformat(text)
    assert parsed.tzinfo is not None, f"timestamp {text!r} has no time zone"
    assert parsed.utcoffset() == timedelta(0), f"timestamp {text!r} is not UTC"
    return parsed


@pytest.mark.parametrize(
    ("table", "spec"), [("core_workflow_runs", SPEC_RUNS), ("core_workflow_steps", SPEC_STEPS)]
)
def test_opening_a_store_creates_every_column_of_the_spec(
    database_url: str, table: str, spec: dict[str, tuple[type, bool]]
) -> None:
    store = open_store(database_url)
    try:
        inspector = inspect(store.engine)
        columns = {c["name"]: c for c in inspector.get_columns(table)}
        primary_key = inspector.get_pk_constraint(table)["constrained_columns"]
    finally:
        store.close()

    assert set(spec) <= set(columns), f"{table} lacks {sorted(set(spec) - set(columns))}"
    for name, (kind, not_null) in spec.items():
        assert isinstance(columns[name]["type"], kind), (name, columns[name]["type"])
        if not_null:
            assert columns[name]["nullable"] is False, f"{table}.{name} must be NOT NULL"
    assert primary_key == ["run_id" if table == "core_workflow_runs" else "step_id"]


def test_rows_holding_only_the_spec_columns_can_be_inserted(database_url: str) -> None:
    """Columns beyond the spec never stop a plain insert, and ``attempt`` defaults to 1
    (the spec's ``attempt INTEGER NOT NULL DEFAULT 1``)."""
    store = open_store(database_url)
    try:
        with store.engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO core_workflow_runs (run_id, workflow_name, status) "
                "VALUES ('r1', 'w', 'PENDING')"
            )
            conn.exec_driver_sql(
                "INSERT INTO core_workflow_steps "
                "(step_id, run_id, step_name, step_type, step_order, status) "
                "VALUES ('s1', 'r1', 'a', 'lambda', 0, 'COMPLETED')"
            )
            attempt = conn.exec_driver_sql(
                "SELECT attempt FROM core_workflow_steps WHERE step_id = 's1'"
            ).scalar()
        stored = store.load_run("r1")
    finally:
        store.close()
    assert attempt == 1
    assert [(s.step_name, s.attempt) for s in stored.steps] == [("a", 1)]


def test_a_new_store_records_the_current_schema_version(database_url: str) -> None:
    store = open_store(database_url)
    try:
        with store.engine.connect() as conn:
            versions = conn.execute(select(schema_version.c.version)).scalars().all()
    finally:
        store.close()
    assert versions == [SCHEMA_VERSION]


def test_migrating_an_empty_database_yields_exactly_the_defined_schema(database_url: str) -> None:
    store = open_store(database_url)
    try:
        inspector = inspect(store.engine)
        tables = set(inspector.get_table_names())
        assert tables == set(metadata.tables)
        for table in metadata.sorted_tables:
            found = {c["name"]: c for c in inspector.get_columns(table.name)}
            assert list(found) == [c.name for c in table.columns], table.name
            for column in table.columns:
                kind = Integer if isinstance(column.type, Integer) else String
                assert isinstance(found[column.name]["type"], kind), (table.name, column.name)
                assert found[column.name]["nullable"] == column.nullable, (
                    table.name,
                    column.name,
                )
                has_default = found[column.name]["default"] is not None
                assert has_default == (column.server_default is not None), column.name
            pk = inspector.get_pk_constraint(table.name)["constrained_columns"]
            assert pk == [c.name for c in table.primary_key.columns], table.name
            indexes = {i["name"]: i["column_names"] for i in inspector.get_indexes(table.name)}
            for index in table.indexes:
                assert indexes.get(index.name) == [c.name for c in index.columns], index.name
            uniques = {
                u["name"]: u["column_names"] for u in inspector.get_unique_constraints(table.name)
            }
            for constraint in table.constraints:
                if constraint.name and constraint.name.startswith("uq_"):
                    assert uniques.get(constraint.name) == [c.name for c in constraint.columns]
    finally:
        store.close()


def _quality_workflow(clock: FakeClock, name: str = "store.rows") -> Workflow:
    def extract(ctx: WorkflowContext, config: dict[str, Any]) -> StepResult:
        clock.advance(1.5)
        return StepResult.ok(
            output={"rows": [1, 2, 3]},
            context_updates={"extracted": True},
            quality=QualityMetrics(record_count=3, valid_count=2),
        )

    def transform(ctx: WorkflowContext, config: dict[str, Any]) -> dict[str, Any]:
        clock.advance(0.25)
        return {"doubled": [x * config["factor"] for x in ctx.get_output("extract", "rows")]}

    def load(ctx: WorkflowContext, config: dict[str, Any]) -> dict[str, Any]:
        return {"loaded": True, "row_count": 3}

    return Workflow(
        name,
        [
            Step.lambda_("extract", extract),
            Step.lambda_("transform", transform, config={"factor": 2}),
            Step.lambda_("load", load),
        ],
    )


def test_a_completed_run_writes_its_run_row(database_url: str, make_runner: MakeRunner) -> None:
    clock = FakeClock()
    runner = make_runner(database_url=database_url, clock=clock)
    result = runner.execute(_quality_workflow(clock), params={"day": "2024-01-05"})
    assert result.status == WorkflowStatus.COMPLETED

    row = run_row(store_of(runner).engine, result.run_id)

    assert row["workflow_name"] == "store.rows"
    assert row["status"] == "COMPLETED"
    started, completed = utc(row["started_at"]), utc(row["completed_at"])
    assert started == datetime.fromtimestamp(1_700_000_000.0, UTC)
    assert completed - started == timedelta(seconds=1.75)
    assert row["duration_ms"] == 1750
    assert json.loads(row["params"]) == {"day": "2024-01-05"}
    assert json.loads(row["outputs"]) == {
        "extract": {"rows": [1, 2, 3]},
        "transform": {"doubled": [2, 4, 6]},
        "load": {"loaded": True, "row_count": 3},
    }
    assert (row["total_steps"], row["completed_steps"], row["failed_steps"]) == (3, 3, 0)
    assert row["error"] is None
    assert row["error_category"] is None
    assert row["triggered_by"] == "manual"
    assert row["parent_run_id"] is None
    assert row["schedule_id"] is None


def test_a_completed_run_writes_one_row_per_step(
    database_url: str, make_runner: MakeRunner
) -> None:
    clock = FakeClock()
    runner = make_runner(database_url=database_url, clock=clock)
    result = runner.execute(_quality_workflow(clock), params={"day": "2024-01-05"})

    rows = step_rows(store_of(runner).engine, result.run_id)

    assert [r["step_name"] for r in rows] == ["extract", "transform", "load"]
    first = rows[0]["step_order"]
    assert [r["step_order"] for r in rows] == [first, first + 1, first + 2]
    assert len({r["step_id"] for r in rows}) == 3
    for row in rows:
        assert row["run_id"] == result.run_id
        assert row["step_type"] == "lambda"
        assert row["status"] == "COMPLETED"
        assert row["attempt"] == 1
        assert row["error"] is None
        assert row["error_category"] is None
        assert utc(row["started_at"]) <= utc(row["completed_at"])
    assert [r["duration_ms"] for r in rows] == [1500, 250, 0]
    assert [json.loads(r["outputs"]) for r in rows] == [
        {"rows": [1, 2, 3]},
        {"doubled": [2, 4, 6]},
        {"loaded": True, "row_count": 3},
    ]
    # Each step's own params (its config), not the run's context.
    assert json.loads(rows[1]["params"]) == {"factor": 2}
    # row_count: QualityMetrics.record_count, else an int "row_count" in the output.
    assert [r["row_count"] for r in rows] == [3, None, 3]


def test_a_failed_step_row_keeps_its_error_and_category(
    database_url: str, make_runner: MakeRunner
) -> None:
    def check(ctx: WorkflowContext, config: dict[str, Any]) -> StepResult:
        return StepResult.fail("2 rows have no id", category="DATA_QUALITY")

    workflow = Workflow(
        "store.failing",
        [
            Step.lambda_("extract", lambda ctx, config: {"n": 2}),
            Step.lambda_("check", check),
            Step.lambda_("never", lambda ctx, config: {"ran": True}),
        ],
    )
    runner = make_runner(database_url=database_url)
    result = runner.execute(workflow)
    assert result.status == WorkflowStatus.FAILED

    engine = store_of(runner).engine
    rows = step_rows(engine, result.run_id)
    run = run_row(engine, result.run_id)

    assert [(r["step_name"], r["status"]) for r in rows] == [
        ("extract", "COMPLETED"),
        ("check", "FAILED"),
    ]
    assert rows[1]["error"] == "2 rows have no id"
    assert rows[1]["error_category"] == "DATA_QUALITY"
    assert run["status"] == "FAILED"
    assert run["error"] == "2 rows have no id"
    assert run["error_category"] == "DATA_QUALITY"
    assert (run["completed_steps"], run["failed_steps"]) == (1, 1)
    utc(run["completed_at"])


def test_an_exception_in_a_step_is_stored_with_its_type(
    database_url: str, make_runner: MakeRunner
) -> None:
    def explode(ctx: WorkflowContext, config: dict[str, Any]) -> None:
        raise KeyError("customer_id")

    runner = make_runner(database_url=database_url)
    result = runner.execute(Workflow("store.raising", [Step.lambda_("explode", explode)]))

    [row] = step_rows(store_of(runner).engine, result.run_id)
    assert row["status"] == "FAILED"
    assert "KeyError" in row["error"]
    assert "customer_id" in row["error"]
    assert run_row(store_of(runner).engine, result.run_id)["status"] == "FAILED"


class Flaky:
    """Fails (``TRANSIENT``) its first ``failures`` calls, then succeeds."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    def __call__(self, ctx: WorkflowContext, config: dict[str, Any]) -> StepResult:
        self.calls += 1
        if self.calls <= self.failures:
            return StepResult.fail(f"timeout {self.calls}", category="TRANSIENT")
        return StepResult.ok(output={"attempts": self.calls})


def _retrying(step: Flaky, max_attempts: int = 3) -> Workflow:
    policy = RetryPolicy(max_attempts=max_attempts, initial_delay_seconds=1.0, jitter=False)
    return Workflow(
        "store.retrying",
        [
            Step.lambda_("before", lambda ctx, config: {"ok": True}),
            Step.lambda_("fetch", step, retry=policy),
            Step.lambda_("after", lambda ctx, config: {"ok": True}),
        ],
    )


def test_every_retry_attempt_gets_its_own_step_row(
    database_url: str, make_runner: MakeRunner
) -> None:
    clock = FakeClock()
    runner = make_runner(database_url=database_url, clock=clock)
    result = runner.execute(_retrying(Flaky(2)))
    assert result.status == WorkflowStatus.COMPLETED
    assert clock.sleeps == [1.0, 2.0]

    engine = store_of(runner).engine
    rows = step_rows(engine, result.run_id)
    fetch = [r for r in rows if r["step_name"] == "fetch"]

    assert [(r["attempt"], r["status"], r["error"]) for r in fetch] == [
        (1, "FAILED", "timeout 1"),
        (2, "FAILED", "timeout 2"),
        (3, "COMPLETED", None),
    ]
    assert [r["error_category"] for r in fetch] == ["TRANSIENT", "TRANSIENT", None]
    assert len({r["step_order"] for r in fetch}) == 1
    assert len({r["step_id"] for r in rows}) == len(rows) == 5
    assert json.loads(fetch[-1]["outputs"]) == {"attempts": 3}
    # The delays sit between the attempts' rows.
    assert utc(fetch[1]["started_at"]) - utc(fetch[0]["completed_at"]) == timedelta(seconds=1)
    assert utc(fetch[2]["started_at"]) - utc(fetch[1]["completed_at"]) == timedelta(seconds=2)
    run = run_row(engine, result.run_id)
    assert (run["status"], run["completed_steps"], run["failed_steps"]) == ("COMPLETED", 3, 0)


def test_a_step_that_exhausts_its_retries_leaves_a_row_per_attempt(
    database_url: str, make_runner: MakeRunner
) -> None:
    runner = make_runner(database_url=database_url, clock=FakeClock())
    result = runner.execute(_retrying(Flaky(5)))
    assert result.status == WorkflowStatus.FAILED

    engine = store_of(runner).engine
    rows = step_rows(engine, result.run_id)

    assert [(r["step_name"], r["attempt"], r["status"]) for r in rows] == [
        ("before", 1, "COMPLETED"),
        ("fetch", 1, "FAILED"),
        ("fetch", 2, "FAILED"),
        ("fetch", 3, "FAILED"),
    ]
    run = run_row(engine, result.run_id)
    assert (run["status"], run["error"], run["failed_steps"]) == ("FAILED", "timeout 3", 1)


def test_quality_metrics_are_readable_per_workflow_over_time(
    database_url: str, make_runner: MakeRunner
) -> None:
    clock = FakeClock()
    counts = iter([10, 20, 30])

    def measure(ctx: WorkflowContext, config: dict[str, Any]) -> StepResult:
        n = next(counts)
        return StepResult.ok(quality=QualityMetrics(record_count=n, valid_count=n - 1))

    measured = Workflow(
        "store.measured",
        [Step.lambda_("measure", measure), Step.lambda_("plain", lambda ctx, config: None)],
    )
    runner = make_runner(database_url=database_url, clock=clock)
    run_ids = []
    for _ in range(3):
        run_ids.append(runner.execute(measured).run_id)
        clock.advance(60)
        runner.execute(_quality_workflow(clock, name="store.other"))

    history = store_of(runner).quality_history("store.measured")

    assert [h["run_id"] for h in history] == run_ids
    assert {h["step_name"] for h in history} == {"measure"}
    assert [h["quality"]["record_count"] for h in history] == [10, 20, 30]
    assert [h["quality"]["valid_count"] for h in history] == [9, 19, 29]
    times = [utc(h["completed_at"]) for h in history]
    assert times == sorted(times)
    assert len(set(times)) == 3
    other = store_of(runner).quality_history("store.other")
    assert [h["quality"]["record_count"] for h in other] == [3, 3, 3]
    assert store_of(runner).quality_history("store.unknown") == []
