"""Executors: map items and pipeline steps on threads and worker processes."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from remote_steps import fail_odd_once, pid_pipeline, square

from spine.core.errors import NotShippableError
from spine.execution import (
    Executor,
    InlineExecutor,
    ProcessExecutor,
    ThreadExecutor,
)
from spine.framework.dispatcher import Dispatcher
from spine.framework.registry import register_pipeline
from spine.orchestration import Step, StepResult, Workflow, WorkflowContext, WorkflowRunner


@pytest.fixture(scope="module")
def processes() -> Iterator[ProcessExecutor]:
    with ProcessExecutor(2) as executor:
        yield executor


def _map_workflow(item: Workflow, concurrency: int = 3) -> Workflow:
    return Workflow("fan", [Step.map("each", "items", item, max_concurrency=concurrency)])


def _item_runs(url: str) -> list[tuple[int, str, str]]:
    path = url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        return conn.execute(
            "SELECT item_index, status, params FROM core_workflow_runs "
            "WHERE parent_run_id IS NOT NULL ORDER BY item_index"
        ).fetchall()


@pytest.mark.parametrize("kind", ["inline", "threads", "processes"])
def test_map_results_keep_input_order_and_each_item_is_recorded_once(
    kind: str, sqlite_url: str, tmp_path: Path, processes: ProcessExecutor
) -> None:
    executor: Executor | str = processes if kind == "processes" else kind
    item = Workflow("item", [Step.lambda_("square", square)])
    marks = tmp_path / "marks"
    marks.mkdir()
    params = {"items": list(range(40)), "tag": "t", "marks": str(marks)}

    with WorkflowRunner(database_url=sqlite_url, executor=executor) as runner:
        result = runner.execute(_map_workflow(item), params=params)

    assert result.status == "COMPLETED", result.error
    outputs = result.context.outputs["each"]["results"]
    assert [o["square"]["y"] for o in outputs] == [i * i for i in range(40)]
    # The map's params lie beneath each item's own, in whatever process it ran.
    assert {o["square"]["tag"] for o in outputs} == {"t"}
    pids = {o["square"]["pid"] for o in outputs}
    assert (os.getpid() not in pids) is (kind == "processes")
    rows = _item_runs(sqlite_url)
    assert [r[0] for r in rows] == list(range(40))
    assert {r[1] for r in rows} == {"COMPLETED"}
    # Item rows keep the params the item adds, not a copy of the whole list per item.
    assert '"items"' not in rows[7][2]
    assert '"item": 7' in rows[7][2]
    assert sorted(os.listdir(marks)) == sorted(f"square-{i}" for i in range(40))


def test_item_steps_run_in_the_worker_with_the_same_records_as_inline(
    tmp_path: Path, processes: ProcessExecutor
) -> None:
    item = Workflow("item", [Step.lambda_("square", square)])
    params = {"items": [3, 4], "tag": "x", "marks": str(tmp_path)}
    urls = {}
    for kind, executor in (("inline", "inline"), ("processes", processes)):
        urls[kind] = f"sqlite:///{tmp_path / kind}.db"
        with WorkflowRunner(database_url=urls[kind], executor=executor) as runner:
            assert runner.execute(_map_workflow(item), params=params).status == "COMPLETED"

    def steps(url: str) -> list[tuple[Any, ...]]:
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            return conn.execute(
                "SELECT r.item_index, s.step_name, s.status, s.attempt, s.next_step, s.step_order "
                "FROM core_workflow_steps s JOIN core_workflow_runs r ON r.run_id = s.run_id "
                "WHERE r.parent_run_id IS NOT NULL ORDER BY r.item_index"
            ).fetchall()

    assert steps(urls["processes"]) == steps(urls["inline"])
    assert len(steps(urls["inline"])) == 2


def test_pipeline_steps_run_on_the_executor(processes: ProcessExecutor) -> None:
    register_pipeline("double_pid", pid_pipeline)
    workflow = Workflow("p", [Step.pipeline("double", "double_pid")])
    for executor in ("inline", processes):
        with WorkflowRunner(executor=executor) as runner:
            result = runner.execute(workflow, params={"x": 21})
        assert result.status == "COMPLETED", result.error
        assert result.context.outputs["double"]["x"] == 42
        ran_here = result.context.outputs["double"]["pid"] == os.getpid()
        assert ran_here is (executor == "inline")


def test_an_unpicklable_item_function_fails_the_map_step_naming_it_before_any_item_runs(
    sqlite_url: str, tmp_path: Path, processes: ProcessExecutor
) -> None:
    lock = threading.Lock()

    def locked(ctx: WorkflowContext, config: dict[str, Any]) -> StepResult:
        with lock:
            (tmp_path / f"ran-{ctx.params['item']}").touch()
        return StepResult.ok()

    item = Workflow("item", [Step.lambda_("first", square), Step.lambda_("guarded", locked)])
    with WorkflowRunner(database_url=sqlite_url, executor=processes) as runner:
        result = runner.execute(
            _map_workflow(item), params={"items": [1, 2, 3], "tag": "t", "marks": ""}
        )

    assert result.status == "FAILED"
    assert result.error_step == "each"
    assert result.error_category == "CONFIGURATION"
    assert "step 'each'" in result.error
    assert "step 'guarded' (handler)" in result.error
    assert "cannot pickle '_thread.lock'" in result.error
    assert list(tmp_path.glob("ran-*")) == []
    assert _item_runs(sqlite_url) == []


def test_an_unpicklable_pipeline_fails_its_step_naming_it(processes: ProcessExecutor) -> None:
    lock = threading.Lock()

    def guarded(params: dict[str, Any]) -> dict[str, Any]:
        with lock:
            return {}

    register_pipeline("guarded", guarded)
    workflow = Workflow("p", [Step.pipeline("load", "guarded")])
    with WorkflowRunner(executor=processes) as runner:
        result = runner.execute(workflow)

    assert result.status == "FAILED"
    assert result.error_category == "CONFIGURATION"
    assert "workflow 'p', step 'load': pipeline 'guarded' cannot be sent" in result.error


def test_resuming_a_map_reruns_only_unfinished_items_in_the_workers(
    sqlite_url: str, tmp_path: Path, processes: ProcessExecutor
) -> None:
    gate = tmp_path / "gate"
    gate.touch()
    marks = tmp_path / "marks"
    marks.mkdir()
    item = Workflow("item", [Step.lambda_("check", fail_odd_once)])
    params = {"items": list(range(6)), "gate": str(gate), "marks": str(marks)}
    fan = _map_workflow(item)
    with WorkflowRunner(database_url=sqlite_url, executor=processes) as runner:
        first = runner.execute(fan, params=params)
        assert first.status == "FAILED"
        assert "3 of 6 items failed" in (first.error or "")
        gate.unlink()
        resumed = runner.resume(first.run_id, fan)

    assert resumed.status == "COMPLETED", resumed.error
    assert [o["check"]["item"] for o in resumed.context.outputs["each"]["results"]] == list(
        range(6)
    )
    runs = {i: len((marks / f"gate-{i}").read_text().split()) for i in range(6)}
    assert runs == {0: 1, 1: 2, 2: 1, 3: 2, 4: 1, 5: 2}
    assert [r[1] for r in _item_runs(sqlite_url)] == ["COMPLETED"] * 6
    with sqlite3.connect(sqlite_url.removeprefix("sqlite:///")) as conn:
        attempts = conn.execute(
            "SELECT r.item_index, s.attempt, s.status FROM core_workflow_steps s "
            "JOIN core_workflow_runs r ON r.run_id = s.run_id WHERE r.item_index = 1 "
            "ORDER BY s.attempt"
        ).fetchall()
    assert attempts == [(1, 1, "FAILED"), (1, 2, "COMPLETED")]


def test_a_thread_executor_bounds_items_running_at_once_across_the_pool() -> None:
    running, peak = 0, 0
    lock = threading.Lock()

    def busy(ctx: WorkflowContext, config: dict[str, Any]) -> StepResult:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.02)
        with lock:
            running -= 1
        return StepResult.ok()

    item = Workflow("item", [Step.lambda_("busy", busy)])
    with ThreadExecutor(2) as pool, WorkflowRunner(executor=pool) as runner:
        result = runner.execute(_map_workflow(item, concurrency=8), params={"items": [0] * 12})

    assert result.status == "COMPLETED"
    assert peak == 2


def test_executors_by_name_and_bad_names() -> None:
    with WorkflowRunner(executor="threads") as runner:
        assert isinstance(runner.executor, ThreadExecutor)
    with WorkflowRunner() as runner:
        assert isinstance(runner.executor, InlineExecutor)
    with pytest.raises(ValueError, match="'inline', 'threads', 'processes', 'dask'"):
        WorkflowRunner(executor="cluster")
    with pytest.raises(ValueError, match="max_workers"):
        ThreadExecutor(0)
    with pytest.raises(ValueError, match="chunk_size"):
        ProcessExecutor(1, chunk_size=0)


def test_ship_names_what_cannot_travel() -> None:
    lock = threading.Lock()
    with pytest.raises(NotShippableError, match=r"^workflow 'w', step 's' cannot be sent to"):
        InlineExecutor().ship(lock, "workflow 'w', step 's'")


def test_history_false_ignores_the_environment(
    monkeypatch: pytest.MonkeyPatch, sqlite_url: str
) -> None:
    monkeypatch.setenv("SPINE_DATABASE_URL", sqlite_url)
    with WorkflowRunner(history=False) as runner:
        assert runner.store is None
    with WorkflowRunner() as runner:
        assert runner.store is not None


def test_a_thread_executor_runs_pipelines_through_the_runners_dispatcher() -> None:
    calls: list[str] = []

    class Counting(Dispatcher):
        def run(self, pipeline_name: str, params: Any = None, *, execution: Any = None) -> Any:
            calls.append(pipeline_name)
            return super().run(pipeline_name, params, execution=execution)

    register_pipeline("double_pid", pid_pipeline)
    workflow = Workflow("p", [Step.pipeline("double", "double_pid")])
    with WorkflowRunner(dispatcher=Counting(), executor="threads") as runner:
        result = runner.execute(workflow, params={"x": 2})

    assert result.status == "COMPLETED", result.error
    assert calls == ["double_pid"]


def test_a_cancelled_remote_map_sends_no_more_items(sqlite_url: str, tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    item = Workflow("item", [Step.lambda_("square", square)])
    params = {"items": list(range(8)), "tag": "t", "marks": str(marks), "delay": 0.3}
    fan = _map_workflow(item, concurrency=2)
    results = []
    with (
        ProcessExecutor(2, chunk_size=1) as executor,
        WorkflowRunner(database_url=sqlite_url, executor=executor) as runner,
    ):
        thread = threading.Thread(target=lambda: results.append(runner.execute(fan, params=params)))
        thread.start()
        deadline = time.time() + 30
        while len(os.listdir(marks)) < 2:  # both lanes busy
            assert time.time() < deadline
            time.sleep(0.01)
        [run] = runner.store.list_runs(workflow="fan")  # type: ignore[union-attr]
        assert runner.cancel(run.run_id) == "requested"
        returned = time.time()
        thread.join(30)
        [result] = results
        started = {name: (marks / name).stat().st_mtime for name in os.listdir(marks)}
        resumed = runner.resume(run.run_id, fan)

    assert result.status == "CANCELLED"
    assert len(started) == 2, started  # the two in flight came back; no third was sent
    assert all(mtime < returned for mtime in started.values())
    assert "6 of 8 items did not start" in (result.step_executions[-1].error or "")
    assert [r[1] for r in _item_runs(sqlite_url)] == ["COMPLETED"] * 8
    assert resumed.status == "COMPLETED", resumed.error
    assert all(len((marks / f"square-{i}").read_text().split()) == 1 for i in range(8))
