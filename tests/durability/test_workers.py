"""Three `spine worker` processes over 200 submitted runs; one is SIGKILLed halfway."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest

from spine.orchestration import WorkflowRunner

pytestmark = pytest.mark.timeout(180)

APP = """
import os, time
from spine.orchestration import Step, Workflow, register_workflow

LOG = os.environ["SPINE_TEST_SIDE_EFFECTS"]

def effect(name):
    def step(ctx, config):
        with open(LOG, "a") as log:
            log.write(f"{ctx.run_id} {name}\\n")
            log.flush()
            os.fsync(log.fileno())
        time.sleep(0.004)
        return {"step": name, "n": ctx.get_param("n")}
    return step

flow = register_workflow(Workflow("workers.flow", [
    Step.lambda_(name, effect(name)) for name in ("a", "b", "c")
]))
"""


def test_runs_complete_once_when_a_worker_is_killed(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = tmp_path / "workers_app.py"
    app.write_text(textwrap.dedent(APP))
    log = tmp_path / "effects.log"
    log.touch()
    env = {**os.environ, "SPINE_TEST_SIDE_EFFECTS": str(log), "PYTHONUNBUFFERED": "1"}
    monkeypatch.setenv("SPINE_TEST_SIDE_EFFECTS", str(log))
    sys.path.insert(0, str(tmp_path))
    try:
        import workers_app

        flow = workers_app.flow
    finally:
        sys.path.remove(str(tmp_path))
    with WorkflowRunner(database_url=postgres_url) as client:
        ids = [client.submit(flow, params={"n": n}) for n in range(200)]
        workers = [
            subprocess.Popen(
                [sys.executable, "-m", "spine.cli.main", "--db", postgres_url, "worker",
                 "--app", str(app), "--poll", "0.05"],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
            )
            for _ in range(3)
        ]  # fmt: skip
        store = client.store
        assert store is not None
        try:
            deadline = time.time() + 60
            while time.time() < deadline and len(log.read_text().splitlines()) < 300:
                time.sleep(0.02)
            victim = workers[0]
            victim.send_signal(signal.SIGKILL)
            victim.wait(10)  # reaped, so its process id is known to be gone
            if victim.stderr is not None:
                victim.stderr.close()
            while time.time() < deadline:
                done = store.list_runs(workflow="workers.flow", status="COMPLETED", limit=300)
                if len(done) == len(ids):
                    break
                time.sleep(0.1)
        finally:
            for worker in workers[1:]:
                worker.send_signal(signal.SIGTERM)
            for worker in workers[1:]:
                worker.communicate(timeout=30)
        assert {store.load_run(i).run.status for i in ids} == {"COMPLETED"}
        for run_id in ids[:5]:
            assert store.load_run(run_id).run.outputs == {
                name: {"step": name, "n": ids.index(run_id)} for name in ("a", "b", "c")
            }
    effects = Counter(tuple(line.split()) for line in log.read_text().splitlines())
    assert {(run_id, name) for run_id in ids for name in "abc"} == set(effects)
    repeated = [key for key, count in effects.items() if count > 1]
    # Only the step the killed worker was executing may have run twice.
    assert len(repeated) <= 1
    assert all(count <= 2 for count in effects.values())
    assert all(w.returncode == 0 for w in workers[1:])
