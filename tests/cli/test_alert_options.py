"""``spine run`` and ``spine worker`` with --alert-on, --alerts and --ui-url, against a real
webhook receiver on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from http_receiver import Receiver
from spine.cli.main import cli
from spine.orchestration import WorkflowRunner
from spine.orchestration.registry import default_workflow_registry

FLOW = """
from spine.orchestration import Step, StepResult, Workflow, register_workflow

def load(ctx, config):
    if ctx.get_param("fail", False):
        return StepResult.fail("no rows for the week")
    return {"rows": 3}

flow = register_workflow(Workflow("cli.alerting", [Step.lambda_("load", load)]))
"""


@pytest.fixture(autouse=True)
def _no_alert_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # The machine's own alert settings must not leak into these runs.
    for name in list(os.environ):
        if name.startswith(("SPINE_ALERT", "SPINE_SMTP", "SPINE_SLACK", "SPINE_UI_URL")):
            monkeypatch.delenv(name)


@pytest.fixture
def flow_file(tmp_path: Path) -> Path:
    path = tmp_path / "flows.py"
    path.write_text(textwrap.dedent(FLOW))
    return path


def spine(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), env=env)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_run_alerts_through_the_channels_of_a_file_with_a_link(
    sqlite_url: str, flow_file: Path, receiver: Receiver, tmp_path: Path
) -> None:
    alerts = tmp_path / "alerts.yaml"
    alerts.write_text(
        f"channels:\n  - {{type: webhook, name: ops, url: {receiver.url()}, min_severity: INFO}}\n"
    )
    common = ["--db", sqlite_url, "run", f"{flow_file}:flow", "--alerts", str(alerts)]
    ui = ["--ui-url", "http://spine.example.com:8000"]

    failed, out, _ = spine(*common, "-p", "fail=true", "--alert-on", "FAILED", *ui, "--json")
    done, _, _ = spine(*common, "--alert-on", "failed", "--alert-on", "completed")

    assert (failed, done) == (1, 0)
    run_id = json.loads(out)["run_id"]
    first, second = [r.json() for r in receiver.requests]
    assert first["title"] == "Workflow cli.alerting failed"
    assert first["run_id"] == run_id
    assert "no rows for the week" in first["message"]
    assert first["metadata"]["url"] == f"http://spine.example.com:8000/runs/{run_id}"
    assert (second["severity"], second["title"]) == ("INFO", "Workflow cli.alerting completed")


def test_the_environment_chooses_statuses_channels_and_link(
    sqlite_url: str, flow_file: Path, receiver: Receiver
) -> None:
    env = {
        "SPINE_ALERT_ON": "FAILED, PARTIAL",
        "SPINE_ALERTS_WEBHOOK_URL": receiver.url(),
        "SPINE_UI_URL": "http://ui.example.com",
    }
    target = f"{flow_file}:flow"

    failed, _, _ = spine("--db", sqlite_url, "run", target, "-p", "fail=true", env=env)
    done, _, _ = spine("--db", sqlite_url, "run", target, env=env)
    silenced, _, _ = spine(
        "--db", sqlite_url, "run", target, "-p", "fail=true", "--alert-on", "", env=env
    )

    assert (failed, done, silenced) == (1, 0, 1)
    # The completed run and the silenced one sent nothing.
    [alert] = [r.json() for r in receiver.requests]
    assert alert["severity"] == "ERROR"
    assert alert["metadata"]["url"].startswith("http://ui.example.com/runs/")


def test_deliveries_are_recorded_in_the_database(
    sqlite_url: str, flow_file: Path, receiver: Receiver
) -> None:
    env = {"SPINE_ALERTS_WEBHOOK_URL": receiver.url()}
    spine("--db", sqlite_url, "run", f"{flow_file}:flow", "-p", "fail=true",
          "--alert-on", "FAILED", env=env)  # fmt: skip

    with WorkflowRunner(database_url=sqlite_url) as runner:
        assert runner.store is not None
        [record] = runner.store.delivery_log().recent()
    assert (record.channel, record.success, record.title) == (
        "webhook",
        True,
        "Workflow cli.alerting failed",
    )


@pytest.mark.parametrize("command", ["run", "worker"])
@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--alert-on", "FAILED,running"], {},
         "--alert-on: RUNNING is not a run status to alert on; choose from FAILED, PARTIAL"),
        ([], {"SPINE_ALERT_ON": "nope"},
         "SPINE_ALERT_ON (the default of --alert-on): NOPE is not a run status"),
        (["--ui-url", "spine.example.com:8000"], {},
         "--ui-url: must be an http:// or https:// URL with a host"),
        (["--alerts", "missing.yaml"], {},
         "--alerts: alert config missing.yaml: cannot read it"),
        ([], {"SPINE_ALERTS_WEBHOOK_URL": "http://127.0.0.1:1/x",
              "SPINE_ALERTS_THROTTLE_SECONDS": "nan"},
         "SPINE_ALERTS_THROTTLE_SECONDS: must be a number of seconds"),
    ],
)  # fmt: skip
def test_bad_alert_options_are_usage_errors_naming_the_option(
    sqlite_url: str,
    flow_file: Path,
    command: str,
    args: list[str],
    env: dict[str, str],
    message: str,
) -> None:
    where = [f"{flow_file}:flow"] if command == "run" else ["--app", str(flow_file)]

    code, out, err = spine("--db", sqlite_url, command, *where, *args, env=env)

    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err
    assert out == ""


def test_alert_on_without_a_channel_says_so(sqlite_url: str, flow_file: Path) -> None:
    code, _, err = spine("--db", sqlite_url, "run", f"{flow_file}:flow", "--alert-on", "FAILED")

    assert code == 0
    assert "no alert channel is configured" in err


def test_a_worker_alerts_on_the_runs_it_executes(
    sqlite_url: str, flow_file: Path, receiver: Receiver
) -> None:
    namespace: dict[str, Any] = {}
    exec(compile(textwrap.dedent(FLOW), str(flow_file), "exec"), namespace)
    with WorkflowRunner(database_url=sqlite_url) as runner:
        run_id = runner.submit(namespace["flow"], params={"fail": True})
    default_workflow_registry.clear()
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "SPINE_ALERTS_WEBHOOK_URL": receiver.url(),
        "SPINE_UI_URL": "http://ui.example.com",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "spine.cli.main", "--db", sqlite_url, "worker",
         "--app", str(flow_file), "--poll", "0.05", "--alert-on", "FAILED"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not receiver.requests and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)

    assert process.returncode == 0, err
    [alert] = [r.json() for r in receiver.requests]
    assert (alert["run_id"], alert["title"]) == (run_id, "Workflow cli.alerting failed")
    assert alert["metadata"]["url"] == f"http://ui.example.com/runs/{run_id}"
    assert f"{run_id} cli.alerting: FAILED" in out
