"""Step logs: what steps print or log, captured per attempt on the inline and thread
executors, and in worker processes (see test_dask.py for Dask); bounded; passed
through outside steps."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import Any

import pytest
from remote_steps import chatty, chatty_pipeline

from spine.execution import Executor, ProcessExecutor, ThreadExecutor
from spine.framework.registry import register_pipeline
from spine.orchestration import Step, Workflow, WorkflowContext, WorkflowRunner
from spine.store import StepLogs, open_store


def chatty_workflow() -> Workflow:
    register_pipeline("chatty_pipeline", chatty_pipeline)
    item = Workflow("chatty_item", [Step.lambda_("talk", chatty)])
    return Workflow(
        "chatty",
        [
            Step.pipeline("pipe", "chatty_pipeline"),
            Step.map("each", "items", item, max_concurrency=4),
        ],
    )


def check_chatty_logs(url: str, executor: Executor | str, elsewhere: bool) -> None:
    """Runs the chatty workflow on ``executor``; each attempt's stored log holds what it
    wrote, and nothing of another's; ``elsewhere``: written in another process."""
    with WorkflowRunner(database_url=url, executor=executor) as runner:
        result = runner.execute(chatty_workflow(), params={"x": 5, "items": [0, 1, 2, 3]})
    assert result.status == "FAILED"  # item 1 raised
    with open_store(url) as store:
        _, logs = StepLogs.sharing(store).read(result.run_id)
    by_label = {log.label: [(level, text) for _, level, text in log.lines] for log in logs}
    pipe = by_label.pop("pipe#1")
    assert pipe[1] == ("ERROR", "chatty: pipeline error line")
    pid = int(pipe[0][1].removeprefix("pipeline got 5 in "))
    assert (pid != os.getpid()) is elsewhere
    assert sorted(by_label) == [f"each[{i}].talk#1" for i in range(4)]
    for index in range(4):
        lines = by_label[f"each[{index}].talk#1"]
        assert lines[0][0] == "stdout"
        assert lines[0][1].startswith(f"item {index} from ")
        assert (int(lines[0][1].split()[-1]) != os.getpid()) is elsewhere
        assert lines[1:3] == [
            ("stderr", f"item {index} on stderr"),
            ("WARNING", f"chatty: item {index} warned"),
        ]
        tail = lines[3:]
        if index == 1:
            assert [level for level, _ in tail] == ["traceback"]
            assert tail[0][1].startswith("Traceback (most recent call last):")
            assert tail[0][1].endswith("ValueError: item 1 fails")
        else:
            assert tail == []


@pytest.fixture(scope="module")
def processes() -> Iterator[ProcessExecutor]:
    with ProcessExecutor(2) as executor:
        yield executor


def test_inline_map_items_on_threads_each_keep_their_own_log(sqlite_url: str) -> None:
    check_chatty_logs(sqlite_url, "inline", elsewhere=False)


def test_thread_executor_logs(sqlite_url: str) -> None:
    with ThreadExecutor(3) as threads:
        check_chatty_logs(sqlite_url, threads, elsewhere=False)


def test_process_executor_ships_logs_back_with_the_items(
    database_url: str, processes: ProcessExecutor
) -> None:
    check_chatty_logs(database_url, processes, elsewhere=True)


def test_a_log_is_cut_at_its_limit_and_the_cut_marked_but_its_traceback_kept() -> None:
    def loud(ctx: WorkflowContext, config: dict[str, Any]) -> None:
        for n in range(100):
            print(f"line {n:04d}")  # 9 bytes each
        raise RuntimeError("after the noise")

    with WorkflowRunner(log_limit_bytes=90) as runner:
        result = runner.execute(Workflow("loud", [Step.lambda_("loud", loud)]))
    log = result.step_executions[0].log
    assert log is not None
    assert [text for _, _, text in log[:10]] == [f"line {n:04d}" for n in range(10)]
    assert log[10][1] == "traceback"
    assert log[10][2].endswith("RuntimeError: after the noise")
    assert log[11][1:] == (
        "spine",
        "[90 lines (810 bytes) cut: a step attempt's log keeps 90 bytes "
        "(WorkflowRunner(log_limit_bytes=...))]",
    )
    assert len(log) == 12


def test_output_outside_steps_passes_through_and_a_silent_step_has_no_log(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def quiet(ctx: WorkflowContext, config: dict[str, Any]) -> dict[str, Any]:
        return {}

    def talks(ctx: WorkflowContext, config: dict[str, Any]) -> dict[str, Any]:
        print("inside")
        return {}

    with WorkflowRunner() as runner:
        result = runner.execute(
            Workflow("w", [Step.lambda_("quiet", quiet), Step.lambda_("talks", talks)])
        )
    print("outside")
    logging.getLogger("spine.test").debug("not at the root's level: dropped")
    assert capsys.readouterr().out == "outside\n"
    quiet_run, talking = result.step_executions
    assert quiet_run.log is None
    assert talking.log is not None
    assert [t for _, _, t in talking.log] == ["inside"]
