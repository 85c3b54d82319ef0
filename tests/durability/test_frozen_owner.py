"""An owner frozen (SIGSTOP) past its lease while another process recovers its run:
thawed, it starts no further step and changes no stored row."""

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

from spine.orchestration import WorkflowRunner, WorkflowStatus, register_workflow

pytestmark = pytest.mark.timeout(120)

APP = """
import os, sys, time
from spine.orchestration import Step, Workflow, WorkflowRunner, register_workflow

def step(name):
    def run(ctx, config):
        with open(os.environ["SPINE_TEST_SIDE_EFFECTS"], "a") as log:
            log.write(f"{name} {os.getpid()}\\n")
        time.sleep(0.3)
        return {"by": os.getpid()}
    return run

chain = register_workflow(Workflow("frozen.chain", [
    Step.lambda_(f"s{i}", step(f"s{i}")) for i in range(8)
]))

if __name__ == "__main__":
    with WorkflowRunner(database_url=sys.argv[1], lease_seconds=3) as runner:
        result = runner.execute(chain)
        print(result.status, result.note or "", flush=True)
"""


def test_a_thawed_owner_starts_nothing_and_writes_nothing(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = tmp_path / "frozen_app.py"
    app.write_text(textwrap.dedent(APP))
    log = tmp_path / "effects.log"
    log.touch()
    monkeypatch.setenv("SPINE_TEST_SIDE_EFFECTS", str(log))  # the recoverer's steps too
    env = {**os.environ, "SPINE_TEST_SIDE_EFFECTS": str(log)}
    sys.path.insert(0, str(tmp_path))
    try:
        import frozen_app  # the owner's very definition, so that resume accepts it
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("frozen_app", None)
    register_workflow(frozen_app.chain)
    owner = subprocess.Popen([sys.executable, str(app), database_url], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline = time.time() + 30
        while time.time() < deadline and len(log.read_text().splitlines()) < 3:
            time.sleep(0.02)
        owner.send_signal(signal.SIGSTOP)
        frozen_at = len(log.read_text().splitlines())
        time.sleep(3.5)  # past the 3 s lease: the heartbeat stopped with the process
        with WorkflowRunner(database_url=database_url, lease_seconds=3) as recoverer:
            [result] = recoverer.recover()
            assert result.status == WorkflowStatus.COMPLETED
            store = recoverer.store
            assert store is not None
            before = store.load_run(result.run_id)
            owner.send_signal(signal.SIGCONT)
            out, err = owner.communicate(timeout=30)
            after = store.load_run(result.run_id)
    finally:
        if owner.poll() is None:
            owner.send_signal(signal.SIGCONT)
            owner.kill()
            owner.communicate()

    assert out.split()[0] == "RUNNING", (out, err)
    assert "another process took the run over" in out
    # The thawed owner changed no stored row.
    assert after.run == before.run
    assert [(s.step_name, s.output) for s in after.steps] == [
        (s.step_name, s.output) for s in before.steps
    ]
    assert after.run.status == WorkflowStatus.COMPLETED
    # Each step recorded once, by the recoverer from the step in flight at the freeze on.
    assert [s.step_name for s in after.steps] == [f"s{i}" for i in range(8)]
    lines = [line.split() for line in log.read_text().splitlines()]
    by_owner = [name for name, pid in lines if int(pid) == owner.pid]
    assert len(by_owner) == frozen_at  # nothing started after the thaw
    executions = Counter(name for name, _ in lines)
    assert all(count <= 2 for count in executions.values())
    assert sum(1 for count in executions.values() if count == 2) <= 1  # the one in flight
