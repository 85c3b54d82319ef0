"""Executors when things go wrong: dead worker processes, a killed runner, misuse."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from remote_steps import die_once

from spine.core.errors import WorkflowError
from spine.execution import ProcessExecutor
from spine.orchestration import Step, Workflow, WorkflowRunner

HERE = Path(__file__).parent


def test_a_dead_worker_process_fails_the_map_and_the_next_run_gets_a_fresh_pool(
    tmp_path: Path,
) -> None:
    gate = tmp_path / "gate"
    gate.touch()
    item = Workflow("item", [Step.lambda_("die", die_once)])
    fan = Workflow("fan", [Step.map("each", "items", item, max_concurrency=2)])
    params = {"items": list(range(6)), "gate": str(gate)}
    with ProcessExecutor(2, chunk_size=1) as pool, WorkflowRunner(executor=pool) as runner:
        first = runner.execute(fan, params=params)
        second = runner.execute(fan, params=params)

    assert first.status == "FAILED"
    assert first.error_category == "TRANSIENT"
    assert "did not come back from ProcessExecutor" in (first.error or "")
    results = first.context.outputs["each"]["results"]
    # Lost items keep their place as None; those that came back are in order.
    assert len(results) == 6
    assert results[0] is None
    assert [r["die"]["item"] for r in results if r is not None] == sorted(
        r["die"]["item"] for r in results if r is not None
    )
    assert second.status == "COMPLETED", second.error
    assert [r["die"]["item"] for r in second.context.outputs["each"]["results"]] == list(range(6))


def test_worker_processes_end_when_their_runner_is_killed(tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    script = tmp_path / "runner.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys
            sys.path.insert(0, {str(HERE)!r})
            from remote_steps import linger
            from spine.orchestration import Step, Workflow, WorkflowRunner

            if __name__ == "__main__":
                item = Workflow("item", [Step.lambda_("linger", linger)])
                fan = Workflow("fan", [Step.map("each", "items", item, max_concurrency=2)])
                with WorkflowRunner(executor="processes") as runner:
                    runner.execute(fan, params={{"items": [1, 2], "marks": {str(marks)!r}}})
            """
        )
    )
    runner = subprocess.Popen([sys.executable, str(script)])
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(list(marks.iterdir())) < 2:
            time.sleep(0.05)
        workers = {int(p.read_text().split()[0]) for p in marks.iterdir()}
        assert len(workers) == 2
        runner.send_signal(signal.SIGKILL)
        runner.wait(10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(pid) for pid in workers):
            time.sleep(0.1)
        assert not any(_alive(pid) for pid in workers)
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait(10)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (dead, not yet reaped by its parent) counts as gone.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(")")[-1].split()[0] != "Z"


def test_an_item_run_is_resumed_through_its_maps_run(sqlite_url: str) -> None:
    item = Workflow("item", [Step.lambda_("copy", lambda ctx, cfg: {"x": ctx.params["item"]})])
    fan = Workflow("fan", [Step.map("each", "items", item)])
    with WorkflowRunner(database_url=sqlite_url) as runner:
        result = runner.execute(fan, params={"items": [1]})
        store = runner.store
        assert store is not None
        item_id = store.child_runs(result.run_id, "each#0")[0].run_id
        with pytest.raises(
            WorkflowError, match=f"item 0 of map step 'each' in run '{result.run_id}'"
        ):
            runner.resume(item_id, item)


class _CoreRunnable:
    """spine-core's Runnable: runs pipelines its own way, in this process."""

    def submit_pipeline_sync(self, pipeline_name: str, params: Any, **ids: Any) -> Any:
        raise AssertionError("never called")


def test_misuse_is_refused_clearly(sqlite_url: str) -> None:
    with pytest.raises(ValueError, match="history=False keeps no history"):
        WorkflowRunner(database_url=sqlite_url, history=False)
    with WorkflowRunner(_CoreRunnable(), executor="threads") as runner:  # type: ignore[arg-type]
        assert runner.foreign_runnable is not None
    with pytest.raises(ValueError, match="cannot be combined with ProcessExecutor"):
        WorkflowRunner(_CoreRunnable(), executor="processes")  # type: ignore[arg-type]


def test_items_whose_module_workers_cannot_import_fail_as_configuration(tmp_path: Path) -> None:
    import importlib.util

    source = tmp_path / "ghost_steps.py"
    source.write_text("def step(ctx, cfg):\n    return {'ok': True}\n")
    spec = importlib.util.spec_from_file_location("ghost_steps_nowhere", source)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["ghost_steps_nowhere"] = module  # importable here, nowhere else
    try:
        spec.loader.exec_module(module)
        item = Workflow("item", [Step.lambda_("ghost", module.step)])
        fan = Workflow("fan", [Step.map("each", "items", item)])
        with ProcessExecutor(1) as pool, WorkflowRunner(executor=pool) as runner:
            result = runner.execute(fan, params={"items": [1, 2]})
    finally:
        del sys.modules["ghost_steps_nowhere"]

    assert result.status == "FAILED"
    assert result.error_category == "CONFIGURATION"
    assert "ghost_steps_nowhere" in (result.error or "")


def test_a_script_without_the_main_guard_is_told_and_its_workers_run_nothing(
    tmp_path: Path,
) -> None:
    script = tmp_path / "unguarded.py"
    script.write_text(
        textwrap.dedent(
            """
            from spine.orchestration import Step, Workflow, WorkflowRunner

            def square(ctx, cfg):
                return {"y": ctx.params["item"] ** 2}

            item = Workflow("item", [Step.lambda_("square", square)])
            fan = Workflow("fan", [Step.map("each", "items", item)])
            with WorkflowRunner(executor="processes") as runner:
                print("RAN", runner.execute(fan, params={"items": [1, 2]}).status)
            """
        )
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=False
    )

    # Only the script's own process ran the workflow; each worker stopped at once.
    assert done.stdout.split() == ["RAN", "FAILED"]
    assert 'put the code that runs workflows under `if __name__ == "__main__":`' in done.stderr


def test_an_item_the_new_definition_cannot_continue_fails_the_map_not_as_lost(
    sqlite_url: str, tmp_path: Path
) -> None:
    """Force-resumed with the item's step renamed: the map step fails naming the step,
    as INTERNAL (not as items lost on the way, which a retry policy would retry)."""
    from remote_steps import fail_odd_once

    gate = tmp_path / "gate"
    gate.touch()

    def fan(step_name: str) -> Workflow:
        item = Workflow("remote.rename.item", [Step.lambda_(step_name, fail_odd_once)])
        return Workflow("remote.rename", [Step.map("m", "items", item, max_concurrency=1)])

    params = {"items": [1, 2], "marks": str(tmp_path), "gate": str(gate)}
    with WorkflowRunner(database_url=sqlite_url, executor=ProcessExecutor(1)) as runner:
        failed = runner.execute(fan("odd"), params=params)
        assert failed.error_step == "m"
        again = runner.resume(failed.run_id, fan("renamed"), force=True)
        runner.executor.close()

    assert again.status == "FAILED"
    assert again.error_category == "INTERNAL"
    assert "continues at step 'odd'" in (again.error or "")
