"""A 50-step durable run SIGKILLed at random moments, again and again, finishes once.

A real subprocess (``worker_app.py chain ...``) executes the run; the test kills it
with SIGKILL a random 20-300 ms after it is ready, and continues the run with a
new subprocess (``resume`` or ``recover``, themselves killed too) or in this
process. After every kill it takes a snapshot of the committed step rows and of
the side-effect file (one line per step execution), and at the end checks:

- the run's row is COMPLETED and its outputs equal those of an uninterrupted run;
- a step whose row was committed never ran again: its line count at the end is
  the one it had at the kill after which it was seen committed;
- a step ran more than once only when it was in flight at a kill (its line was
  written, its row not committed): ``lines(step) == 1 + interrupted(step)``, so
  ``lines(step) <= 1 + kills``;
- the stored rows are consistent: step_order increasing, each step exactly one
  COMPLETED row, each row's next_step naming the next row, the last one NULL.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
import worker_app
from worker_app import (
    CHAIN_STEPS,
    chain_step_name,
    chain_workflow,
    count_lines,
    database,
    expected_chain_outputs,
    run_row,
    step_rows,
)

from spine.orchestration import WorkflowRunner, WorkflowStatus
from spine.orchestration.engine.journal import json_ready

pytestmark = pytest.mark.timeout(180)

WORKER = Path(worker_app.__file__)
KILLS_PER_BACKEND = 20
MAX_KILLS_PER_RUN = 8
MIN_RUNS = 3
STEP_NAMES = [chain_step_name(i) for i in range(CHAIN_STEPS)]


@dataclass
class Snapshot:
    """What was durable when a worker had just been killed."""

    exists: bool
    status: str | None
    committed: set[str]
    lines: Counter[str]


def snapshot(url: str, run_id: str, log: str) -> Snapshot:
    with database(url) as conn:
        row = run_row(conn, run_id)
        rows = step_rows(conn, run_id)
    committed = {r.step_name for r in rows if r.status == "COMPLETED"}
    lines = count_lines(log, run_id)
    snap = Snapshot(row is not None, row.status if row else None, committed, lines)
    # The committed rows are a prefix of the chain: a row is committed before the
    # next step starts.
    prefix = STEP_NAMES[: len(rows)]
    assert [r.step_name for r in rows] == prefix, rows
    assert committed == set(prefix)
    # Each committed step's side effect happened, before its row.
    assert all(lines[name] >= 1 for name in committed), (committed, lines)
    # At most one step is in flight: the one right after the committed prefix.
    in_flight = {name for name in lines if name not in committed}
    assert in_flight <= set(STEP_NAMES[len(rows) : len(rows) + 1]), (in_flight, len(rows))
    return snap


def spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def attempt(url: str, action: str, run_id: str, log: str, delay: float | None) -> bool:
    """One worker process; SIGKILLed ``delay`` s after it is ready. True: it was killed."""
    with spawn("chain", action, url, run_id, log) as proc:
        assert proc.stdout is not None
        ready = proc.stdout.readline()
        if ready.strip() != "ready":
            proc.kill()
            _, err = proc.communicate()
            pytest.fail(f"worker did not start ({ready!r}): {err}")
        if delay is not None:
            time.sleep(delay)
            if proc.poll() is None:  # not reaped yet, so the pid is still this process's
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                if proc.returncode == -signal.SIGKILL:
                    if url.startswith("postgresql"):
                        # A statement the killed process had sent still commits on the
                        # server (autocommit): let it land before the snapshot reads.
                        time.sleep(0.3)
                    return True
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, f"worker {action} exited {proc.returncode}: {err}"
        assert out.split() == ["done", "COMPLETED"], (out, err)
        return False


def check_finished_run(
    url: str, run_id: str, log: str, snapshots: list[Snapshot], reference: dict[str, object]
) -> int:
    """Check a run that ended; returns how many step executions kills cut short."""
    with database(url) as conn:
        row = run_row(conn, run_id)
        rows = step_rows(conn, run_id)
    assert row is not None
    assert row.status == "COMPLETED", (row.status, row.error)
    assert json.loads(row.outputs) == reference
    assert (row.completed_steps, row.failed_steps, row.total_steps) == (CHAIN_STEPS, 0, CHAIN_STEPS)

    # Rows: one COMPLETED row per step, in order, each pointing at the next.
    assert [r.step_name for r in rows] == STEP_NAMES
    assert {r.status for r in rows} == {"COMPLETED"}
    orders = [r.step_order for r in rows]
    assert all(a < b for a, b in itertools.pairwise(orders)), orders
    assert [r.next_step for r in rows] == [*STEP_NAMES[1:], None]
    assert [json.loads(r.outputs) for r in rows] == [reference[n] for n in STEP_NAMES]

    # Side effects.
    final = count_lines(log, run_id)
    kills = len(snapshots)
    interrupted: Counter[str] = Counter()
    before: Counter[str] = Counter()
    for snap in snapshots:
        for name in STEP_NAMES:
            grew = snap.lines[name] - before[name]
            assert grew <= 1, f"{name} ran {grew} times in one process"
            if name in snap.committed:
                # Recorded COMPLETED at this kill: it must never run again.
                assert final[name] == snap.lines[name], (
                    f"step {name} ran again after its row was committed "
                    f"({snap.lines[name]} then {final[name]} executions)"
                )
            elif grew:
                interrupted[name] += 1  # in flight at this kill: its row was not committed
        before = snap.lines
    for name in STEP_NAMES:
        assert final[name] <= 1 + kills
        assert final[name] == 1 + interrupted[name], (
            f"step {name}: {final[name]} executions, {interrupted[name]} of them cut by a kill"
        )
    assert set(final) == set(STEP_NAMES)
    return sum(interrupted.values())


def test_sigkilled_chain_runs_complete_without_rerunning_committed_steps(
    database_url: str, tmp_path: Path
) -> None:
    worker_app.register_all()  # for the recoveries in this process
    rng = random.Random(1234)
    with WorkflowRunner() as plain:
        uninterrupted = plain.execute(
            chain_workflow(), params={"seed": 7, "log": str(tmp_path / "reference.log")}
        )
    assert uninterrupted.status == WorkflowStatus.COMPLETED
    reference = json_ready(uninterrupted.outputs)
    assert reference == expected_chain_outputs(7)

    kills = killed_recoveries = in_process = mid_run = repeated = 0
    runs = 0
    started = time.monotonic()
    while kills < KILLS_PER_BACKEND or runs < MIN_RUNS:
        run_id = f"chain-{runs}-{uuid.uuid4().hex[:8]}"
        log = str(tmp_path / f"{run_id}.log")
        snapshots: list[Snapshot] = []
        action = "execute"
        while True:
            delay = rng.uniform(0.02, 0.3) if len(snapshots) < MAX_KILLS_PER_RUN else None
            if not attempt(database_url, action, run_id, log, delay):
                break
            killed_recoveries += action != "execute"
            snap = snapshot(database_url, run_id, log)
            snapshots.append(snap)
            if snap.status == "COMPLETED":
                break  # killed after the run's end was committed
            if not snap.exists:
                action = "execute"  # killed before the run's row was committed
                continue
            assert snap.status == "RUNNING"
            # Continue in this process now and then (always once, in the first run).
            if (runs == 0 and len(snapshots) == 2) or rng.random() < 0.15:
                in_process += 1
                with WorkflowRunner(database_url=database_url) as runner:
                    results = runner.recover()
                assert [r.run_id for r in results] == [run_id]
                assert results[0].status == WorkflowStatus.COMPLETED
                assert json_ready(results[0].outputs) == reference
                break
            action = "resume" if rng.random() < 0.6 else "recover"
        repeated += check_finished_run(database_url, run_id, log, snapshots, reference)
        mid_run += sum(0 < len(s.committed) < CHAIN_STEPS for s in snapshots)
        kills += len(snapshots)
        runs += 1
    elapsed = time.monotonic() - started
    print(
        f"{runs} runs, {kills} kills ({killed_recoveries} of recoveries), "
        f"{in_process} recovered in-process, {mid_run} kills between steps 1 and 50, "
        f"{repeated} step executions cut short, {elapsed:.1f} s"
    )
    assert kills >= KILLS_PER_BACKEND
    assert killed_recoveries >= 1
    assert in_process >= 1
    # The kills did land mid-run, some of them inside a step (at-least-once for those).
    assert mid_run >= KILLS_PER_BACKEND // 2
    assert repeated >= 1
