"""Cancelling runs: at once when nothing executes them, else at the next step boundary."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from click.testing import CliRunner

from spine.cli.main import cli
from spine.orchestration import (
    Step,
    Workflow,
    WorkflowContext,
    WorkflowRunner,
    WorkflowStatus,
    register_workflow,
)

MakeRunner = Callable[..., WorkflowRunner]


def test_a_pending_run_is_cancelled_at_once(database_url: str, make_runner: MakeRunner) -> None:
    workflow = register_workflow(Workflow("cancel.pending", [Step.lambda_("s", lambda c, k: None)]))
    runner = make_runner(database_url=database_url)
    run_id = runner.submit(workflow)
    assert runner.store.cancel(run_id, time.time()) == "cancelled"  # type: ignore[union-attr]
    assert runner.recover() == []
    stored = runner.store.load_run(run_id).run  # type: ignore[union-attr]
    assert (stored.status, stored.error_category) == ("CANCELLED", "CANCELLED")
    again = runner.resume(run_id)
    assert again.note is not None
    assert "cancelled" in again.note


def test_an_executing_run_stops_at_its_next_step_boundary(
    database_url: str, make_runner: MakeRunner
) -> None:
    entered = threading.Event()
    release = threading.Event()
    ran: list[str] = []

    def slow(ctx: WorkflowContext, config: dict[str, Any]) -> None:
        ran.append("slow")
        entered.set()
        release.wait(10)

    def later(ctx: WorkflowContext, config: dict[str, Any]) -> None:
        ran.append("later")

    workflow = Workflow(
        "cancel.running", [Step.lambda_("slow", slow), Step.lambda_("later", later)]
    )
    runner = make_runner(database_url=database_url)
    results = []
    thread = threading.Thread(target=lambda: results.append(runner.execute(workflow)))
    thread.start()
    assert entered.wait(10)
    store = runner.store
    assert store is not None
    [running] = store.list_runs(workflow="cancel.running")
    assert store.cancel(running.run_id, time.time()) == "requested"
    time.sleep(0.25)  # past the journal's look-up interval
    release.set()
    thread.join(10)
    [result] = results
    assert result.status == WorkflowStatus.CANCELLED
    assert ran == ["slow"]
    assert result.completed_steps == ["slow"]
    assert store.load_run(running.run_id).run.status == "CANCELLED"


def test_spine_cancel(sqlite_url: str, make_runner: MakeRunner) -> None:
    workflow = register_workflow(Workflow("cancel.cli", [Step.lambda_("s", lambda c, k: None)]))
    run_id = make_runner(database_url=sqlite_url).submit(workflow)
    result = CliRunner().invoke(cli, ["--db", sqlite_url, "cancel", run_id])
    assert result.exit_code == 0
    assert "CANCELLED" in result.stdout
    again = CliRunner().invoke(cli, ["--db", sqlite_url, "cancel", run_id])
    assert "already ended" in again.stdout
