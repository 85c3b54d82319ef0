"""What a live run is doing, as `spine show`, `spine runs` and the API tell it: the step
in flight with its start, the owner and whether it is alive, a map's progress, a
waiting run's wake-up time; and the duration of a run resumed after it failed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from click.testing import CliRunner

from spine.cli.main import cli
from spine.commands import list_runs, show_run
from spine.core.records import Owner, RunRecord
from spine.orchestration import Step, Workflow, WorkflowContext, WorkflowRunner, WorkflowStatus
from spine.store import SqlStore
from spine.testing import FakeClock

MakeRunner = Callable[..., WorkflowRunner]


class Gate:
    """Steps that wait at a gate until the test opens it, saying when they got there."""

    def __init__(self) -> None:
        self.arrived = threading.Semaphore(0)
        self.open = threading.Event()

    def step(self, ctx: WorkflowContext, config: dict[str, Any]) -> dict[str, Any]:
        self.arrived.release()
        assert self.open.wait(20)
        return {"ok": True}

    def wait_for(self, count: int) -> None:
        for _ in range(count):
            assert self.arrived.acquire(timeout=20)


@pytest.fixture
def gate() -> Iterator[Gate]:
    made = Gate()
    yield made
    made.open.set()


def _in_background(runner: WorkflowRunner, workflow: Workflow, **kwargs: Any) -> threading.Thread:
    thread = threading.Thread(target=runner.execute, args=(workflow,), kwargs=kwargs, daemon=True)
    thread.start()
    return thread


def _only_run(store: SqlStore, workflow: str) -> RunRecord:
    [run] = store.list_runs(workflow=workflow)
    return run


def test_the_first_step_in_flight_is_shown_running_with_a_live_owner(
    database_url: str, make_runner: MakeRunner, gate: Gate
) -> None:
    runner = make_runner(database_url=database_url)
    flow = Workflow(
        "live.first", [Step.lambda_("extract", gate.step), Step.lambda_("load", gate.step)]
    )
    thread = _in_background(runner, flow)
    gate.wait_for(1)
    store = runner.store
    assert store is not None
    run = _only_run(store, "live.first")

    detail = show_run(store, run.run_id)
    assert detail.live is not None
    assert (detail.live.step_name, detail.live.attempt) == ("extract", 1)
    assert detail.live.started_at == pytest.approx(run.started_at)
    assert detail.owner_alive is True
    shown = CliRunner().invoke(cli, ["--db", database_url, "show", "--json", run.run_id])
    assert shown.exit_code == 0, shown.output
    body = json.loads(shown.output)
    assert [(s["step_name"], s["status"]) for s in body["steps"]] == [("extract", "RUNNING")]
    assert (body["owner_pid"], body["owner_alive"]) == (os.getpid(), True)
    assert body["duration_seconds"] is None
    text = CliRunner().invoke(cli, ["--db", database_url, "show", run.run_id]).output
    assert "executing extract (attempt 1)" in text
    assert f"owner process {os.getpid()}" in text
    assert "alive" in text

    gate.open.set()
    thread.join(20)
    ended = show_run(store, run.run_id)
    assert ended.live is None
    assert ended.owner_alive is None


def test_the_second_step_in_flight_and_the_step_counts_of_a_live_run(
    database_url: str, make_runner: MakeRunner, gate: Gate
) -> None:
    runner = make_runner(database_url=database_url)
    flow = Workflow(
        "live.second",
        [Step.lambda_("a", lambda ctx, config: {"n": 1}), Step.lambda_("b", lambda c, k: {}),
         Step.lambda_("slow", gate.step)],
    )  # fmt: skip
    thread = _in_background(runner, flow)
    gate.wait_for(1)
    store = runner.store
    assert store is not None
    run = _only_run(store, "live.second")
    stored = store.load_run(run.run_id)

    detail = show_run(store, run.run_id)
    assert detail.live is not None
    assert (detail.live.step_name, detail.live.step_order) == ("slow", 2)
    assert detail.live.started_at == stored.steps[-1].completed_at
    [listed] = list_runs(store, workflow="live.second")
    assert (listed.completed_steps, listed.failed_steps) == (2, 0)
    table = CliRunner().invoke(cli, ["--db", database_url, "runs"]).output
    assert "2 ok" in table
    gate.open.set()
    thread.join(20)
    [listed] = list_runs(store, workflow="live.second")
    assert (listed.status, listed.completed_steps) == (WorkflowStatus.COMPLETED, 3)


def test_a_map_in_flight_shows_its_progress(
    database_url: str, make_runner: MakeRunner, gate: Gate
) -> None:
    def item(ctx: WorkflowContext, config: dict[str, Any]) -> dict[str, Any]:
        if ctx.params["item"] >= 3:
            return gate.step(ctx, config)
        return {"ok": True}

    each = Workflow("live.item", [Step.lambda_("work", item)])
    flow = Workflow("live.map", [Step.map("each", "items", each, max_concurrency=2)])
    runner = make_runner(database_url=database_url)
    thread = _in_background(runner, flow, params={"items": list(range(8))})
    gate.wait_for(2)  # items 0-2 done, 3 and 4 in flight
    store = runner.store
    assert store is not None
    run = _only_run(store, "live.map")

    # Items are written in batches: those done within 0.1 s (the map's watchdog), those
    # in flight once they ran that long.
    progress = {"done": 3, "failed": 0, "in_flight": 2, "total": 8}
    deadline = time.monotonic() + 10
    detail = show_run(store, run.run_id)
    while (detail.live is None or detail.live.items != progress) and time.monotonic() < deadline:
        time.sleep(0.02)
        detail = show_run(store, run.run_id)
    assert detail.live is not None
    assert detail.live.step_name == "each"
    assert detail.live.items == progress
    body = detail.to_dict()
    assert body["steps"][-1]["items"] == progress
    text = CliRunner().invoke(cli, ["--db", database_url, "show", run.run_id]).output
    assert "3 done, 0 failed, 2 in flight of 8" in text
    gate.open.set()
    thread.join(20)


def test_a_run_whose_owner_died_shows_it_not_alive(sqlite_url: str) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    owner = Owner("gone", __import__("socket").gethostname(), int(dead.stdout))
    with SqlStore(sqlite_url) as store:
        store.create_run(RunRecord(run_id="orphan", workflow_name="w", status="RUNNING",
                                   started_at=time.time(), params={}, partition={},
                                   owner=owner, heartbeat_at=time.time(),
                                   first_step="extract"))  # fmt: skip
        detail = show_run(store, "orphan")
    assert detail.owner_alive is False
    assert detail.live is not None
    assert detail.live.step_name == "extract"
    text = CliRunner().invoke(cli, ["--db", sqlite_url, "show", "orphan"]).output
    assert "not answering" in text


def test_a_waiting_run_shows_when_it_wakes(sqlite_url: str, make_runner: MakeRunner) -> None:
    runner = make_runner(database_url=sqlite_url, block_on_waits=False)
    result = runner.execute(Workflow("live.wait", [Step.wait("pause", 3600)]))
    assert result.status == WorkflowStatus.WAITING
    body = json.loads(
        CliRunner().invoke(cli, ["--db", sqlite_url, "show", "--json", result.run_id]).output
    )
    assert body["status"] == "WAITING"
    assert body["wake_at"] is not None
    assert body["owner_alive"] is None  # nothing holds a suspended run
    text = CliRunner().invoke(cli, ["--db", sqlite_url, "show", result.run_id]).output
    assert "waiting until" in text


def test_a_failed_run_resumed_later_counts_its_execution_not_the_gap(
    sqlite_url: str, make_runner: MakeRunner
) -> None:
    clock = FakeClock()
    fixed = threading.Event()

    def flaky(ctx: WorkflowContext, config: dict[str, Any]) -> dict[str, Any]:
        clock.advance(2)  # two seconds of work
        if not fixed.is_set():
            raise RuntimeError("source offline")
        return {}

    flow = Workflow("live.gap", [Step.lambda_("flaky", flaky)])
    runner = make_runner(database_url=sqlite_url, clock=clock)
    failed = runner.execute(flow)
    assert failed.status == WorkflowStatus.FAILED
    store = runner.store
    assert store is not None
    assert store.load_run(failed.run_id).run.duration == pytest.approx(2.0)

    clock.advance(3600)  # an hour passes before someone fixes it
    fixed.set()
    resumed = runner.resume(failed.run_id, flow)
    assert resumed.status == WorkflowStatus.COMPLETED
    run = store.load_run(failed.run_id).run
    assert run.duration == pytest.approx(4.0)
    [listed] = list_runs(store, workflow="live.gap")
    body = json.loads(CliRunner().invoke(cli, ["--db", sqlite_url, "runs", "--json"]).output)
    assert body[0]["duration_seconds"] == pytest.approx(4.0)
    assert listed.duration == pytest.approx(4.0)


def test_spine_recover_loads_the_stored_source_and_tells_of_waiting_runs(
    sqlite_url: str, tmp_path: Any
) -> None:
    flows = tmp_path / "recover_flows.py"
    flows.write_text(
        "from spine.orchestration import Step, Workflow\n"
        "crashy = Workflow('live.recover', [Step.lambda_('a', lambda c, k: {'a': 1})])\n"
    )
    cli_runner = CliRunner()
    ran = cli_runner.invoke(cli, ["--db", sqlite_url, "run", f"{flows}:crashy", "--json"])
    assert ran.exit_code == 0, ran.output
    with WorkflowRunner(database_url=sqlite_url, block_on_waits=False) as runner:
        sleepy = runner.execute(Workflow("live.sleepy", [Step.wait("nap", 7200)]))
        assert sleepy.status == WorkflowStatus.WAITING
    with SqlStore(sqlite_url) as store:
        [done] = store.list_runs(workflow="live.recover")
        # As if its process had died in its first step: running, held by a gone owner.
        store.create_run(RunRecord(run_id="crashed", workflow_name="live.recover",
                                   status="RUNNING", started_at=time.time(), params={},
                                   partition={}, source=done.source, first_step="a",
                                   definition_hash=done.definition_hash))  # fmt: skip
    from spine.orchestration.registry import default_workflow_registry

    default_workflow_registry.clear()  # a new process: nothing registered

    out = cli_runner.invoke(cli, ["--db", sqlite_url, "recover"])
    assert out.exit_code == 0, out.output
    assert "crashed live.recover: COMPLETED" in out.output
    assert "recovered 1 run" in out.output
    assert "1 waiting run is not due yet; the next wakes at" in out.output


def test_the_run_page_and_api_show_the_step_in_flight(
    sqlite_url: str, make_runner: MakeRunner, gate: Gate
) -> None:
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from spine.web.app import build

    runner = make_runner(database_url=sqlite_url)
    thread = _in_background(runner, Workflow("live.page", [Step.lambda_("slow", gate.step)]))
    gate.wait_for(1)
    store = runner.store
    assert store is not None
    run = _only_run(store, "live.page")
    with TestClient(build(sqlite_url), base_url="http://127.0.0.1") as client:
        body = client.get(f"/api/runs/{run.run_id}").json()
        page = client.get(f"/runs/{run.run_id}").text
    assert [(s["step_name"], s["status"]) for s in body["steps"]] == [("slow", "RUNNING")]
    assert body["owner_alive"] is True
    assert f"process {os.getpid()}" in page
    assert "alive" in page
    gate.open.set()
    thread.join(20)


def test_a_run_started_from_a_later_step_shows_it_and_resumes_there_after_a_crash(
    sqlite_url: str, make_runner: MakeRunner, gate: Gate
) -> None:
    calls: list[str] = []

    def record(name: str) -> Callable[[WorkflowContext, dict[str, Any]], dict[str, Any]]:
        def step(ctx: WorkflowContext, config: dict[str, Any]) -> dict[str, Any]:
            calls.append(name)
            return {}

        return step

    steps = [Step.lambda_("a", record("a")), Step.lambda_("b", gate.step),
             Step.lambda_("c", record("c"))]  # fmt: skip
    flow = Workflow("live.start_from", steps)
    runner = make_runner(database_url=sqlite_url)
    thread = _in_background(runner, flow, start_from="b")
    gate.wait_for(1)
    store = runner.store
    assert store is not None
    run = _only_run(store, "live.start_from")
    detail = show_run(store, run.run_id)
    assert detail.live is not None
    assert detail.live.step_name == "b"
    gate.open.set()
    thread.join(20)

    # As if its process had died in its first step: held by a gone owner, no row yet.
    dead = Owner("gone", "elsewhere", 1)
    store.create_run(RunRecord(run_id="crashed", workflow_name="live.start_from",
                               status="RUNNING", started_at=time.time() - 60, params={},
                               partition={}, owner=dead, heartbeat_at=time.time() - 60,
                               first_step="c", definition_hash=run.definition_hash))  # fmt: skip
    calls.clear()
    resumed = runner.resume("crashed", flow)
    assert resumed.status == WorkflowStatus.COMPLETED
    assert calls == ["c"]  # not the steps before where it started
