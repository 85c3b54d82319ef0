"""Durable waits: a run killed during a 3 s wait finishes at its original deadline,
and a runner told not to block leaves the run WAITING for ``recover()``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
import worker_app
from worker_app import WAIT, WAIT_SECONDS, count_lines, database, run_row, step_rows, wait_workflow

from spine.orchestration import (
    WorkflowContext,
    WorkflowRunner,
    WorkflowStatus,
    register_workflow,
)

pytestmark = pytest.mark.timeout(60)

WORKER = Path(worker_app.__file__)
MakeRunner = Callable[..., WorkflowRunner]


def ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def test_run_killed_during_a_wait_finishes_at_the_original_deadline(
    database_url: str, tmp_path: Path, make_runner: MakeRunner
) -> None:
    log = str(tmp_path / "effects.log")
    run_id = f"wait-{uuid.uuid4().hex[:8]}"
    with subprocess.Popen(
        [sys.executable, str(WORKER), "wait", database_url, log, run_id],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        assert proc.stdout.readline().strip() == "started"  # printed by the step before the wait
        time.sleep(1.0)
        assert proc.poll() is None, proc.communicate()
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL

    with database(database_url) as conn:
        row = run_row(conn, run_id)
        rows = step_rows(conn, run_id)
    assert row.status == "WAITING"
    started = ts(row.started_at)
    assert [r.step_name for r in rows] == ["before"]
    deadline = ts(row.wake_at)
    assert started + WAIT_SECONDS <= deadline < started + WAIT_SECONDS + 0.5

    worker_app.register_all()
    runner = make_runner(database_url=database_url)  # block_on_waits=True by default
    results = runner.recover()
    assert [r.run_id for r in results] == [run_id]
    assert results[0].status == WorkflowStatus.COMPLETED
    assert results[0].outputs["after"] == {"n": 2}

    with database(database_url) as conn:
        row = run_row(conn, run_id)
        rows = step_rows(conn, run_id)
    assert row.status == "COMPLETED"
    assert row.wake_at is None or ts(row.wake_at) == deadline
    assert [(r.step_name, r.status) for r in rows] == [
        ("before", "COMPLETED"),
        ("w", "COMPLETED"),
        ("after", "COMPLETED"),
    ]
    waited_until = ts(rows[1].completed_at)
    after_done = ts(rows[2].completed_at)
    # The wait ended at its original deadline, about 3 s after the start: not a
    # fresh 3 s wait from the recovery (which would end at about 4 s).
    print(f"wait ended at +{waited_until - started:.3f} s, after at +{after_done - started:.3f} s")
    assert started + WAIT_SECONDS <= waited_until
    assert started + WAIT_SECONDS <= after_done < started + WAIT_SECONDS + 0.9
    assert count_lines(log, run_id) == {"before": 1, "after": 1}


def test_a_runner_that_does_not_block_leaves_the_run_waiting(
    database_url: str, tmp_path: Path, make_runner: MakeRunner
) -> None:
    seconds = 1.0
    log = str(tmp_path / "effects.log")
    workflow = wait_workflow(seconds)
    register_workflow(workflow)  # for recover(), which finds it by name
    runner = make_runner(database_url=database_url, block_on_waits=False)

    t0 = time.time()
    context = WorkflowContext.create(WAIT, params={"log": log})
    result = runner.execute(workflow, context=context)
    returned = time.time()
    assert result.status == WorkflowStatus.WAITING
    assert returned - t0 < 0.5 * seconds
    run_id = result.run_id

    with database(database_url) as conn:
        row = run_row(conn, run_id)
        rows = step_rows(conn, run_id)
    assert row.status == "WAITING"
    assert row.owner_id is None  # no process holds it while it waits
    deadline = ts(row.wake_at)
    assert ts(row.started_at) + seconds <= deadline <= returned + seconds
    assert [r.step_name for r in rows] == ["before"]

    # Before the deadline: nothing to do, for this runner or another one.
    assert runner.recover() == []
    other = make_runner(database_url=database_url, block_on_waits=False)
    assert other.recover() == []
    with database(database_url) as conn:
        assert run_row(conn, run_id).status == "WAITING"
        assert [r.step_name for r in step_rows(conn, run_id)] == ["before"]
    assert count_lines(log, run_id) == {"before": 1}

    time.sleep(max(0.0, deadline - time.time()) + 0.05)
    results = other.recover()
    assert [r.run_id for r in results] == [run_id]
    assert results[0].status == WorkflowStatus.COMPLETED
    with database(database_url) as conn:
        row = run_row(conn, run_id)
        rows = step_rows(conn, run_id)
    assert row.status == "COMPLETED"
    assert json.loads(row.outputs)["after"] == {"n": 2}
    assert [r.step_name for r in rows] == ["before", "w", "after"]
    assert ts(rows[2].completed_at) >= deadline
    assert count_lines(log, run_id) == {"before": 1, "after": 1}
    assert runner.recover() == []
