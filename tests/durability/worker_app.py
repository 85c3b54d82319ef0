"""The workflows of the crash tests, and the program their subprocesses run.

Run as ``python worker_app.py MODE ARGS...``; each mode registers the workflows
(so ``resume`` and ``recover`` find them by name), opens a runner on the
database URL it is given, prints ``ready`` and then works:

- ``chain execute|resume|recover URL RUN_ID LOG``: the 50-step chain workflow,
  started as run ``RUN_ID`` (execute) or continued (resume / recover).
- ``batch-crash URL LOG N``: starts N runs of the batch workflow, nested one in a
  step of the previous one, so that all N are ``RUNNING`` at once, then SIGKILLs
  itself from a step of the last run.
- ``batch-recover URL LOG``: waits for ``go`` on its standard input, calls
  ``recover()`` and prints which runs it executed, as JSON.
- ``wait URL LOG RUN_ID``: the workflow with a 3 s durable wait.

Every step appends ``"<run_id> <step_name> <pid>"`` to the side-effect file LOG
(append, flush, fsync) before it returns, so the test can count executions.
The program exits 0 when it is not killed.

The test process imports this module too, for the workflows and the helpers
that read the database and the side-effect file.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import text

from spine.orchestration import (
    Step,
    Workflow,
    WorkflowContext,
    WorkflowRunner,
    register_workflow,
)
from spine.store.engine import connect

CHAIN = "durability.chain"
CHAIN_STEPS = 50
CHAIN_SLEEP = 0.005
BATCH = "durability.batch"
BATCH_STEPS = 5
WAIT = "durability.wait"
WAIT_SECONDS = 3.0

_crashing = False
"""True in the ``batch-crash`` process only: there steps nest runs and finally crash."""
_runner: WorkflowRunner | None = None
_batch_sleep = 0.0


# -- side effects -------------------------------------------------------------------


def append_line(path: str, line: str) -> None:
    """The step's side effect: one line, on disk before the step returns."""
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(line + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def read_lines(path: str) -> list[tuple[str, str, int]]:
    """``(run_id, step_name, pid)`` of every line of the side-effect file."""
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as fh:
        rows = []
        for line in fh.read().splitlines():
            run_id, step, pid = line.split(" ")
            rows.append((run_id, step, int(pid)))
        return rows


def count_lines(path: str, run_id: str | None = None) -> Counter[str] | Counter[tuple[str, str]]:
    """Executions per step name (of ``run_id``), or per ``(run_id, step)``."""
    if run_id is not None:
        return Counter(step for rid, step, _ in read_lines(path) if rid == run_id)
    return Counter((rid, step) for rid, step, _ in read_lines(path))


def _log(ctx: WorkflowContext, step: str) -> None:
    append_line(str(ctx.get_param("log")), f"{ctx.run_id} {step} {os.getpid()}")


# -- the chain workflow: 50 steps, each output computed from the previous one --------


def chain_step_name(index: int) -> str:
    return f"s{index:02d}"


def chain_value(previous: int, index: int) -> int:
    return (previous * 1103515245 + 12345 + index) % 2**31


def _chain_step(index: int) -> Step:
    name = chain_step_name(index)
    before = chain_step_name(index - 1)

    def step(ctx: WorkflowContext, config: dict[str, Any]) -> dict[str, Any]:
        previous = ctx.get_param("seed") if index == 0 else ctx.get_output(before, "value")
        if not isinstance(previous, int):
            raise RuntimeError(f"step {name}: no output of the previous step in the context")
        _log(ctx, name)
        time.sleep(CHAIN_SLEEP)
        return {"value": chain_value(previous, index)}

    return Step.lambda_(name, step)


def chain_workflow() -> Workflow:
    return Workflow(CHAIN, [_chain_step(i) for i in range(CHAIN_STEPS)])


def expected_chain_outputs(seed: int) -> dict[str, dict[str, int]]:
    """What an uninterrupted run computes, by the formula (a cross-check of the reference)."""
    outputs, value = {}, seed
    for i in range(CHAIN_STEPS):
        value = chain_value(value, i)
        outputs[chain_step_name(i)] = {"value": value}
    return outputs


# -- the batch workflow: 5 steps; in the crashing process one of them nests the next run


def _batch_step(index: int) -> Step:
    name = f"b{index}"

    def step(ctx: WorkflowContext, config: dict[str, Any]) -> dict[str, Any]:
        item = int(ctx.get_param("i"))
        previous = item if index == 0 else ctx.get_output(f"b{index - 1}", "value")
        if not isinstance(previous, int):
            raise RuntimeError(f"step {name}: no output of the previous step in the context")
        _log(ctx, name)
        if _crashing and index == item % BATCH_STEPS:
            total = int(ctx.get_param("n"))
            if item + 1 < total:
                # The next run starts inside this step, so this run stays RUNNING
                # with this step in flight until the process dies.
                assert _runner is not None
                _runner.execute(batch_workflow(), params=batch_params(item + 1, total, ctx))
            os.kill(os.getpid(), signal.SIGKILL)
        if _batch_sleep:
            time.sleep(_batch_sleep)
        return {"value": previous * 3 + index}

    return Step.lambda_(name, step)


def batch_params(item: int, total: int, ctx: WorkflowContext | None, log: str = "") -> dict:
    return {"i": item, "n": total, "log": log if ctx is None else ctx.get_param("log")}


def batch_workflow() -> Workflow:
    return Workflow(BATCH, [_batch_step(i) for i in range(BATCH_STEPS)])


def expected_batch_value(item: int) -> int:
    value = item
    for index in range(BATCH_STEPS):
        value = value * 3 + index
    return value


# -- the waiting workflow --------------------------------------------------------------


def wait_workflow(seconds: float = WAIT_SECONDS) -> Workflow:
    def before(ctx: WorkflowContext, config: dict[str, Any]) -> dict[str, Any]:
        _log(ctx, "before")
        # The harness reads it: past the step log, to the real stdout.
        print("started", file=sys.__stdout__, flush=True)
        return {"n": 1}

    def after(ctx: WorkflowContext, config: dict[str, Any]) -> dict[str, Any]:
        _log(ctx, "after")
        return {"n": ctx.get_output("before", "n") + 1}

    return Workflow(
        WAIT,
        [Step.lambda_("before", before), Step.wait("w", seconds), Step.lambda_("after", after)],
    )


def register_all() -> None:
    register_workflow(chain_workflow())
    register_workflow(batch_workflow())
    register_workflow(wait_workflow())


# -- reading the database directly ----------------------------------------------------


@contextmanager
def database(url: str) -> Iterator[Any]:
    """A SQLAlchemy connection to the history database (independent of the runner)."""
    engine = connect(url).engine
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def run_row(conn: Any, run_id: str) -> Any:
    return conn.execute(
        text("SELECT * FROM core_workflow_runs WHERE run_id = :r"), {"r": run_id}
    ).first()


def step_rows(conn: Any, run_id: str) -> list[Any]:
    return list(
        conn.execute(
            text(
                "SELECT step_name, step_order, attempt, status, next_step, completed_at, "
                "outputs FROM core_workflow_steps WHERE run_id = :r "
                "ORDER BY step_order, attempt"
            ),
            {"r": run_id},
        ).all()
    )


def all_step_rows(conn: Any) -> list[Any]:
    return list(
        conn.execute(
            text(
                "SELECT run_id, step_name, step_order, attempt, status, next_step "
                "FROM core_workflow_steps ORDER BY run_id, step_order, attempt"
            )
        ).all()
    )


# -- the program ------------------------------------------------------------------------


def _ready() -> None:
    print("ready", flush=True)


def main(argv: list[str]) -> int:
    global _crashing, _runner, _batch_sleep
    mode = argv[0]
    register_all()
    if mode == "chain":
        action, url, run_id, log = argv[1:5]
        with WorkflowRunner(database_url=url) as runner:
            _ready()
            if action == "execute":
                context = WorkflowContext.create(
                    CHAIN, params={"seed": 7, "log": log}, run_id=run_id
                )
                result = runner.execute(chain_workflow(), context=context)
                status = result.status
            elif action == "resume":
                status = runner.resume(run_id).status
            else:
                results = [r for r in runner.recover() if r.run_id == run_id]
                status = results[0].status if results else "NOT-RECOVERED"
        print("done", status, flush=True)
        return 0
    url = argv[1]
    if mode == "batch-crash":
        log, total = argv[2], int(argv[3])
        sys.setrecursionlimit(20_000)
        _crashing = True
        with WorkflowRunner(database_url=url) as runner:
            _runner = runner
            _ready()
            runner.execute(batch_workflow(), params=batch_params(0, total, None, log))
        return 1  # never reached: the last run's step kills the process
    if mode == "batch-recover":
        _batch_sleep = 0.002
        with WorkflowRunner(database_url=url) as runner:
            _ready()
            if sys.stdin.readline().strip() != "go":
                return 2
            results = runner.recover()
        report = {
            "pid": os.getpid(),
            "executed": [r.run_id for r in results if r.note is None],
            "statuses": [str(r.status) for r in results if r.note is None],
            "noop": [r.run_id for r in results if r.note is not None],
        }
        print(json.dumps(report), flush=True)
        return 0
    if mode == "wait":
        log, run_id = argv[2], argv[3]
        with WorkflowRunner(database_url=url) as runner:
            _ready()
            context = WorkflowContext.create(WAIT, params={"log": log}, run_id=run_id)
            result = runner.execute(wait_workflow(), context=context)
        print("done", result.status, flush=True)
        return 0
    print(f"unknown mode {mode!r}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
