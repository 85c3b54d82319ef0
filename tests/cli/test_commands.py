"""The ``spine`` command, driven as users drive it (click's runner, and real processes)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from cli_runner import spine

FLOW = """
from pathlib import Path
from spine.orchestration import Step, StepResult, Workflow, register_workflow

MARKER = Path(__file__).with_name("fail-once")

def load(ctx, config):
    return {"rows": ctx.get_param("rows", 10)}

def check(ctx, config):
    if MARKER.exists():
        MARKER.unlink()
        return StepResult.fail("checker unavailable", category="TRANSIENT")
    return {"ok": ctx.get_output("load", "rows") > 5}

flow = register_workflow(Workflow("cli.flow", [
    Step.lambda_("load", load),
    Step.lambda_("check", check),
    Step.choice("route", lambda ctx: ctx.get_output("check", "ok"),
                then_step="big", else_step="small"),
    Step.lambda_("big", lambda ctx, cfg: {"size": "big"}),
    Step.lambda_("small", lambda ctx, cfg: {"size": "small"}),
]))
not_a_workflow = 42
"""


@pytest.fixture
def flow_file(tmp_path: Path) -> Path:
    path = tmp_path / "flows.py"
    path.write_text(textwrap.dedent(FLOW))
    return path


def test_run_shows_steps_and_summary(sqlite_url: str, flow_file: Path) -> None:
    code, out, _ = spine(sqlite_url, "run", f"{flow_file}:flow", "-p", "rows=50")
    assert code == 0
    for name in ("load", "check", "route", "big"):
        assert name in out
    assert "COMPLETED" in out
    assert "small" not in out.split("completed")[-1]


def test_run_json_and_params(sqlite_url: str, flow_file: Path, tmp_path: Path) -> None:
    params = tmp_path / "params.json"
    params.write_text(json.dumps({"rows": 2}))
    code, out, _ = spine(
        sqlite_url, "run", f"{flow_file}:flow", "--params-file", str(params), "--json",
        "--partition", "tier=T1",
    )  # fmt: skip
    assert code == 0
    data = json.loads(out)
    assert data["status"] == "COMPLETED"
    assert data["completed_steps"] == ["load", "check", "route", "small"]


def test_a_failed_run_exits_1_and_resume_continues_it(sqlite_url: str, flow_file: Path) -> None:
    (flow_file.parent / "fail-once").touch()
    code, out, _ = spine(sqlite_url, "run", f"{flow_file}:flow", "--json")
    assert code == 1
    run_id = json.loads(out)["run_id"]
    assert json.loads(out)["error_step"] == "check"
    # The workflow is found again from where `spine run` loaded it.
    code, out, _ = spine(sqlite_url, "resume", run_id, "--json")
    assert code == 0
    assert json.loads(out)["status"] == "COMPLETED"


def test_runs_and_show(sqlite_url: str, flow_file: Path) -> None:
    for rows in (1, 50, 3):
        spine(sqlite_url, "run", f"{flow_file}:flow", "-p", f"rows={rows}")
    code, out, _ = spine(sqlite_url, "runs", "--json", "--limit", "2")
    assert code == 0
    listed = json.loads(out)
    assert len(listed) == 2
    assert listed[0]["params"] == {"rows": 3}  # newest first
    code, out, _ = spine(sqlite_url, "runs", "--workflow", "cli.flow", "--status", "completed",
                         "--since", "1h", "--json")  # fmt: skip
    assert len(json.loads(out)) == 3
    code, out, _ = spine(sqlite_url, "runs", "--workflow", "other", "--json")
    assert json.loads(out) == []
    code, out, _ = spine(sqlite_url, "show", listed[0]["run_id"], "--json")
    detail = json.loads(out)
    assert [s["step_name"] for s in detail["steps"]] == ["load", "check", "route", "small"]
    code, out, _ = spine(sqlite_url, "show", listed[0]["run_id"])
    assert code == 0
    assert "small" in out
    code, out, _ = spine(sqlite_url, "runs")
    assert listed[0]["run_id"] in out


def test_graph_draws_branches(flow_file: Path, sqlite_url: str) -> None:
    code, out, _ = spine(sqlite_url, "graph", f"{flow_file}:flow")
    assert code == 0
    assert "flowchart TD" in out
    assert "-- then -->" in out
    assert "-- else -->" in out
    assert "then -> big | else -> small" in out
    code, out, _ = spine(sqlite_url, "graph", f"{flow_file}:flow", "--json")
    edges = json.loads(out)["edges"]
    assert {"from": "route", "to": "small", "label": "else"} in edges
    assert {"from": "big", "to": "small", "label": ""} not in edges  # branches stay apart


def test_db_upgrade_and_prune(sqlite_url: str, flow_file: Path) -> None:
    code, out, _ = spine(sqlite_url, "db", "upgrade")
    assert code == 0
    assert "schema version" in out
    spine(sqlite_url, "run", f"{flow_file}:flow")
    code, out, _ = spine(sqlite_url, "prune", "--older-than", "1h")
    assert out.strip() == "pruned 0 runs"
    time.sleep(0.01)
    code, out, _ = spine(sqlite_url, "prune", "--older-than", "0s")
    assert out.strip() == "pruned 1 run"
    assert json.loads(spine(sqlite_url, "runs", "--json")[1]) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "missing.py:flow"], "no such file"),
        (["run", "{flow}:not_a_workflow"], "not a Workflow"),
        (["run", "{flow}:nothing"], "has no attribute"),
        (["run", "flows"], "does not name a workflow"),
        (["run", "{flow}:flow", "-p", "novalue"], "expected key=value"),
        (["show", "no-such-run"], "no run 'no-such-run'"),
        (["prune", "--older-than", "soon"], "use a number and a unit"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    sqlite_url: str, flow_file: Path, args: list[str], message: str
) -> None:
    argv = [a.replace("{flow}", str(flow_file)) for a in args]
    code, _, err = spine(sqlite_url, *argv)
    assert code == 2
    assert message in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_unknown_database_scheme_in_a_real_process() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "spine.cli.main", "--db", "mysql://x/y", "runs"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "not supported" in done.stderr
    assert "Traceback" not in done.stderr


def test_worker_stops_cleanly_on_sigterm(sqlite_url: str, flow_file: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "spine.cli.main", "--db", sqlite_url, "worker",
         "--app", str(flow_file), "--poll", "0.05"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    assert process.stdout is not None
    first = process.stdout.readline()
    assert "worker" in first
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "worker stopped" in out


def test_ui_refuses_a_public_address_without_a_token(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SPINE_API_TOKEN", raising=False)
    code, _, err = spine(sqlite_url, "ui", "--host", "0.0.0.0")
    assert code == 2
    assert "SPINE_API_TOKEN" in err
