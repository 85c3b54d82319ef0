"""Naming what to run as a new user would: ``spine run FILE.py`` for a file of one
workflow, the shipped example imported without running itself, ``-p`` values that
look like JSON, and a resume that says where to find a workflow it does not know."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cli_runner import spine
from spine.orchestration import Step, StepResult, Workflow, WorkflowRunner

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "finra_weekly_refresh.py"

ONE = """
from spine.orchestration import Step, Workflow

echo = Workflow("targets.echo", [Step.lambda_("echo", lambda ctx, cfg: dict(ctx.params))])
same = echo  # one workflow under two names is one workflow
rows = 10
"""

TWO = """
from spine.orchestration import Step, Workflow

first = Workflow("targets.first", [Step.lambda_("a", lambda c, k: {})])
second = Workflow("targets.second", [Step.lambda_("b", lambda c, k: {})])
"""


def test_a_file_of_one_workflow_needs_no_name(sqlite_url: str, tmp_path: Path) -> None:
    one = tmp_path / "one.py"
    one.write_text(textwrap.dedent(ONE))
    code, out, _ = spine(sqlite_url, "run", str(one), "-p", "x=1", "--json")
    assert code == 0
    assert json.loads(out)["workflow_name"] == "targets.echo"
    code, out, _ = spine(sqlite_url, "graph", str(one), "--format", "ascii")
    assert (code, out.splitlines()[0]) == (0, "targets.echo")
    code, out, _ = spine(sqlite_url, "validate", str(one))
    assert code == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (TWO, "two.py defines 2 workflows at module level (first ('targets.first'), second "
              "('targets.second')); name the one to use: {file}:NAME"),
        ("rows = 1\n", "two.py defines 0 workflows at module level (none); name the one to "
                       "use: {file}:NAME"),
    ],
)  # fmt: skip
def test_a_file_of_several_or_no_workflows_is_asked_for_a_name(
    sqlite_url: str, tmp_path: Path, text: str, message: str
) -> None:
    two = tmp_path / "two.py"
    two.write_text(textwrap.dedent(text))
    code, _, err = spine(sqlite_url, "run", str(two))
    assert code == 2
    assert message.format(file=two) in err
    assert err.count("\n") == 1


def _spine_process(db: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "spine.cli.main", "--db", db, *args],
        capture_output=True, text=True, check=False, env={**os.environ, "SPINE_DEMO_ROWS": "500"},
    )  # fmt: skip


def test_the_example_runs_once_and_only_when_run(sqlite_url: str) -> None:
    done = _spine_process(sqlite_url, "run", f"{EXAMPLE}:workflow")
    assert done.returncode == 0, done.stderr
    assert "Status:" not in done.stdout  # its script part did not run on import
    done = _spine_process(sqlite_url, "run", str(EXAMPLE), "--json")
    assert json.loads(done.stdout)["status"] == "COMPLETED"
    listed = json.loads(_spine_process(sqlite_url, "runs", "--json").stdout)
    assert [r["workflow_name"] for r in listed] == ["finra.weekly_refresh"] * 2
    done = _spine_process(sqlite_url, "graph", str(EXAMPLE), "--format", "ascii")
    assert done.stdout.startswith("finra.weekly_refresh\n")
    assert "Status:" not in done.stdout
    # Importing it registers its workflow: a schedule of it is checked, with no warning.
    schedule = ["weekly", "--workflow", "finra.weekly_refresh", "--cron", "0 6 * * MON"]
    done = _spine_process(sqlite_url, "schedule", "add", *schedule, "--app", str(EXAMPLE))
    assert done.returncode == 0, done.stderr
    assert (done.stdout.count("\n"), done.stderr) == (1, "")


def test_resume_says_how_to_point_at_an_unknown_workflow(sqlite_url: str, tmp_path: Path) -> None:
    failing = Workflow("targets.lost", [Step.lambda_("a", lambda c, k: StepResult.fail("no"))])
    with WorkflowRunner(database_url=sqlite_url) as runner:
        run_id = runner.execute(failing).run_id
    code, _, err = spine(sqlite_url, "resume", run_id)
    assert code == 2
    assert (
        f"run {run_id}: its workflow 'targets.lost' is not registered here (registered: "
        "none), and the run does not say where it was loaded from; give --app MODULE (a "
        "module or file.py that registers it) or --workflow TARGET (flow.yaml, "
        "path/to/file.py[:name] or package.module:name)"
    ) in err

    # Run from a file that has moved since: the message names the file.
    flows = tmp_path / "moved.py"
    flows.write_text(textwrap.dedent(ONE))
    code, out, _ = spine(sqlite_url, "run", f"{flows}", "-p", "x=1", "--json")
    run_id = json.loads(out)["run_id"]
    flows.rename(tmp_path / "here.py")
    for command in (["resume", run_id], ["fork", run_id, "--from", "echo"]):
        code, _, err = spine(sqlite_url, *command)
        assert code == 2
        assert (
            f"run {run_id}: its workflow 'targets.echo' is not registered here (registered: "
            "none), and where "
            f"`spine run` loaded it, {flows}:echo, fails ({flows}: no such file); give --app "
        ) in err
    code, out, _ = spine(sqlite_url, "fork", run_id, "--from", "echo", "--workflow",
                         str(tmp_path / "here.py"), "--json")  # fmt: skip
    assert (code, json.loads(out)["status"]) == (0, "COMPLETED")


@pytest.mark.parametrize(
    ("pair", "key"),
    [("tags=[a,b]", "tags"), ('obj={"a":', "obj"), ('name="unended', "name"), ("x= [1", "x")],
)
def test_a_value_that_starts_like_json_must_be_json(
    sqlite_url: str, tmp_path: Path, pair: str, key: str
) -> None:
    one = tmp_path / "one.py"
    one.write_text(textwrap.dedent(ONE))
    code, _, err = spine(sqlite_url, "run", str(one), "-p", pair)
    assert code == 2
    assert err.startswith(f"Error: -p {key}: {pair.partition('=')[2]!r} starts like JSON but")
    assert err.count("\n") == 1


def test_plain_words_stay_text_and_json_is_json(sqlite_url: str, tmp_path: Path) -> None:
    one = tmp_path / "one.py"
    one.write_text(textwrap.dedent(ONE))
    pairs = ["day=monday", "n=3", 'tags=["a"]', 'who="ada"', "note=a [draft]", "empty="]
    code, out, _ = spine(sqlite_url, "run", str(one), *[a for p in pairs for a in ("-p", p)],
                         "--json")  # fmt: skip
    assert code == 0
    assert json.loads(out)["step_executions"][0]["output"] == {
        "day": "monday", "n": 3, "tags": ["a"], "who": "ada", "note": "a [draft]", "empty": "",
    }  # fmt: skip
