"""Three processes recover 100 crashed runs at once: each run finishes exactly once.

One subprocess (``worker_app.py batch-crash``) starts 100 runs of a 5-step workflow,
each nested in a step of the previous one, so that all are ``RUNNING`` with a step
in flight when the last one SIGKILLs the process. Run ``i`` is cut in step
``b{i % 5}``: its earlier steps are committed, that step's side effect happened,
its row was not written. Then three recovering subprocesses call ``recover()`` at
the same moment. PostgreSQL is the case that matters (any number of recovering
processes); SQLite runs the same test, its processes serialising on the file.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import worker_app
from sqlalchemy import text
from worker_app import BATCH_STEPS, all_step_rows, database, expected_batch_value, read_lines

pytestmark = pytest.mark.timeout(180)

WORKER = Path(worker_app.__file__)
RUNS = 100
RECOVERERS = 3
STEPS = [f"b{i}" for i in range(BATCH_STEPS)]


def spawn(*args: str, stdin: int | None = subprocess.DEVNULL) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), *args],
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def all_runs(url: str) -> dict[int, Any]:
    """The stored runs of the batch workflow, by item index (their ``i`` param)."""
    with database(url) as conn:
        rows = conn.execute(text("SELECT * FROM core_workflow_runs")).all()
    return {json.loads(r.params)["i"]: r for r in rows}


def steps_of(url: str) -> dict[str, list[Any]]:
    with database(url) as conn:
        rows = all_step_rows(conn)
    found: dict[str, list[Any]] = {}
    for row in rows:
        found.setdefault(row.run_id, []).append(row)
    return found


def crash_runs(url: str, log: str) -> None:
    with spawn("batch-crash", url, log, str(RUNS)) as proc:
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, out, err)


def test_concurrent_recover_runs_each_crashed_run_exactly_once(
    postgres_url: str, tmp_path: Path
) -> None:
    recover_concurrently(postgres_url, tmp_path)


def test_concurrent_recover_on_one_sqlite_file(sqlite_url: str, tmp_path: Path) -> None:
    """The same on SQLite: the processes serialise on the file, each run still runs once."""
    recover_concurrently(sqlite_url, tmp_path)


def recover_concurrently(url: str, tmp_path: Path) -> None:
    log = str(tmp_path / "effects.log")
    crash_runs(url, log)

    crashed = all_runs(url)
    assert sorted(crashed) == list(range(RUNS))
    assert {r.status for r in crashed.values()} == {"RUNNING"}
    crash_pid = {r.owner_pid for r in crashed.values()}
    assert len(crash_pid) == 1
    before = steps_of(url)
    for i, run in crashed.items():
        cut = i % BATCH_STEPS
        assert [s.step_name for s in before.get(run.run_id, [])] == STEPS[:cut]
    effects = read_lines(log)
    assert len(effects) == sum(i % BATCH_STEPS + 1 for i in range(RUNS))

    reports: list[dict[str, Any]] = []
    with ExitStack() as stack:  # on a failure: stdin closed, so each exits; then reaped
        recoverers = [
            stack.enter_context(spawn("batch-recover", url, log, stdin=subprocess.PIPE))
            for _ in range(RECOVERERS)
        ]
        for proc in recoverers:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "ready"
        for proc in recoverers:  # all start recovering at the same moment
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        for proc in recoverers:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            reports.append(json.loads(out))

    # Each run was executed by exactly one recoverer, and ended COMPLETED there.
    executed = [run_id for report in reports for run_id in report["executed"]]
    assert sorted(executed) == sorted(r.run_id for r in crashed.values())
    assert all(set(r["statuses"]) <= {"COMPLETED"} for r in reports), reports
    busy = [len(r["executed"]) for r in reports]
    assert sum(1 for n in busy if n) >= 2, f"runs executed per recoverer: {busy}"
    noops = [len(r["noop"]) for r in reports]
    print(f"runs executed per recoverer: {busy}; already-completed results: {noops}")
    executor = {run_id: r["pid"] for r in reports for run_id in r["executed"]}

    finished = all_runs(url)
    after = steps_of(url)
    lines = read_lines(log)
    for i, run in finished.items():
        assert run.status == "COMPLETED", (i, run.status, run.error)
        assert json.loads(run.outputs)[STEPS[-1]]["value"] == expected_batch_value(i)
        rows = after[run.run_id]
        assert [(r.step_name, r.step_order, r.status) for r in rows] == [
            (name, n, "COMPLETED") for n, name in enumerate(STEPS)
        ]
        assert rows[-1].next_step is None
        # Side effects: steps committed before the crash ran once (in the crashed
        # process); the step in flight at the crash ran twice; the rest once, all
        # of those in the one recoverer that executed the run.
        cut = i % BATCH_STEPS
        mine = [(step, pid) for rid, step, pid in lines if rid == run.run_id]
        expected = [(name, next(iter(crash_pid))) for name in STEPS[: cut + 1]]
        expected += [(name, executor[run.run_id]) for name in STEPS[cut:]]
        assert sorted(mine) == sorted(expected), (i, mine)
