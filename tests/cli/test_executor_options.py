"""spine run / spine worker --executor and --dask-scheduler."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from spine.cli.main import cli

FLOW = """
import os
from spine.orchestration import Step, Workflow

def square(ctx, cfg):
    return {"y": ctx.params["item"] ** 2, "pid": os.getpid()}

item = Workflow("cli.item", [Step.lambda_("square", square)])
flow = Workflow("cli.fan", [Step.map("each", "items", item, max_concurrency=2)])
"""


@pytest.fixture
def flow_file(tmp_path: Path) -> Path:
    path = tmp_path / "fan_flow.py"
    path.write_text(textwrap.dedent(FLOW))
    return path


def _run(sqlite_url: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["--db", sqlite_url, *args])
    return result.exit_code, result.stdout, result.stderr


def test_a_file_workflows_items_run_in_worker_processes(sqlite_url: str, flow_file: Path) -> None:
    code, out, err = _run(
        sqlite_url, "run", f"{flow_file}:flow", "-p", "items=[1, 2, 3]",
        "--executor", "processes", "--json",
    )  # fmt: skip

    assert code == 0, err
    result = json.loads(out)
    [each] = result["step_executions"]
    squares = [r["square"] for r in each["output"]["results"]]
    assert [s["y"] for s in squares] == [1, 4, 9]
    # Functions of a file spine loaded under a made-up module name travel by value.
    assert os.getpid() not in {s["pid"] for s in squares}


def test_bad_executor_options_are_one_line_and_exit_2(sqlite_url: str, flow_file: Path) -> None:
    code, _, err = _run(sqlite_url, "run", f"{flow_file}:flow", "--dask-scheduler", "tcp://x:1")
    assert code == 2
    assert "--dask-scheduler needs --executor dask" in err
    code, _, err = _run(sqlite_url, "run", f"{flow_file}:flow", "--executor", "cluster")
    assert code == 2
    assert "'cluster' is not one of" in err
