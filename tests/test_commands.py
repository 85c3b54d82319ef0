"""``spine.commands``: what the CLI and the web app read and do, on SQLite files and on
PostgreSQL (every test runs on both)."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from typing import Any

import pytest

from spine.commands import (
    CancelOutcome,
    cancel_run,
    list_runs,
    list_schedules,
    show_run,
    show_schedule,
    status_named,
    workflow_summary,
)
from spine.core.errors import RunNotFoundError, ScheduleError
from spine.core.records import Owner
from spine.core.schedules import Schedule
from spine.core.status import WorkflowStatus
from spine.framework.alerts import AlertRegistry, ConsoleChannel
from spine.orchestration import QualityMetrics, Step, StepResult, Workflow, WorkflowRunner
from spine.orchestration import WorkflowContext as Context
from spine.store import SqlStore, open_schedules, open_store


def echo(ctx: Context, config: dict[str, Any]) -> dict[str, Any]:
    return {"item": ctx.get_param("item")}


def check(ctx: Context, config: dict[str, Any]) -> StepResult:
    rows = ctx.get_param("rows", 10)
    quality = QualityMetrics(record_count=rows, valid_count=rows - 1, passed=rows > 3)
    if not quality.passed:
        return StepResult.fail("too few rows", category="DATA_QUALITY", quality=quality)
    return StepResult.ok(quality=quality)


ITEM = Workflow("commands.item", [Step.lambda_("echo", echo)])
MAPPED = Workflow(
    "commands.map",
    [
        Step.lambda_("list", lambda c, k: {"items": ["a", "b", "c"]}),
        Step.map("fan", "outputs.list.items", ITEM),
    ],
)
CHECKED = Workflow("commands.check", [Step.lambda_("check", check)])


@pytest.fixture
def store(database_url: str) -> Iterator[SqlStore]:
    opened = open_store(database_url)
    yield opened
    opened.close()


@pytest.fixture
def runner(database_url: str) -> Iterator[WorkflowRunner]:
    with WorkflowRunner(database_url=database_url) as made:
        yield made


def pending(runner: WorkflowRunner, store: SqlStore, workflow: Workflow, **fields: Any) -> str:
    """Store a PENDING run of ``workflow`` (``fields`` such as ``started_at`` set on it)."""
    record = runner.queue.pending_record(workflow)
    for name, value in fields.items():
        setattr(record, name, value)
    store.create_run(record)
    return record.run_id


def test_listing_filters_by_workflow_status_and_start(
    runner: WorkflowRunner, store: SqlStore
) -> None:
    mapped = runner.execute(MAPPED).run_id
    passed = runner.execute(CHECKED, params={"rows": 20}).run_id
    failed = runner.execute(CHECKED, params={"rows": 2}).run_id
    old = pending(runner, store, CHECKED, started_at=time.time() - 7200)

    # Newest first, and only top-level runs: the map's items are shown with their parent.
    assert [r.run_id for r in list_runs(store)] == [failed, passed, mapped, old]
    assert [r.run_id for r in list_runs(store, workflow="commands.check")] == [failed, passed, old]
    assert [r.run_id for r in list_runs(store, status=WorkflowStatus.FAILED)] == [failed]
    assert [r.run_id for r in list_runs(store, status=WorkflowStatus.PENDING)] == [old]
    recent = list_runs(store, workflow="commands.check", since=time.time() - 3600)
    assert [r.run_id for r in recent] == [failed, passed]
    assert [r.run_id for r in list_runs(store, limit=2, offset=1)] == [passed, mapped]
    assert list_runs(store, workflow="commands.nothing") == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, None),
        ("", None),
        ("failed", WorkflowStatus.FAILED),
        ("Waiting", WorkflowStatus.WAITING),
    ],
)
def test_a_status_is_named_in_any_case(text: str | None, expected: WorkflowStatus | None) -> None:
    assert status_named(text) == expected


def test_an_unknown_status_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match="'DONE'; one of PENDING, RUNNING, WAITING, COMPLETED"):
        status_named("DONE")


def test_showing_a_run_with_a_map_lists_its_steps_and_items(
    runner: WorkflowRunner, store: SqlStore
) -> None:
    run_id = runner.execute(MAPPED).run_id

    detail = show_run(store, run_id)

    assert detail.run.run_id == run_id
    assert [s.step_name for s in detail.stored.steps] == ["list", "fan"]
    assert len(detail.children) == 3
    assert {c.parent_run_id for c in detail.children} == {run_id}
    assert {c.status for c in detail.children} == {WorkflowStatus.COMPLETED}
    assert detail.alerts == []
    shown = detail.to_dict()
    assert shown["status"] == "COMPLETED"
    assert [s["step_name"] for s in shown["steps"]] == ["list", "fan"]
    assert sorted(c["run_id"] for c in shown["children"]) == sorted(
        c.run_id for c in detail.children
    )
    item = show_run(store, detail.children[0].run_id)
    assert [s.step_name for s in item.stored.steps] == ["echo"]
    assert item.to_dict()["parent_run_id"] == run_id


def test_showing_a_run_lists_the_alerts_sent_about_it(database_url: str, store: SqlStore) -> None:
    alerts = AlertRegistry()
    alerts.register(ConsoleChannel("console", stream=io.StringIO()))
    with WorkflowRunner(database_url=database_url, alert_on=["FAILED"], alerts=alerts) as runner:
        failed = runner.execute(CHECKED, params={"rows": 2}).run_id
        passed = runner.execute(CHECKED, params={"rows": 20}).run_id

    [alert] = show_run(store, failed).to_dict()["alerts"]
    assert (alert["channel"], alert["success"], alert["attempts"]) == ("console", True, 1)
    assert show_run(store, passed).alerts == []


def test_showing_an_unknown_run_names_it(store: SqlStore) -> None:
    with pytest.raises(RunNotFoundError, match="nope"):
        show_run(store, "nope")


def test_cancelling_a_run_nothing_executes_ends_it_at_once(
    runner: WorkflowRunner, store: SqlStore
) -> None:
    run_id = pending(runner, store, CHECKED)

    done = cancel_run(store, run_id)

    assert (done.outcome, done.ended_as) == (CancelOutcome.CANCELLED, None)
    assert store.load_run(run_id).run.status == WorkflowStatus.CANCELLED
    again = cancel_run(store, run_id)
    assert (again.outcome, again.ended_as) == (
        CancelOutcome.ALREADY_ENDED,
        WorkflowStatus.CANCELLED,
    )


def test_cancelling_an_executing_run_asks_its_runner(
    runner: WorkflowRunner, store: SqlStore
) -> None:
    run_id = pending(runner, store, CHECKED)
    assert store.claim(store.load_run(run_id).run, Owner.for_this_process(), time.time())

    done = cancel_run(store, run_id)

    assert done.outcome is CancelOutcome.REQUESTED
    assert store.cancel_requested(run_id)
    assert store.load_run(run_id).run.status == WorkflowStatus.RUNNING


def test_cancelling_an_ended_run_changes_nothing(runner: WorkflowRunner, store: SqlStore) -> None:
    run_id = runner.execute(CHECKED, params={"rows": 20}).run_id

    done = cancel_run(store, run_id)

    assert (done.outcome, done.ended_as) == (CancelOutcome.ALREADY_ENDED, WorkflowStatus.COMPLETED)
    assert store.load_run(run_id).run.status == WorkflowStatus.COMPLETED
    with pytest.raises(RunNotFoundError):
        cancel_run(store, "nope")


def test_a_workflows_figures(runner: WorkflowRunner, store: SqlStore) -> None:
    ids = [runner.execute(CHECKED, params={"rows": rows}).run_id for rows in (20, 2, 9)]
    pending(runner, store, CHECKED)  # not ended: in the runs, not in the rate

    summary = workflow_summary(store, "commands.check", shown=3)

    assert len(summary["runs"]) == 3
    assert summary["success_rate"] == pytest.approx(2 / 3)
    assert [d["run_id"] for d in summary["durations"]] == ids  # oldest first
    assert [d["status"] for d in summary["durations"]] == ["COMPLETED", "FAILED", "COMPLETED"]
    assert [q["quality"]["record_count"] for q in summary["quality"]] == [20, 2, 9]
    assert workflow_summary(store, "commands.nothing")["success_rate"] is None


def test_schedules_are_listed_and_shown(database_url: str, store: SqlStore) -> None:
    with open_schedules(database_url) as schedules:
        schedules.add(Schedule("nightly", CHECKED.name, "0 6 * * *", "Europe/London"))

    assert [s.name for s in list_schedules(store)] == ["nightly"]
    shown = show_schedule(store, "nightly")
    assert shown.fires == []
    assert shown.to_dict()["timezone"] == "Europe/London"
    assert shown.to_dict()["history"] == []
    with pytest.raises(ScheduleError, match="nope"):
        show_schedule(store, "nope")


def test_the_public_names_stay_exported() -> None:
    import spine.commands

    assert set(spine.commands.__all__) == {
        "CancelOutcome", "Cancellation", "RESUMABLE", "Resumption", "RunDetail",
        "ScheduleDetail", "cancel_run", "delivery_to_dict", "list_runs", "list_schedules",
        "load_run", "resume_run", "run_to_dict", "show_run", "show_schedule", "status_named",
        "step_to_dict", "stored_run_to_dict", "workflow_summary", "InFlight", "in_flight",
        "owner_alive", "run_duration", "withdraw_cancel", "workflows_overview",
        "partition_to_dict",
    }  # fmt: skip
    assert all(hasattr(spine.commands, name) for name in spine.commands.__all__)
