"""``spine validate`` and ``spine run flow.yaml``, driven through click's runner."""

from __future__ import annotations

import json
import textwrap
import uuid
from pathlib import Path

import pytest

from cli_runner import spine
from spine.orchestration import WorkflowRunner, load_workflow, register_workflow
from spine.orchestration.registry import default_workflow_registry

SECONDS = "must be a number of seconds from 0 to 31622400 (366 days)"

STEPS = """
from pathlib import Path
from spine.orchestration import StepResult

MARKER = Path(__file__).with_name("fail-once")

def load(ctx, config):
    return {"rows": ctx.get_param("rows", 10) * config["factor"]}

def check(ctx, config):
    if MARKER.exists():
        MARKER.unlink()
        return StepResult.fail("checker unavailable", category="TRANSIENT")
    return {"ok": True}

def size(ctx, config):
    return {"size": config["size"], "region": ctx.partition.get("region")}
"""

FLOW = """
name: cli.yaml_flow
steps:
  - name: load
    lambda: {module}:load
    config: {{factor: 2}}
  - name: check
    lambda: {module}:check
  - name: route
    choice: {{when: "outputs.load.rows > 50", then: big, else: small}}
  - name: big
    lambda: {module}:size
    config: {{size: big}}
  - name: small
    lambda: {module}:size
    config: {{size: small}}
"""


@pytest.fixture
def flow_file(tmp_path: Path) -> Path:
    # A module name of its own: the neighbour module is imported once per process.
    module = f"yaml_cli_steps_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(STEPS))
    path = tmp_path / "flow.yaml"
    path.write_text(FLOW.format(module=module))
    return path


def test_validate_a_valid_file(sqlite_url: str, flow_file: Path) -> None:
    code, out, err = spine(sqlite_url, "validate", str(flow_file))

    assert code == 0
    assert out.strip() == (
        f"{flow_file}: OK: workflow 'cli.yaml_flow' version 1: load (lambda), check (lambda), "
        "route (choice), big (lambda), small (lambda)"
    )
    assert err == ""


def test_validate_lists_every_problem_one_per_line(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("bad.yaml").write_text(
        "name: bad\n"
        "steps:\n"
        "  - {name: a, wait: -1}\n"
        "  - {name: b, choice: {when: \"__import__('os')\", then: c}}\n"
    )

    code, out, err = spine(sqlite_url, "validate", "bad.yaml")

    assert code == 2
    assert out == ""
    assert err.splitlines() == [
        f"bad.yaml:3: steps[0].wait: {SECONDS}, got -1 (int)",
        "bad.yaml:4: steps[1].choice.when: `__import__('os')` is not allowed: the only "
        "functions are len(), abs(), min(), max()",
        "bad.yaml:4: steps[1].choice.then: 'c' names no step of this workflow; "
        "expected one of a, b",
    ]


def test_validate_json(sqlite_url: str, flow_file: Path, tmp_path: Path) -> None:
    code, out, _ = spine(sqlite_url, "validate", str(flow_file), "--json")
    assert code == 0
    data = json.loads(out)
    assert data["valid"] is True
    assert data["workflow"] == "cli.yaml_flow"
    assert [s["name"] for s in data["steps"]] == ["load", "check", "route", "big", "small"]

    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nsteps: []\n")
    code, out, _ = spine(sqlite_url, "validate", str(bad), "--json")
    assert code == 2
    assert json.loads(out) == {
        "valid": False,
        "problems": [f"{bad}:2: steps: is empty; a workflow needs at least one step"],
    }


def test_validate_notes_pipelines_not_registered(sqlite_url: str, tmp_path: Path) -> None:
    path = tmp_path / "pipes.yaml"
    path.write_text(
        "name: pipes\n"
        "steps:\n"
        "  - {name: ingest, pipeline: not.registered}\n"
        "  - name: fan\n"
        "    map: {items: params.xs, workflow: {steps: [{name: inner, pipeline: also.missing}]}}\n"
    )

    code, out, err = spine(sqlite_url, "validate", str(path))

    assert code == 0
    assert "OK" in out
    assert err.splitlines() == [
        "note: step 'ingest': pipeline 'not.registered' is not registered here; "
        "it is looked up when the step runs",
        "note: step 'fan > inner': pipeline 'also.missing' is not registered here; "
        "it is looked up when the step runs",
    ]


def test_validate_a_python_target(sqlite_url: str, tmp_path: Path) -> None:
    path = tmp_path / "flows.py"
    path.write_text(
        "from spine.orchestration import Step, Workflow\n"
        "flow = Workflow('py.flow', [Step.wait('pause', 0)])\n"
    )

    code, out, _ = spine(sqlite_url, "validate", f"{path}:flow")

    assert code == 0
    assert out.strip() == f"{path}:flow: OK: workflow 'py.flow' version 1: pause (wait)"


def test_run_a_yaml_file(sqlite_url: str, flow_file: Path) -> None:
    code, out, _ = spine(
        sqlite_url, "run", str(flow_file), "-p", "rows=30", "--partition", "region=eu", "--json"
    )

    assert code == 0
    data = json.loads(out)
    assert data["status"] == "COMPLETED"
    assert data["completed_steps"] == ["load", "check", "route", "big"]
    code, out, _ = spine(sqlite_url, "show", data["run_id"], "--json")
    steps = {s["step_name"]: s for s in json.loads(out)["steps"]}
    assert steps["big"]["output"] == {"size": "big", "region": "eu"}


def test_run_with_a_params_file_and_dry_run(
    sqlite_url: str, flow_file: Path, tmp_path: Path
) -> None:
    params = tmp_path / "params.json"
    params.write_text(json.dumps({"rows": 5}))

    code, out, _ = spine(
        sqlite_url, "run", str(flow_file), "--params-file", str(params), "--dry-run"
    )

    assert code == 0
    assert "completed load, check, route, small" in out


def test_a_failed_yaml_run_is_resumed_from_its_file(sqlite_url: str, flow_file: Path) -> None:
    (flow_file.parent / "fail-once").touch()
    code, out, _ = spine(sqlite_url, "run", str(flow_file), "--json")
    assert code == 1
    run_id = json.loads(out)["run_id"]

    # Nothing registers the workflow: resume loads the file `spine run` recorded.
    code, out, _ = spine(sqlite_url, "resume", run_id, "--json")

    assert code == 0
    assert json.loads(out)["status"] == "COMPLETED"
    code, out, _ = spine(sqlite_url, "show", run_id, "--json")
    executed = [(s["step_name"], s["attempt"]) for s in json.loads(out)["steps"]]
    assert executed == [("load", 1), ("check", 1), ("check", 2), ("route", 1), ("small", 1)]


def test_an_invalid_file_is_refused_by_run_with_every_problem(
    sqlite_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\nsteps:\n  - {name: a, wait: -1}\n  - {name: b, lambda: x}\n")

    code, _, err = spine(sqlite_url, "run", str(path))

    assert code == 2
    assert "Traceback" not in err
    assert err.splitlines() == [
        f"Error: {path}: 2 problems:",
        f"  {path}:3: steps[0].wait: {SECONDS}, got -1 (int)",
        f"  {path}:4: steps[1].lambda: must be module:function (e.g. mypkg.checks:validate), "
        "got 'x' (str)",
    ]


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("missing.yaml", "missing.yaml: no such file"),
        ("{flow}:attribute", "a YAML file holds one workflow; give {flow} alone"),
    ],
)
def test_bad_yaml_targets_are_one_line_and_exit_2(
    sqlite_url: str, flow_file: Path, target: str, message: str
) -> None:
    code, _, err = spine(sqlite_url, "run", target.format(flow=flow_file))

    assert code == 2
    assert message.format(flow=flow_file) in err
    assert len(err.strip().splitlines()) == 1


def test_an_app_given_as_a_yaml_file_is_registered(
    sqlite_url: str, flow_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(flow_file.parent))  # for the file's lambdas
    with WorkflowRunner(database_url=sqlite_url) as client:
        run_id = client.submit(register_workflow(load_workflow(flow_file)), params={"rows": 40})
    default_workflow_registry.clear()

    code, out, _ = spine(sqlite_url, "recover", "--app", str(flow_file), "--json")

    assert code == 0
    [done] = json.loads(out)
    assert done["run_id"] == run_id
    assert done["completed_steps"] == ["load", "check", "route", "big"]


@pytest.mark.parametrize("wait", [".inf", ".nan", "99999999999999999999999", "1e400"])
def test_a_wait_without_end_is_refused_by_validate_and_run(
    sqlite_url: str, tmp_path: Path, wait: str
) -> None:
    # It used to pass validate, then crash run with an OverflowError, the run left RUNNING.
    path = tmp_path / "inf.yaml"
    path.write_text(f"name: inf\nsteps:\n  - {{name: a, wait: {wait}}}\n")

    for command in ("validate", "run"):
        code, _, err = spine(sqlite_url, command, str(path))
        assert code == 2
        assert f"inf.yaml:3: steps[0].wait: {SECONDS}" in err
        assert "Traceback" not in err
    with WorkflowRunner(database_url=sqlite_url) as runner:
        assert runner.store is not None
        assert runner.store.list_runs() == []
