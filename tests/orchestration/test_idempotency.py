"""Idempotent submits and runs (one run per key and workflow, whatever the number of
callers and processes) and priorities of submitted runs."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from spine.cli.main import cli
from spine.core.errors import WorkflowValidationError
from spine.orchestration import (
    Step,
    Workflow,
    WorkflowContext,
    WorkflowRunner,
    WorkflowStatus,
    register_workflow,
)

MakeRunner = Callable[..., WorkflowRunner]


def _flow(name: str, ran: list[Any] | None = None) -> Workflow:
    def step(ctx: WorkflowContext, config: dict[str, Any]) -> dict[str, Any]:
        if ran is not None:
            ran.append(ctx.run_id)
        return {"day": ctx.params.get("day")}

    return register_workflow(Workflow(name, [Step.lambda_("load", step)]))


def test_one_key_submitted_from_8_threads_makes_one_run(
    database_url: str, make_runner: MakeRunner
) -> None:
    flow = _flow("idem.threads")
    runner = make_runner(database_url=database_url)
    barrier = threading.Barrier(8)
    ids: list[str] = []

    def submit() -> None:
        barrier.wait()
        ids.append(runner.submit(flow, params={"day": "2026-01-01"}, idempotency_key="d1"))

    threads = [threading.Thread(target=submit) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert len(ids) == 8
    assert len(set(ids)) == 1
    store = runner.store
    assert store is not None
    [run] = store.list_runs(workflow="idem.threads")
    assert (run.run_id, run.idempotency_key) == (ids[0], "d1")
    # Another key, or the same key of another workflow, is another run.
    assert runner.submit(flow, idempotency_key="d2") != ids[0]
    assert runner.submit(_flow("idem.other"), idempotency_key="d1") != ids[0]


SUBMITTER = """
import sys
from spine.orchestration import Step, Workflow, WorkflowRunner, register_workflow

flow = register_workflow(Workflow("idem.processes", [Step.lambda_("load", lambda c, k: {})]))
with WorkflowRunner(database_url=sys.argv[1]) as runner:
    sys.stdin.readline()  # all start together
    print(runner.submit(flow, idempotency_key="same"), flush=True)
"""


def test_one_key_submitted_from_3_processes_makes_one_run(
    database_url: str, tmp_path: Path, make_runner: MakeRunner
) -> None:
    script = tmp_path / "submit.py"
    script.write_text(textwrap.dedent(SUBMITTER))
    processes = [
        subprocess.Popen(
            [sys.executable, str(script), database_url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [p.communicate("go\n", timeout=60)[0].strip() for p in processes]
    assert [p.returncode for p in processes] == [0, 0, 0]
    assert len(set(outputs)) == 1
    store = make_runner(database_url=database_url).store
    assert store is not None
    assert [r.run_id for r in store.list_runs(workflow="idem.processes")] == outputs[:1]


def test_execute_with_a_held_key_returns_that_run_whatever_its_status_and_runs_nothing(
    database_url: str, make_runner: MakeRunner
) -> None:
    ran: list[str] = []

    def failing(ctx: WorkflowContext, config: dict[str, Any]) -> dict[str, Any]:
        ran.append(ctx.run_id)
        raise RuntimeError("source offline")

    flow = Workflow("idem.execute", [Step.lambda_("load", failing)])
    runner = make_runner(database_url=database_url)
    first = runner.execute(flow, idempotency_key="nightly-2026-01-01")
    again = runner.execute(flow, idempotency_key="nightly-2026-01-01")

    assert first.status == again.status == WorkflowStatus.FAILED
    assert again.run_id == first.run_id
    assert again.error == first.error
    assert "already holds idempotency key 'nightly-2026-01-01'" in (again.note or "")
    assert ran == [first.run_id]


def test_spine_run_with_a_held_key_prints_the_run_and_exits_with_its_code(
    sqlite_url: str, tmp_path: Path
) -> None:
    flows = tmp_path / "idem_flows.py"
    flows.write_text(
        "from spine.orchestration import Step, Workflow\n"
        "def boom(ctx, config):\n"
        "    raise RuntimeError('broken')\n"
        "flow = Workflow('idem.cli', [Step.lambda_('boom', boom)])\n"
    )
    command = ["--db", sqlite_url, "run", f"{flows}:flow", "--idempotency-key", "k1"]
    first = CliRunner().invoke(cli, command)
    second = CliRunner().invoke(cli, [*command, "--json"])
    assert first.exit_code == second.exit_code == 1
    assert '"note": "run ' in second.output
    assert "already holds idempotency key 'k1'" in second.output


def test_workers_claim_higher_priorities_first_oldest_first_within_one(
    database_url: str, make_runner: MakeRunner
) -> None:
    ran: list[Any] = []
    flow = _flow("idem.priority", ran)
    runner = make_runner(database_url=database_url)
    order = {runner.submit(flow, priority=p, params={"day": n}): n
             for n, p in enumerate([0, 5, 0, 9, 5])}  # fmt: skip

    for _ in range(5):
        runner.run_pending(limit=1)
    assert [order[run_id] for run_id in ran] == [3, 1, 4, 0, 2]
    batch = [runner.submit(flow, priority=p) for p in (1, 3, 2)]
    ran.clear()
    runner.run_pending(limit=3)
    assert ran == [batch[1], batch[2], batch[0]]


@pytest.mark.parametrize(
    ("options", "field"),
    [({"idempotency_key": ""}, "idempotency_key"), ({"idempotency_key": "a\x00b"},
     "idempotency_key"), ({"priority": 1.5}, "priority"), ({"priority": 2**40}, "priority")],
)  # fmt: skip
def test_a_key_or_priority_the_store_cannot_keep_is_refused_naming_it(
    sqlite_url: str, make_runner: MakeRunner, options: dict[str, Any], field: str
) -> None:
    runner = make_runner(database_url=sqlite_url)
    with pytest.raises(WorkflowValidationError, match=f"'idem.bad': {field}") as refused:
        runner.submit(_flow("idem.bad"), **options)
    assert refused.value.field == field
    assert runner.store is not None
    assert runner.store.list_runs(workflow="idem.bad") == []


def test_a_dry_run_neither_takes_a_key_nor_answers_with_its_holder(
    sqlite_url: str, make_runner: MakeRunner
) -> None:
    ran: list[Any] = []
    flow = _flow("idem.dry", ran)
    dry = make_runner(database_url=sqlite_url, dry_run=True)
    real = make_runner(database_url=sqlite_url)
    rehearsal = dry.execute(flow, idempotency_key="k")
    first = real.execute(flow, idempotency_key="k")
    again = dry.execute(flow, idempotency_key="k")
    assert len({rehearsal.run_id, first.run_id, again.run_id}) == 3
    assert first.note is None
    assert real.execute(flow, idempotency_key="k").run_id == first.run_id
