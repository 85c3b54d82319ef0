"""``spine logs``, ``spine prune --logs-older-than``, and what ``spine run`` prints of
failed attempts: one line each, tracebacks only with ``--verbose``."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from cli_runner import spine

FLOW = """
import logging
from pathlib import Path
from spine.orchestration import RetryPolicy, Step, Workflow

TRIES = Path(__file__).with_name("tries")

def flaky(ctx, config):
    n = len(TRIES.read_text()) + 1 if TRIES.exists() else 1
    TRIES.write_text("x" * n)
    print(f"try {n}")
    logging.getLogger("flow").warning("careful")
    if n < 3:
        raise RuntimeError(f"planned failure {n}")
    return {"n": n}

flow = Workflow("cli.logs", [
    Step.lambda_("quiet", lambda ctx, config: {}),
    Step.lambda_("flaky", flaky, retry=RetryPolicy(max_attempts=3, initial_delay_seconds=0,
                                                   jitter=False)),
])
"""


@pytest.fixture
def target(tmp_path: Path) -> str:
    path = tmp_path / "logflow.py"
    path.write_text(textwrap.dedent(FLOW))
    return f"{path}:flow"


def test_run_prints_one_line_per_failed_attempt_and_tracebacks_with_verbose(
    sqlite_url: str, target: str, tmp_path: Path
) -> None:
    code, out, err = spine(sqlite_url, "run", target)
    assert code == 0
    assert [line.split()[:2] for line in out.splitlines() if line.startswith("  flaky")] == [
        ["flaky", "lambda"], ["flaky", "lambda"], ["flaky", "lambda"],
    ]  # fmt: skip
    assert "Traceback" not in out + err
    assert "try 1" not in out + err  # the step's own output went to its log

    (tmp_path / "tries").unlink()
    code, out, err = spine(sqlite_url, "run", target, "--verbose")
    assert code == 0
    assert out.count("Traceback (most recent call last):") == 2
    assert "RuntimeError: planned failure 2" in out

    (tmp_path / "tries").unlink()
    code, out, err = spine(sqlite_url, "run", target, "--json")
    run_id = json.loads(out)["run_id"]
    assert err.splitlines() == [
        f"workflow 'cli.logs' run {run_id} step 'flaky' attempt {n} failed (will retry): "
        f"RuntimeError: planned failure {n}"
        for n in (1, 2)
    ]


def test_logs_prints_each_attempts_lines_filtered_by_step(sqlite_url: str, target: str) -> None:
    _, out, _ = spine(sqlite_url, "run", target, "--json")
    run_id = json.loads(out)["run_id"]
    code, out, _ = spine(sqlite_url, "logs", run_id, "--follow")  # ended: prints and returns
    assert code == 0
    rows = [line.split(maxsplit=3) for line in out.splitlines() if not line.startswith(" ")]
    assert [(level, label, text) for _, level, label, text in rows if level != "traceback"] == [
        ("stdout", "flaky#1", "try 1"), ("WARNING", "flaky#1", "flow: careful"),
        ("stdout", "flaky#2", "try 2"), ("WARNING", "flaky#2", "flow: careful"),
        ("stdout", "flaky#3", "try 3"), ("WARNING", "flaky#3", "flow: careful"),
    ]  # fmt: skip
    assert [label for _, level, label, _ in rows if level == "traceback"] == ["flaky#1", "flaky#2"]
    assert rows[0][0].endswith("+00:00")  # ISO time, UTC
    assert spine(sqlite_url, "logs", run_id, "--step", "quiet")[1] == ""
    assert spine(sqlite_url, "logs", run_id, "--step", "flaky")[1] == out
    code, _, err = spine(sqlite_url, "logs", "no-such-run")
    assert code == 2
    assert "no-such-run" in err


def test_prune_drops_logs_sooner_and_keeps_the_runs(sqlite_url: str, target: str) -> None:
    _, out, _ = spine(sqlite_url, "run", target, "--json")
    run_id = json.loads(out)["run_id"]
    assert spine(sqlite_url, "prune", "--logs-older-than", "1h")[1].strip() == (
        "dropped the logs of 0 step attempts"
    )
    assert spine(sqlite_url, "prune", "--logs-older-than", "0s")[1].strip() == (
        "dropped the logs of 3 step attempts"
    )
    assert spine(sqlite_url, "logs", run_id)[1] == ""
    assert json.loads(spine(sqlite_url, "show", run_id, "--json")[1])["status"] == "COMPLETED"
    code, _, err = spine(sqlite_url, "prune")
    assert code == 2
    assert "--logs-older-than" in err
