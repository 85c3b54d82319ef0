"""``spine fork``: a new run from a stored run's step, printed and exiting as ``spine run``."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from cli_runner import spine

FLOW = """
from pathlib import Path
from spine.orchestration import Step, StepResult, Workflow

LOADS = Path(__file__).with_name("loads")

def load(ctx, config):
    with LOADS.open("a") as loads:
        loads.write("load\\n")
    return {"rows": 10}

def scale(ctx, config):
    factor = ctx.get_param("factor")
    if factor < 0:
        return StepResult.fail(f"factor {factor} < 0")
    return {"rows": ctx.get_output("load", "rows") * factor}

flow = Workflow("cli.fork", [Step.lambda_("load", load), Step.lambda_("scale", scale)])
"""


@pytest.fixture
def flow_file(tmp_path: Path) -> Path:
    path = tmp_path / "forks.py"
    path.write_text(textwrap.dedent(FLOW))
    return path


def test_fork_executes_from_the_step_with_new_params(sqlite_url: str, flow_file: Path) -> None:
    code, out, _ = spine(sqlite_url, "run", f"{flow_file}:flow", "-p", "factor=-1", "--json")
    assert code == 1
    original = json.loads(out)["run_id"]

    # Found where `spine run` loaded it; printed and exiting as `spine run`.
    code, out, _ = spine(sqlite_url, "fork", original, "--from", "scale", "-p", "factor=-2")
    assert code == 1
    assert "factor -2 < 0" in out
    code, out, _ = spine(sqlite_url, "fork", original, "--from", "scale", "-p", "factor=3",
                         "--json")  # fmt: skip
    assert code == 0
    done = json.loads(out)
    assert (done["status"], done["step_executions"][-1]["output"]) == ("COMPLETED", {"rows": 30})
    assert (flow_file.parent / "loads").read_text() == "load\n"  # not run again

    code, out, _ = spine(sqlite_url, "show", done["run_id"], "--json")
    shown = json.loads(out)
    assert (shown["forked_from"], shown["params"]) == (original, {"factor": 3})
    code, out, _ = spine(sqlite_url, "show", done["run_id"])
    assert f"forked from run {original}" in out
    code, out, _ = spine(sqlite_url, "show", original, "--json")
    assert json.loads(out)["status"] == "FAILED"


def test_fork_queue_and_refusals(sqlite_url: str, flow_file: Path) -> None:
    code, out, _ = spine(sqlite_url, "run", f"{flow_file}:flow", "-p", "factor=1", "--json")
    original = json.loads(out)["run_id"]

    code, out, _ = spine(sqlite_url, "fork", original, "--from", "scale", "--queue", "--json")
    assert code == 0
    queued = json.loads(out)
    assert queued["status"] == "PENDING"
    code, out, _ = spine(sqlite_url, "show", queued["run_id"], "--json")
    assert [s["step_name"] for s in json.loads(out)["steps"]] == ["load"]

    code, _, err = spine(sqlite_url, "fork", original, "--from", "nowhere")
    assert code == 2
    assert "from step 'nowhere'" in err
    assert "load, scale" in err
    code, _, err = spine(sqlite_url, "fork", "no-such-run", "--from", "load")
    assert code == 2
