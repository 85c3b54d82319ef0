"""`spine cancel` sent to each of 120 runs, at a random moment, while two `spine worker`
processes execute them: an accepted cancel ends its run CANCELLED with no step started
after the command returned; a refused one was for a run that had already completed."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

from spine.orchestration import Step, Workflow, WorkflowRunner, register_workflow
from spine.store import open_store

pytestmark = pytest.mark.timeout(120)

RUNS = 120
STEPS = [f"s{i}" for i in range(4)]
SPREAD = 8.0
"""Seconds over which the workers go through the runs (about)."""
RUN_SECONDS = 0.4
"""How long one run takes, uncancelled."""

APP = """
import os, time
from spine.orchestration import Step, Workflow, register_workflow

def marked(name):
    def step(ctx, config):
        started = time.time()
        # "run_id step start_time": one write on an O_APPEND file, before the step works.
        fd = os.open(os.environ["SPINE_TEST_MARKERS"], os.O_WRONLY | os.O_APPEND)
        try:
            os.write(fd, f"{ctx.run_id} {name} {started!r}\\n".encode())
        finally:
            os.close(fd)
        time.sleep(0.1)
        return {"step": name}
    return step

register_workflow(Workflow("cancels.flow", [Step.lambda_(f"s{i}", marked(f"s{i}"))
                                            for i in range(4)]))
"""

# `python -m spine.cli.main cancel` costs 0.6-0.8 s of CPU, nearly all of it imports
# (SQLAlchemy, psycopg): 120 of them take most of a minute on a two-core machine. So this
# program imports the CLI once and forks a process per cancel, which runs `spine --db URL
# cancel RUN_ID` through the CLI's own entry point, with its own connection, output and
# exit code. It prints, as JSON, the exit code of each and when it saw it exit (as
# subprocess.run() returns); each child appends when it asked and when it had answered.
CANCELLER = """
import gc, json, os, sys, time

import spine.commands, spine.store, spine.store.engine  # what `spine cancel` imports
from spine.cli.main import main

try:
    import psycopg  # noqa: F401  (connecting to PostgreSQL imports it)
except ImportError:
    pass

def cancel(url, run_id, out, answers):
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    sys.argv = ["spine", "--db", url, "cancel", run_id]
    asked = time.time()
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    sys.stdout.flush()
    answered = time.time()  # its answer committed and printed
    line = json.dumps({"run": run_id, "asked": asked, "answered": answered}) + "\\n"
    fd = os.open(answers, os.O_WRONLY | os.O_APPEND)
    os.write(fd, line.encode())
    os.close(fd)
    os._exit(code)  # (a full interpreter shutdown in a forked copy takes a second)

def main_loop(url, schedule_file, markers, outputs, answers, at_once):
    # Each entry: [run_id, anchor, delay]: the cancel is due `delay` seconds after "go",
    # or after the run's first step started ("s0", as the step's marker says).
    with open(schedule_file) as fh:
        entries = json.load(fh)
    due = sorted((delay, run_id) for run_id, anchor, delay in entries if anchor == "go")
    after_start = {run_id: delay for run_id, anchor, delay in entries if anchor == "s0"}
    gc.freeze()  # the children share the imported modules' pages rather than copy them
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return 2
    start = time.time()
    due = [(start + delay, run_id) for delay, run_id in due]
    running = {}
    unread = ""
    with open(markers) as steps:
        while due or after_start or running:
            *lines, unread = (unread + steps.read()).split("\\n")
            for line in lines:
                run_id, step, started = line.split()
                if step == "s0" and run_id in after_start:
                    due.append((float(started) + after_start.pop(run_id), run_id))
                    due.sort()
            while due and len(running) < at_once and due[0][0] <= time.time():
                _, run_id = due.pop(0)
                pid = os.fork()
                if pid == 0:
                    cancel(url, run_id, os.path.join(outputs, run_id), answers)
                running[pid] = run_id
            while running:
                pid, status = os.waitpid(-1, os.WNOHANG)
                if pid == 0:
                    break
                returned = time.time()
                print(json.dumps({"run": running.pop(pid), "returned": returned,
                                  "code": os.waitstatus_to_exitcode(status)}), flush=True)
            time.sleep(0.001)
    return 0

if __name__ == "__main__":
    url, schedule_file, markers, outputs, answers, at_once = sys.argv[1:7]
    sys.exit(main_loop(url, schedule_file, markers, outputs, answers, int(at_once)))
"""

CANCELLED_NOW = "CANCELLED now (nothing was executing it)"
REQUESTED = "it is executing; it stops as CANCELLED at its next step boundary"
REFUSED = "had already ended (COMPLETED); nothing to cancel"


def _schedule(ids: list[str]) -> list[tuple[str, str, float]]:
    """When each run is cancelled: a third of them at a random moment while the workers
    go through the runs (before, during or after its turn), the others at a random moment
    of their own execution (from its first step's start on: the cancel lands during one
    of its steps, or after it ended when the command is slow)."""
    rng = random.Random()
    anytime = set(rng.sample(ids, len(ids) // 3))
    return [
        (run_id, "go", rng.uniform(0, SPREAD))
        if run_id in anytime
        # (In the first half of its execution: the command takes a while to land, the
        # more so on a loaded machine, and a cancel that lands late is only a refusal.)
        else (run_id, "s0", rng.uniform(0, RUN_SECONDS / 2))
        for run_id in ids
    ]


def test_spine_cancel_stops_runs_that_workers_execute(postgres_url: str, tmp_path: Path) -> None:
    url = postgres_url
    app = tmp_path / "cancels_app.py"
    app.write_text(textwrap.dedent(APP))
    markers = tmp_path / "markers.log"
    markers.touch()
    # The same steps as the app's (a run's definition is checked by them), to submit.
    flow = register_workflow(
        Workflow("cancels.flow", [Step.lambda_(name, lambda c, k: None) for name in STEPS])
    )
    with WorkflowRunner(database_url=url) as client:
        ids = [client.submit(flow) for _ in range(RUNS)]
    schedule = tmp_path / "schedule.json"
    schedule.write_text(json.dumps(_schedule(ids)))
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    answers = tmp_path / "answers.jsonl"
    answers.touch()
    program = tmp_path / "canceller.py"
    program.write_text(textwrap.dedent(CANCELLER))
    env = {**os.environ, "SPINE_TEST_MARKERS": str(markers), "PYTHONUNBUFFERED": "1"}
    canceller = subprocess.Popen(
        [sys.executable, str(program), url, str(schedule), str(markers), str(outputs),
         str(answers), "8"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    workers: list[subprocess.Popen[bytes]] = []
    logs = [tmp_path / f"worker-{i}.err" for i in range(2)]
    for log in logs:
        with log.open("w") as stderr:
            workers.append(
                subprocess.Popen(
                    [sys.executable, "-m", "spine.cli.main", "--db", url, "worker",
                     "--app", str(app), "--poll", "0.05", "--concurrency", "2"],
                    stdout=subprocess.DEVNULL, stderr=stderr, env=env,
                )
            )  # fmt: skip
    try:
        assert canceller.stdin is not None
        assert canceller.stdout is not None
        assert canceller.stdout.readline().strip() == "ready"
        deadline = time.time() + 20
        while time.time() < deadline and not markers.read_text():
            time.sleep(0.01)  # the workers are up: the cancels start with the steps
        canceller.stdin.write("go\n")
        canceller.stdin.flush()
        returns = [json.loads(line) for line in canceller.stdout]
        _, canceller_errors = canceller.communicate(timeout=30)
        with open_store(url) as store:
            deadline = time.time() + 20
            while time.time() < deadline:
                statuses = {store.load_run(run_id).run.status for run_id in ids}
                if not statuses & {"PENDING", "RUNNING", "WAITING"}:
                    break
                time.sleep(0.1)
            stored = {run_id: store.load_run(run_id) for run_id in ids}
        alive = [worker.poll() is None for worker in workers]
    finally:
        if canceller.poll() is None:
            canceller.kill()
            canceller.communicate()
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        exits = [worker.wait(timeout=30) for worker in workers]
    errors = "\n".join(log.read_text() for log in logs)
    assert canceller.returncode == 0, canceller_errors

    starts: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for line in markers.read_text().splitlines():
        run_id, step, started = line.split()
        starts[run_id][step].append(float(started))
    answered = {a["run"]: a for a in map(json.loads, answers.read_text().splitlines())}
    assert sorted(r["run"] for r in returns) == sorted(answered) == sorted(ids)

    # Every run ended; no step executed twice or out of order; the step in flight when
    # a run stopped finished and was recorded.
    ends = Counter(s.run.status for s in stored.values())
    assert set(ends) <= {"CANCELLED", "COMPLETED"}, ends
    for run_id in ids:
        ran = starts.get(run_id, {})
        assert all(len(times) == 1 for times in ran.values()), (run_id, ran)
        assert list(ran) == STEPS[: len(ran)], (run_id, ran)
        assert [s.step_name for s in stored[run_id].steps] == list(ran), run_id

    kinds: Counter[str] = Counter()
    late: list[dict[str, Any]] = []
    for cancel in returns:
        run_id = cancel["run"]
        output = (outputs / run_id).read_text()
        run = stored[run_id].run
        ran = {step: times[0] for step, times in starts.get(run_id, {}).items()}
        if cancel["code"] == 0:
            assert run.status == "CANCELLED", (cancel, output, run.status, ran)
            # Only the step the answer named in flight may still have been starting.
            named = re.search(r"step (\S+) in flight finishes", output)
            allowed = named.group(1) if named else None
            if any(t > cancel["returned"] for s, t in ran.items() if s != allowed):
                ended = {s.step_name: s.completed_at for s in stored[run_id].steps}
                late.append({**answered[run_id], **cancel, "started": ran, "ended": ended,
                             "error": run.error, "output": output})  # fmt: skip
            if CANCELLED_NOW in output:
                assert ran == {}, (cancel, ran)  # nothing had executed it, nothing did
                kinds["cancelled now"] += 1
            else:
                assert REQUESTED in output, (cancel, output)
                # Claimed by a worker: executing a step, or waiting its turn in a batch.
                kinds["requested, executing" if ran else "requested, claimed"] += 1
        else:
            assert cancel["code"] == 1, (cancel, output)
            assert REFUSED in output, (cancel, output)
            assert run.status == "COMPLETED", (cancel, output, run.status)
            assert list(ran) == STEPS
            kinds["refused"] += 1

    # No step started after the cancel of its run returned (the same clock; no slack),
    # but the one its answer named in flight: its runner decided to run it when it
    # recorded the step before, a moment ahead of the request.
    assert not late, json.dumps(late, indent=1)
    # Not vacuous: many cancels reached runs that a worker was executing.
    assert kinds["requested, executing"] >= 5, kinds
    assert kinds["cancelled now"] + kinds["refused"] > 0, kinds
    assert alive == [True, True], errors[-3000:]
    assert exits == [0, 0], errors[-3000:]
    assert "Traceback" not in errors, errors[-3000:]
