"""DaskExecutor on a real LocalCluster of two worker processes."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from remote_steps import pid_pipeline, square, stuck_pipeline

from spine.execution import DaskExecutor
from spine.framework.registry import register_pipeline
from spine.orchestration import Step, StepResult, Workflow, WorkflowContext, WorkflowRunner

distributed = pytest.importorskip("distributed", reason="the [dask] extra is not installed")

# One pytest worker runs them all, so the suite starts one cluster, not one per worker.
pytestmark = pytest.mark.xdist_group("dask-cluster")


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    dask_client = distributed.Client(cluster)
    try:
        yield dask_client
    finally:
        dask_client.close()
        cluster.close()


def _fan(item: Workflow, concurrency: int = 4) -> Workflow:
    return Workflow("fan", [Step.map("each", "items", item, max_concurrency=concurrency)])


def test_a_map_of_1000_items_completes_in_order_when_a_worker_is_killed(
    client: Any, sqlite_url: str, tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    item = Workflow("item", [Step.lambda_("square", square)])
    params = {"items": list(range(1000)), "tag": "k", "marks": str(marks), "delay": 0.004}
    pids = client.run(os.getpid)
    victim = sorted(pids.values())[0]
    killed = threading.Event()

    def kill_midway() -> None:
        # Once a fifth of the items ran, SIGKILL one worker process mid-map.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(os.listdir(marks)) < 200:
            time.sleep(0.01)
        os.kill(victim, signal.SIGKILL)
        killed.set()

    killer = threading.Thread(target=kill_midway)
    killer.start()
    with WorkflowRunner(database_url=sqlite_url, executor=DaskExecutor(client)) as runner:
        result = runner.execute(_fan(item), params=params)
    killer.join()

    assert killed.is_set()
    assert result.status == "COMPLETED", result.error
    outputs = result.context.outputs["each"]["results"]
    assert [o["square"]["y"] for o in outputs] == [i * i for i in range(1000)]
    # The killed worker ran some items, and so did the others after it died.
    ran_in = {o["square"]["pid"] for o in outputs}
    assert len(ran_in) >= 2
    assert os.getpid() not in ran_in
    with sqlite3.connect(sqlite_url.removeprefix("sqlite:///")) as conn:
        items = conn.execute(
            "SELECT COUNT(*), COUNT(DISTINCT item_index), MIN(status), MAX(status) "
            "FROM core_workflow_runs WHERE parent_run_id IS NOT NULL"
        ).fetchone()
        step_rows = conn.execute(
            "SELECT COUNT(*) FROM core_workflow_steps s JOIN core_workflow_runs r "
            "ON r.run_id = s.run_id WHERE r.parent_run_id IS NOT NULL"
        ).fetchone()
    assert items == (1000, 1000, "COMPLETED", "COMPLETED")
    assert step_rows == (1000,)
    # Every item ran at least once; those on the lost worker ran again elsewhere.
    executions = {p.name: len(p.read_text().split()) for p in marks.iterdir()}
    assert len(executions) == 1000
    assert all(count >= 1 for count in executions.values())


def test_pipeline_steps_and_map_items_run_on_the_cluster(client: Any) -> None:
    register_pipeline("double_pid", pid_pipeline)
    item = Workflow("item", [Step.lambda_("square", square)])
    workflow = Workflow(
        "both",
        [
            Step.pipeline("double", "double_pid"),
            Step.map("each", "items", item, max_concurrency=2),
        ],
    )
    with WorkflowRunner(executor=DaskExecutor(client, chunk_size=1)) as runner:
        result = runner.execute(workflow, params={"x": 4, "items": [1, 2, 3], "tag": "d"})

    assert result.status == "COMPLETED", result.error
    assert result.context.outputs["double"]["x"] == 8
    workers = set(client.run(os.getpid).values())
    assert result.context.outputs["double"]["pid"] in workers
    outputs = result.context.outputs["each"]["results"]
    assert [o["square"]["y"] for o in outputs] == [1, 4, 9]
    assert {o["square"]["pid"] for o in outputs} <= workers


def test_an_unpicklable_item_function_is_refused_before_the_cluster_sees_it(
    client: Any, tmp_path: Path
) -> None:
    lock = threading.Lock()

    def locked(ctx: WorkflowContext, config: dict[str, Any]) -> StepResult:
        with lock:
            (tmp_path / "ran").touch()
        return StepResult.ok()

    item = Workflow("item", [Step.lambda_("guarded", locked)])
    with WorkflowRunner(executor=DaskExecutor(client)) as runner:
        result = runner.execute(_fan(item), params={"items": [1, 2]})

    assert result.status == "FAILED"
    assert result.error_category == "CONFIGURATION"
    assert "step 'each'" in result.error
    assert "step 'guarded' (handler)" in result.error
    assert "DaskExecutor" in result.error
    assert not (tmp_path / "ran").exists()


def test_a_missing_extra_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ImportError, match=r"pip install 'spine-orchestration\[dask\]'"):
        DaskExecutor("tcp://127.0.0.1:1")


def test_spine_run_sends_items_to_a_dask_scheduler(
    client: Any, sqlite_url: str, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from spine.cli.main import cli

    flow = tmp_path / "dask_flow.py"
    flow.write_text(
        "import os\n"
        "from spine.orchestration import Step, Workflow\n"
        "def square(ctx, cfg):\n"
        "    return {'y': ctx.params['item'] ** 2, 'pid': os.getpid()}\n"
        "item = Workflow('cli.dask.item', [Step.lambda_('square', square)])\n"
        "flow = Workflow('cli.dask', [Step.map('each', 'items', item)])\n"
    )
    result = CliRunner().invoke(cli, [
        "--db", sqlite_url, "run", f"{flow}:flow", "-p", "items=[2, 3]", "--json",
        "--executor", "dask", "--dask-scheduler", client.scheduler.address,
    ])  # fmt: skip

    assert result.exit_code == 0, result.stderr
    [each] = json.loads(result.stdout)["step_executions"]
    squares = [r["square"] for r in each["output"]["results"]]
    assert [s["y"] for s in squares] == [4, 9]
    assert {s["pid"] for s in squares} <= set(client.run(os.getpid).values())


def test_dask_workers_ship_step_logs_back_with_the_items(client: Any, sqlite_url: str) -> None:
    from test_capture import check_chatty_logs

    check_chatty_logs(sqlite_url, DaskExecutor(client), elsewhere=True)


def test_dask_map_items_and_pipelines_run_inside_the_runs_trace(
    otel: Any, client: Any, sqlite_url: str
) -> None:
    from test_telemetry import check_traced_map

    check_traced_map(otel, sqlite_url, DaskExecutor(client), elsewhere=True)


def test_a_pipeline_step_over_its_time_on_dask_is_cancelled_and_its_worker_restarted(
    client: Any, tmp_path: Path
) -> None:
    register_pipeline("stuck", stuck_pipeline)
    pidfile = tmp_path / "pid"
    workflow = Workflow("w", [Step.pipeline("stuck", "stuck", timeout_seconds=1.0)])
    with WorkflowRunner(executor=DaskExecutor(client)) as runner:
        started = time.monotonic()
        result = runner.execute(workflow, params={"pidfile": str(pidfile)})
    assert time.monotonic() - started < 5
    assert result.error == "workflow 'w', step 'stuck': exceeded timeout_seconds=1.0"
    assert result.error_category == "TIMEOUT"
    pid = int(pidfile.read_text())
    deadline = time.monotonic() + 30
    # (A worker being restarted does not answer: it is left out, not an error.)
    while time.monotonic() < deadline and pid in client.run(os.getpid, on_error="ignore").values():
        time.sleep(0.2)
    running = client.run(os.getpid, on_error="ignore").values()
    assert pid not in running, "the worker running it was not restarted"
    client.wait_for_workers(2, timeout=30)
