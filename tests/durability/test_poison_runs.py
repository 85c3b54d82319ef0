"""A step that kills its worker every time: the run ends FAILED at the recovery limit
(its alert sent), and the runs behind it still complete."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from spine.orchestration import WorkflowRunner, WorkflowStatus, register_workflow

pytestmark = pytest.mark.timeout(120)

APP = """
import os, signal
from spine.orchestration import Step, Workflow, register_workflow

def poison(ctx, config):
    with open(os.environ["SPINE_TEST_SIDE_EFFECTS"], "a") as log:
        log.write(f"{ctx.run_id} poison {os.getpid()}\\n")
    os.kill(os.getpid(), signal.SIGKILL)

poisoned = register_workflow(Workflow("poison.flow", [
    Step.lambda_("before", lambda ctx, config: {"ok": 1}),
    Step.lambda_("poison", poison),
], recovery_limit=3, alert_on=["FAILED"]))
healthy = register_workflow(Workflow("poison.healthy", [
    Step.lambda_("fine", lambda ctx, config: {"fine": True}),
]))
"""


def test_a_step_that_kills_its_worker_every_time_ends_the_run_at_the_limit(
    database_url: str, tmp_path: Path
) -> None:
    app = tmp_path / "poison_app.py"
    app.write_text(textwrap.dedent(APP))
    log = tmp_path / "effects.log"
    log.touch()
    env = {**os.environ, "SPINE_TEST_SIDE_EFFECTS": str(log)}
    command = [sys.executable, "-m", "spine.cli.main", "--db", database_url, "worker",
               "--app", str(app), "--poll", "0.05"]  # fmt: skip
    sys.path.insert(0, str(tmp_path))
    try:
        import poison_app  # the workers' very definitions, so that resume accepts them
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("poison_app", None)
    register_workflow(poison_app.poisoned)
    register_workflow(poison_app.healthy)
    with WorkflowRunner(database_url=database_url) as client:
        store = client.store
        assert store is not None
        poison_id = client.submit(poison_app.poisoned)
        deaths = 0
        worker = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  env=env)  # fmt: skip
        try:
            deadline = time.time() + 60
            # The supervisor: a worker the poison step killed is started again.
            while time.time() < deadline:
                if store.load_run(poison_id).run.status == WorkflowStatus.FAILED:
                    break
                if worker.poll() is not None:
                    if worker.stderr is not None:
                        worker.stderr.close()
                    assert worker.returncode == -signal.SIGKILL
                    deaths += 1
                    worker = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                                              stderr=subprocess.PIPE, env=env)  # fmt: skip
                time.sleep(0.05)
            healthy_id = client.submit(poison_app.healthy)
            while time.time() < deadline:
                if store.load_run(healthy_id).run.status == WorkflowStatus.COMPLETED:
                    break
                time.sleep(0.05)
        finally:
            worker.send_signal(signal.SIGTERM)
            _, errors = worker.communicate(timeout=30)

        run = store.load_run(poison_id).run
        assert run.status == WorkflowStatus.FAILED
        assert run.error_category == "WORKER_LOST"
        assert "died 3 times in a row (recovery limit 3)" in (run.error or "")
        assert run.error_step == "poison"
        assert deaths == 3
        assert len(log.read_text().splitlines()) == 3  # executed once per death, no more
        assert store.load_run(healthy_id).run.status == WorkflowStatus.COMPLETED
        assert worker.returncode == 0
        assert b"Traceback" not in errors


def test_a_run_stopped_at_the_limit_gets_its_limit_again_when_resumed(database_url: str) -> None:
    """The count of takeovers is the run's since it was last resumed by hand: a run the
    limit stopped, fixed and resumed, may again lose that many workers."""
    from spine.core.records import Owner, RunRecord
    from spine.store import SqlStore

    dead, fixer = Owner("dead", "elsewhere", 1), Owner("fixer", "here", 2)
    with SqlStore(database_url) as store:
        store.create_run(RunRecord(run_id="limit", workflow_name="w", status="RUNNING",
                                   started_at=1.0, params={}, partition={}, owner=dead,
                                   heartbeat_at=1.0))  # fmt: skip
        for _ in range(3):
            store.record_takeover("limit", dead, 1)
        stopped = RunRecord(run_id="limit", workflow_name="w", status="FAILED", started_at=1.0,
                            params={}, partition={}, completed_at=2.0)  # fmt: skip
        store.finish_run(stopped)
        assert store.load_run("limit").run.takeovers == 3
        assert store.claim(store.load_run("limit").run, fixer, 3.0) is not None
        assert store.load_run("limit").run.takeovers == 0
        assert store.record_takeover("limit", fixer, 1) == 1
