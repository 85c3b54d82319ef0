"""Step timeouts on executors that run work elsewhere: threads (abandoned), worker
processes (killed). Inline steps: tests/orchestration/test_timeouts.py; Dask:
tests/execution/test_dask.py."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from remote_steps import linger, nap_pipeline, pid_pipeline, stuck_pipeline, warm

from spine.execution import ProcessExecutor, ThreadExecutor
from spine.execution.timeouts import abandoned_calls
from spine.framework.registry import register_pipeline
from spine.orchestration import Step, Workflow, WorkflowRunner


def _gone(pid: int, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def _pid(path: Path, within: float = 20.0) -> int:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return int(path.read_text())
        time.sleep(0.02)
    raise AssertionError(f"{path} was never written")


@pytest.fixture
def processes() -> Iterator[ProcessExecutor]:
    with ProcessExecutor(2) as executor:
        # Started and warm before the timed step: the limit measures the step, not a start.
        for future in [executor.submit(warm) for _ in range(2)]:
            future.result()
        yield executor


def test_a_pipeline_step_over_its_time_on_processes_is_killed_and_the_pool_replaced(
    processes: ProcessExecutor, tmp_path: Path
) -> None:
    register_pipeline("stuck", stuck_pipeline)
    register_pipeline("double_pid", pid_pipeline)
    pidfile = tmp_path / "pid"
    workflow = Workflow("w", [Step.pipeline("stuck", "stuck", timeout_seconds=0.5)])
    with WorkflowRunner(executor=processes) as runner:
        started = time.monotonic()
        result = runner.execute(workflow, params={"pidfile": str(pidfile)})
        took = time.monotonic() - started
        assert result.status == "FAILED"
        assert result.error_category == "TIMEOUT"
        assert result.error == "workflow 'w', step 'stuck': exceeded timeout_seconds=0.5"
        assert took < 5, took
        assert _gone(_pid(pidfile)), "the worker process running the step still lives"
        after = runner.execute(Workflow("p", [Step.pipeline("d", "double_pid")]), params={"x": 2})
    assert after.status == "COMPLETED", after.error
    assert after.context.outputs["d"]["x"] == 4


def test_calls_in_flight_on_a_pool_killed_for_a_timeout_fail_as_a_broken_pool(
    processes: ProcessExecutor, tmp_path: Path
) -> None:
    # Both workers busy (the timed step and a nap), more calls queued: the pool is killed
    # for the first; the nap and every queued call fail alike, and say why.
    register_pipeline("stuck", stuck_pipeline)
    register_pipeline("nap", nap_pipeline)
    timed = Workflow("timed", [Step.pipeline("stuck", "stuck", timeout_seconds=1.0)])
    napping = Workflow("napping", [Step.pipeline("nap", "nap")])
    with WorkflowRunner(executor=processes) as runner, ThreadPoolExecutor(6) as threads:
        first = threads.submit(runner.execute, timed, params={"pidfile": str(tmp_path / "p")})
        _pid(tmp_path / "p")
        others = [threads.submit(runner.execute, napping, params={"s": 5}) for _ in range(5)]
        assert first.result().error_category == "TIMEOUT"
        results = [other.result(timeout=30) for other in others]
    for result in results:
        assert result.status == "FAILED"
        assert "BrokenProcessPool" in (result.error or ""), result.error


def test_a_map_step_over_its_time_on_processes_kills_its_items(
    processes: ProcessExecutor, tmp_path: Path
) -> None:
    item = Workflow("item", [Step.lambda_("linger", linger)])
    workflow = Workflow(
        "fan", [Step.map("each", "items", item, max_concurrency=2, timeout_seconds=1.0)]
    )
    with WorkflowRunner(executor=processes) as runner:
        started = time.monotonic()
        result = runner.execute(workflow, params={"items": [0, 1, 2, 3], "marks": str(tmp_path)})
    assert time.monotonic() - started < 6
    assert result.error_category == "TIMEOUT"
    pids = {int(line) for mark in tmp_path.glob("linger-*") for line in mark.read_text().split()}
    assert pids, "no item started"
    assert all(_gone(pid) for pid in pids)


def test_a_pipeline_step_on_threads_is_abandoned_and_counted(tmp_path: Path) -> None:
    register_pipeline("stuck", lambda params: time.sleep(params["s"]) or {"late": True})
    workflow = Workflow("w", [Step.pipeline("stuck", "stuck", timeout_seconds=0.1)])
    before = abandoned_calls()
    with WorkflowRunner(executor=ThreadExecutor(2)) as runner:
        started = time.monotonic()
        result = runner.execute(workflow, params={"s": 0.5})
        assert time.monotonic() - started < 0.4
    assert result.error_category == "TIMEOUT"
    assert "stuck" not in result.context.outputs  # the late result is never applied
    assert abandoned_calls() == before + 1
