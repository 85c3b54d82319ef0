"""Submitted runs wait as PENDING until a runner's recover() (or a worker) runs them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from spine.core.errors import WorkflowError
from spine.orchestration import Step, Workflow, WorkflowRunner, WorkflowStatus, register_workflow

MakeRunner = Callable[..., WorkflowRunner]


def double_workflow(name: str = "submit.double") -> Workflow:
    return Workflow(name, [Step.lambda_("double", lambda c, k: {"v": c.get_param("n") * 2})])


def test_submit_stores_a_pending_run_that_recover_executes(
    database_url: str, make_runner: MakeRunner
) -> None:
    workflow = register_workflow(double_workflow())
    runner = make_runner(database_url=database_url)
    run_id = runner.submit(workflow, params={"n": 21}, partition={"day": "mon"})
    stored = runner.store.load_run(run_id)  # type: ignore[union-attr]
    assert stored.run.status == WorkflowStatus.PENDING
    assert stored.steps == []
    assert dict(stored.run.params) == {"n": 21}

    [result] = make_runner(database_url=database_url).recover()
    assert result.run_id == run_id
    assert result.status == WorkflowStatus.COMPLETED
    assert result.context.get_output("double", "v") == 42
    assert result.context.partition == {"day": "mon"}
    assert runner.store.load_run(run_id).run.status == "COMPLETED"  # type: ignore[union-attr]
    assert make_runner(database_url=database_url).recover() == []


def test_only_registered_workflows_can_be_submitted(
    database_url: str, make_runner: MakeRunner
) -> None:
    runner = make_runner(database_url=database_url)
    with pytest.raises(WorkflowError, match="not registered"):
        runner.submit(double_workflow("submit.unregistered"), params={"n": 1})
    with pytest.raises(WorkflowError, match="database_url"):
        WorkflowRunner().submit(register_workflow(double_workflow("submit.nodb")))


def test_a_run_no_runner_knows_stays_pending(sqlite_url: str, make_runner: MakeRunner) -> None:
    from spine.orchestration.registry import WorkflowRegistry

    runner = make_runner(database_url=sqlite_url)
    run_id = runner.submit(register_workflow(double_workflow("submit.known")), params={"n": 1})
    stranger = make_runner(database_url=sqlite_url, workflows=WorkflowRegistry())
    assert stranger.recover() == []
    assert runner.store.load_run(run_id).run.status == "PENDING"  # type: ignore[union-attr]


APP = """
from spine.orchestration import Step, Workflow, register_workflow

register_workflow(Workflow("submit.app", [
    Step.lambda_("double", lambda c, k: {"v": c.get_param("n") * 2}),
]))
"""


def test_a_worker_process_executes_submitted_runs(
    sqlite_url: str, tmp_path: Path, make_runner: MakeRunner
) -> None:
    app = tmp_path / "submit_app.py"
    app.write_text(textwrap.dedent(APP))
    sys.path.insert(0, str(tmp_path))
    try:
        import submit_app  # noqa: F401 - registers submit.app here too
    finally:
        sys.path.remove(str(tmp_path))
    from spine.orchestration import get_workflow

    runner = make_runner(database_url=sqlite_url)
    ids = [runner.submit(get_workflow("submit.app"), params={"n": n}) for n in range(10)]
    worker = subprocess.Popen(
        [sys.executable, "-m", "spine.cli.main", "--db", sqlite_url, "worker",
         "--app", str(app), "--poll", "0.05"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        deadline = time.time() + 30
        store = runner.store
        assert store is not None
        while time.time() < deadline:
            if all(store.load_run(i).run.status == "COMPLETED" for i in ids):
                break
            time.sleep(0.1)
        outputs = [store.load_run(i).run.outputs for i in ids]
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.communicate(timeout=30)
    assert worker.returncode == 0
    assert outputs == [{"double": {"v": n * 2}} for n in range(10)]


def test_run_pending_claims_each_submitted_run_once(
    database_url: str, make_runner: MakeRunner
) -> None:
    import threading

    executed: list[int] = []
    lock = threading.Lock()

    def record(ctx: Any, config: dict[str, Any]) -> dict[str, Any]:
        with lock:
            executed.append(ctx.get_param("n"))
        return {"n": ctx.get_param("n")}

    workflow = register_workflow(Workflow("submit.claims", [Step.lambda_("record", record)]))
    client = make_runner(database_url=database_url)
    ids = [client.submit(workflow, params={"n": n}) for n in range(20)]
    workers = [make_runner(database_url=database_url) for _ in range(3)]

    def drain(runner: WorkflowRunner) -> None:
        while runner.run_pending(limit=2):
            pass

    threads = [threading.Thread(target=drain, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(executed) == list(range(20))
    store = client.store
    assert store is not None
    assert {store.load_run(i).run.status for i in ids} == {"COMPLETED"}


def test_a_concurrency_limit_holds_across_workers(
    database_url: str, make_runner: MakeRunner
) -> None:
    import threading

    lock = threading.Lock()
    active = [0]
    peak = [0]

    def busy(ctx: Any, config: dict[str, Any]) -> None:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.05)
        with lock:
            active[0] -= 1

    workflow = register_workflow(
        Workflow("submit.capped", [Step.lambda_("busy", busy)], max_concurrent_runs=2)
    )
    client = make_runner(database_url=database_url)
    ids = [client.submit(workflow) for _ in range(12)]
    workers = [make_runner(database_url=database_url) for _ in range(4)]

    def drain(runner: WorkflowRunner) -> None:
        deadline = time.time() + 30
        store = client.store
        assert store is not None
        while time.time() < deadline:
            runner.run_pending()
            if all(store.load_run(i).run.status == "COMPLETED" for i in ids):
                return
            time.sleep(0.01)

    threads = [threading.Thread(target=drain, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(40)
    assert peak[0] == 2
    store = client.store
    assert store is not None
    assert {store.load_run(i).run.status for i in ids} == {"COMPLETED"}


def test_max_concurrent_runs_is_validated() -> None:
    with pytest.raises(ValueError, match="max_concurrent_runs"):
        Workflow("submit.badcap", [Step.lambda_("s", lambda c, k: None)], max_concurrent_runs=0)


def test_a_claimed_run_starts_when_claimed(sqlite_url: str, make_runner: MakeRunner) -> None:
    from spine.testing import FakeClock

    clock = FakeClock()
    workflow = register_workflow(double_workflow("submit.started"))
    runner = make_runner(database_url=sqlite_url, clock=clock)
    run_id = runner.submit(workflow, params={"n": 1})
    submitted = runner.store.load_run(run_id).run.started_at  # type: ignore[union-attr]
    clock.advance(60)
    [result] = runner.run_pending()
    assert result.started_at.timestamp() == pytest.approx(submitted + 60)
