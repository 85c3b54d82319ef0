"""Three `spine worker` processes on PostgreSQL fire schedules due every second: each due
time starts exactly one run, ``max_instances`` holds, and times missed while no worker
ran follow their misfire policy."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

import pytest

from spine.orchestration.schedules import Schedule, ScheduleFire
from spine.store import SqlScheduleStore, open_store

pytestmark = pytest.mark.timeout(120)

APP = """
import time
from spine.orchestration import Step, Workflow, register_workflow

register_workflow(Workflow("sched.quick", [Step.lambda_("a", lambda ctx, cfg: {"ok": True})]))
register_workflow(Workflow("sched.slow", [Step.lambda_("nap", lambda ctx, cfg: time.sleep(1.5))]))
"""

TWO_YEARS = 2 * 366 * 86400


def _fires(store: SqlScheduleStore, name: str) -> list[ScheduleFire]:
    return sorted(store.history(name, limit=1000), key=lambda f: f.due_at)


def _wait_for(condition: Callable[[], bool], seconds: float) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"still not true after {seconds} s")


def _worker(url: str, app: Path, out: Path, err: Path) -> subprocess.Popen[bytes]:
    with out.open("w") as stdout, err.open("w") as stderr:
        return subprocess.Popen(
            [sys.executable, "-m", "spine.cli.main", "--db", url, "worker", "--app", str(app),
             "--poll", "0.05", "--concurrency", "2"],
            stdout=stdout, stderr=stderr, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip


def test_workers_fire_each_due_time_exactly_once(postgres_url: str, tmp_path: Path) -> None:
    app = tmp_path / "schedule_app.py"
    app.write_text(textwrap.dedent(APP))
    with open_store(postgres_url) as history, SqlScheduleStore(history) as store:
        store.add(Schedule("tick", "sched.quick", "* * * * * *", max_instances=50))
        store.add(Schedule("slow", "sched.slow", "* * * * * *", max_instances=1))
        # Due times two years old: found long past their grace by the first worker.
        ago = time.time() - TWO_YEARS
        store.add(Schedule("yearly", "sched.quick", "0 0 1 1 *"), now=ago)
        store.add(Schedule("yearly-skip", "sched.quick", "0 0 1 1 *", misfire="skip"), now=ago)

        logs = [(tmp_path / f"out-{i}.log", tmp_path / f"err-{i}.log") for i in range(3)]
        workers = [_worker(postgres_url, app, out, err) for out, err in logs]
        try:
            _wait_for(lambda: len(_fires(store, "tick")) >= 5, 40)
            store.pause("tick")
            store.pause("slow")
            live = ("PENDING", "RUNNING", "WAITING")
            _wait_for(lambda: not any(r.status in live for r in history.list_runs()), 20)
        finally:
            for worker in workers:
                worker.send_signal(signal.SIGTERM)
            for worker in workers:
                worker.wait(timeout=30)
        runs = history.list_runs(limit=1000)
        fires = {name: _fires(store, name) for name in ("tick", "slow", "yearly", "yearly-skip")}

    assert [w.returncode for w in workers] == [0, 0, 0]
    errors = [line for _, err in logs for line in err.read_text().splitlines()]
    assert not [line for line in errors if line.startswith("worker:")], errors
    by_schedule: dict[str | None, list[str]] = {}
    for run in runs:
        assert (run.status, run.triggered_by) == ("COMPLETED", "schedule")
        by_schedule.setdefault(run.schedule_id, []).append(run.run_id)

    # Every second from the first due time to the last is accounted for, once, and each
    # fired one started exactly one run: no run without its due time, none twice.
    for name in ("tick", "slow"):
        due_times = [f.due_at for f in fires[name]]
        assert {b - a for a, b in pairwise(due_times)} == {1.0}
        started = [f.run_id for f in fires[name] if f.run_id is not None]
        assert sorted(started) == sorted(by_schedule[name])
    assert {f.outcome for f in fires["tick"]} == {"fired"}

    # One slow run at a time: the others were skipped while one was pending or running.
    outcomes = [f.outcome for f in fires["slow"]]
    assert "skipped" in outcomes
    assert set(outcomes) == {"fired", "skipped"}
    slow = sorted((r for r in runs if r.schedule_id == "slow"), key=lambda r: r.started_at)
    for earlier, later in pairwise(slow):
        assert earlier.completed_at is not None
        assert later.started_at >= earlier.completed_at

    [late] = fires["yearly"]
    assert late.outcome == "late"
    assert by_schedule["yearly"] == [late.run_id]
    [missed] = fires["yearly-skip"]
    assert (missed.outcome, missed.run_id) == ("missed", None)
    assert "yearly-skip" not in by_schedule
