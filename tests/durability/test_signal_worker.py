"""A run awaiting a signal under real `spine worker` processes: the worker is SIGKILLed
while the run waits, another starts, and `spine signal` (a separate process) delivers the
signal; the run completes with the payload as the awaiting step's output."""

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

from spine.orchestration import WorkflowRunner, register_workflow

pytestmark = pytest.mark.timeout(120)

APP = """
from spine.orchestration import Step, Workflow, register_workflow

flow = register_workflow(Workflow("signals.worker", [
    Step.lambda_("prepare", lambda ctx, config: {"ready": True}),
    Step.await_signal("approval", "approved"),
    Step.lambda_("after", lambda ctx, config: {"n": ctx.get_output("approval")["n"] + 1}),
]))
"""


def _spine(database_url: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "spine.cli.main", "--db", database_url, *args]


def _status_until(client: WorkflowRunner, run_id: str, wanted: str) -> str:
    assert client.store is not None
    deadline = time.time() + 30
    status = client.store.load_run(run_id).run.status
    while status != wanted and time.time() < deadline:
        time.sleep(0.05)
        status = client.store.load_run(run_id).run.status
    return status


def test_a_signal_sent_by_spine_signal_completes_a_run_across_a_worker_restart(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = tmp_path / "signals_app.py"
    app.write_text(textwrap.dedent(APP))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    monkeypatch.syspath_prepend(str(tmp_path))
    import signals_app  # (cached after the first backend: registered again below)

    flow = register_workflow(signals_app.flow)
    worker_args = _spine(database_url, "worker", "--app", str(app), "--poll", "0.05")
    with WorkflowRunner(database_url=database_url) as client:
        run_id = client.submit(flow)
        first = subprocess.Popen(worker_args, stdout=subprocess.DEVNULL, env=env)
        try:
            assert _status_until(client, run_id, "WAITING") == "WAITING"
            waiting = subprocess.run(
                _spine(database_url, "show", run_id),
                capture_output=True, text=True, env=env, timeout=60,
            )  # fmt: skip
            assert "waiting for signal approved until 9999-12-31" in waiting.stdout
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        second = subprocess.Popen(worker_args, stdout=subprocess.DEVNULL, env=env)
        try:
            sent = subprocess.run(
                _spine(database_url, "signal", run_id, "approved", "-p", "n=41"),
                capture_output=True, text=True, env=env, timeout=60,
            )  # fmt: skip
            assert sent.returncode == 0, sent.stderr
            assert "signal 'approved' sent" in sent.stdout
            assert _status_until(client, run_id, "COMPLETED") == "COMPLETED"
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(30)
        assert second.returncode == 0
        assert client.store is not None
        outputs = client.store.load_run(run_id).run.outputs
        assert outputs["approval"] == {"n": 41}
        assert outputs["after"] == {"n": 42}
        again = subprocess.run(_spine(database_url, "signal", run_id, "approved"),
                               capture_output=True, text=True, env=env, timeout=60)  # fmt: skip
        assert again.returncode == 1
        assert "has ended (COMPLETED)" in again.stderr
        shown = subprocess.run(_spine(database_url, "show", run_id, "--json"),
                               capture_output=True, text=True, env=env, timeout=60)  # fmt: skip
        [shown_signal] = json.loads(shown.stdout)["signals"]
        assert shown_signal["signal_name"] == "approved"
        assert shown_signal["payload"] == {"n": 41}
        assert shown_signal["consumed_at"] is not None
        text = subprocess.run(_spine(database_url, "show", run_id),
                              capture_output=True, text=True, env=env, timeout=60)  # fmt: skip
        assert "signal approved sent" in text.stdout
