"""Ctrl-C in `spine run`: once stops the run at the next step boundary (CANCELLED, exit
130); twice exits at once and leaves the run for `spine resume`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from spine.store import SqlStore

pytestmark = pytest.mark.timeout(60)

FLOW = """
import os, time
from spine.orchestration import Step, Workflow

def step(name):
    def run(ctx, config):
        with open(os.environ["SPINE_TEST_STEPS"], "a") as log:
            log.write(name + "\\n")
        if not os.environ.get("SPINE_TEST_FAST"):
            time.sleep(1.0)
        return {"step": name}
    return run

flow = Workflow("ctrl_c.flow", [Step.lambda_(f"s{i}", step(f"s{i}")) for i in range(4)])
"""


def _start(tmp_path: Path, url: str) -> tuple[subprocess.Popen[str], Path]:
    flows = tmp_path / "ctrl_c_flow.py"
    flows.write_text(textwrap.dedent(FLOW))
    log = tmp_path / "steps.log"
    log.touch()
    env = {**os.environ, "SPINE_TEST_STEPS": str(log), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "spine.cli.main", "--db", url, "run", f"{flows}:flow"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    deadline = time.time() + 30
    while time.time() < deadline and not log.read_text():
        time.sleep(0.02)
    assert log.read_text() == "s0\n"
    return process, log


def _only_run(url: str) -> tuple[str, str]:
    with SqlStore(url) as store:
        [run] = store.list_runs(workflow="ctrl_c.flow")
        return run.run_id, run.status


def test_one_ctrl_c_stops_the_run_at_the_next_step_boundary(
    sqlite_url: str, tmp_path: Path
) -> None:
    process, log = _start(tmp_path, sqlite_url)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)

    assert process.returncode == 130, (out, err)
    assert "stopping at the next step boundary" in err
    assert "Traceback" not in err
    assert log.read_text() == "s0\n"  # the step in flight finished; none started after
    run_id, status = _only_run(sqlite_url)
    assert status == "CANCELLED"
    assert "CANCELLED" in out
    with SqlStore(sqlite_url) as store:
        assert [s.step_name for s in store.load_run(run_id).steps] == ["s0"]


def test_a_second_ctrl_c_exits_at_once_and_leaves_the_run_resumable(
    sqlite_url: str, tmp_path: Path
) -> None:
    process, log = _start(tmp_path, sqlite_url)
    process.send_signal(signal.SIGINT)
    time.sleep(0.2)
    pressed = time.monotonic()
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)

    assert process.returncode == 130, (out, err)
    assert time.monotonic() - pressed < 0.9  # before the step in flight (1 s) ended
    run_id, status = _only_run(sqlite_url)
    assert status == "RUNNING"
    assert f"spine resume {run_id}" in err
    env = {**os.environ, "SPINE_TEST_STEPS": str(log), "SPINE_TEST_FAST": "1"}
    resumed = subprocess.run(
        [sys.executable, "-m", "spine.cli.main", "--db", sqlite_url, "resume", run_id],
        capture_output=True, text=True, env=env, timeout=30,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert _only_run(sqlite_url)[1] == "COMPLETED"
    assert log.read_text().split() == ["s0", "s0", "s1", "s2", "s3"]  # s0 was in flight


def test_ctrl_c_in_spine_resume_stops_the_resumed_run_too(sqlite_url: str, tmp_path: Path) -> None:
    process, log = _start(tmp_path, sqlite_url)
    process.send_signal(signal.SIGINT)
    time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=30)
    run_id, status = _only_run(sqlite_url)
    assert status == "RUNNING"
    env = {**os.environ, "SPINE_TEST_STEPS": str(log), "PYTHONUNBUFFERED": "1"}
    resumed = subprocess.Popen(
        [sys.executable, "-m", "spine.cli.main", "--db", sqlite_url, "resume", run_id],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    deadline = time.time() + 30
    while time.time() < deadline and log.read_text().count("s0") < 2:
        time.sleep(0.02)
    resumed.send_signal(signal.SIGINT)
    out, err = resumed.communicate(timeout=30)

    assert resumed.returncode == 130, (out, err)
    assert "stopping at the next step boundary" in err
    assert _only_run(sqlite_url)[1] == "CANCELLED"
    assert log.read_text().split() == ["s0", "s0"]  # the resumed s0 finished; no s1


MAP_FLOW = """
import os, time
from spine.orchestration import Step, Workflow

def work(ctx, config):
    with open(os.environ["SPINE_TEST_STEPS"], "a") as log:
        log.write(f"item{ctx.params['item']}\\n")
    time.sleep(1.0)
    return {"n": ctx.params["item"]}

item = Workflow("ctrl_c.item", [Step.lambda_("work", work)])
flow = Workflow("ctrl_c.map", [Step.map("each", "items", item, max_concurrency=2),
                              Step.lambda_("after", lambda ctx, config: {})])
"""


def test_ctrl_c_in_the_terminal_reaches_worker_processes_too_and_stops_the_run(
    sqlite_url: str, tmp_path: Path
) -> None:
    """A terminal sends Ctrl-C to the whole process group: the map's worker processes
    finish their items, and the run still stops at the boundary."""
    flows = tmp_path / "ctrl_c_map.py"
    flows.write_text(textwrap.dedent(MAP_FLOW))
    log = tmp_path / "steps.log"
    log.touch()
    env = {**os.environ, "SPINE_TEST_STEPS": str(log), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "spine.cli.main", "--db", sqlite_url, "run", f"{flows}:flow",
         "-p", "items=[1,2,3,4,5,6]", "--executor", "processes"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        start_new_session=True,
    )  # fmt: skip
    deadline = time.time() + 30
    while time.time() < deadline and len(log.read_text().split()) < 2:
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGINT)
    out, err = process.communicate(timeout=30)

    assert process.returncode == 130, (out, err)
    assert "Traceback" not in err
    with SqlStore(sqlite_url) as store:
        [run] = store.list_runs(workflow="ctrl_c.map")
        assert run.status == "CANCELLED"
        done = store.list_runs(parent=run.run_id, top_level=False)
        assert sorted(r.status for r in done) == ["COMPLETED", "COMPLETED"]  # both in flight
    assert sorted(log.read_text().split()) == ["item1", "item2"]
