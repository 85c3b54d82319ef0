"""A workflow written in YAML and the same workflow written in Python run identically."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from spine.framework import register_pipeline
from spine.framework.alerts import AlertRegistry, ConsoleChannel
from spine.orchestration import (
    ErrorPolicy,
    RetryPolicy,
    Step,
    Workflow,
    WorkflowResult,
    WorkflowRunner,
    load_workflow,
)
from spine.orchestration.engine.journal import definition_hash
from spine.orchestration.flow import plan_for
from spine.testing import FakeClock

from . import yaml_steps

M = yaml_steps.__name__
TESTS = Path(__file__).resolve().parents[1]

FLOW = f"""
apiVersion: spine.io/v2
kind: Workflow
name: yaml.identical
domain: tests
version: 2
description: the same workflow as python_workflow()
defaults: {{tier: T1}}
tags: [weekly]
max_concurrent_runs: 2
alert_on: [completed, FAILED]
steps:
  - name: extract
    lambda: {M}:extract
    config: {{per_week: 10}}
  - name: fetch
    lambda: {M}:flaky
    retry: {{max_attempts: 3, initial_delay_seconds: 2, jitter: false, retry_on: TRANSIENT}}
  - name: route
    choice:
      when: "outputs.extract.record_count > 0 and params.tier == 'T1'"
      then: cool_down
      else: alert
  - name: cool_down
    wait: 5
  - name: per_week
    map:
      items: params.weeks
      max_concurrency: 2
      item_param: week
      workflow:
        name: yaml.identical.week
        steps:
          - name: square
            lambda: {M}:square
  - name: normalize
    pipeline: yaml.normalize
    params: {{mode: full}}
    next: publish
  - name: alert
    lambda: {M}:alert
    on_error: continue
  - name: publish
    lambda: {M}:publish
"""


def python_workflow() -> Workflow:
    week = Workflow("yaml.identical.week", [Step.lambda_("square", yaml_steps.square)])
    retry = RetryPolicy(
        max_attempts=3, initial_delay_seconds=2, jitter=False, retry_on=frozenset({"TRANSIENT"})
    )
    return Workflow(
        "yaml.identical",
        [
            Step.lambda_("extract", yaml_steps.extract, config={"per_week": 10}),
            Step.lambda_("fetch", yaml_steps.flaky, retry=retry),
            Step.choice(
                "route",
                condition=lambda ctx: (
                    ctx.get_output("extract", "record_count") > 0 and ctx.get_param("tier") == "T1"
                ),
                then_step="cool_down",
                else_step="alert",
            ),
            Step.wait("cool_down", duration_seconds=5),
            Step.map("per_week", "weeks", week, max_concurrency=2, item_param="week"),
            Step.pipeline("normalize", "yaml.normalize", params={"mode": "full"}, next="publish"),
            Step.lambda_("alert", yaml_steps.alert, on_error=ErrorPolicy.CONTINUE),
            Step.lambda_("publish", yaml_steps.publish),
        ],
        domain="tests",
        version=2,
        description="the same workflow as python_workflow()",
        defaults={"tier": "T1"},
        tags=["weekly"],
        max_concurrent_runs=2,
        alert_on=["COMPLETED", "FAILED"],
    )


@pytest.fixture
def yaml_file(tmp_path: Path) -> Path:
    path = tmp_path / "flow.yaml"
    path.write_text(FLOW)
    return path


@pytest.fixture(autouse=True)
def _normalize_pipeline() -> None:
    register_pipeline("yaml.normalize", yaml_steps.normalize)


def summary(result: WorkflowResult, clock: FakeClock, alerts: str) -> dict[str, Any]:
    """Everything a run did that does not depend on its ids and timings."""
    return {
        "status": str(result.status),
        "executions": [
            (e.step_name, str(e.step_type), str(e.status), e.attempt, e.error)
            for e in result.step_executions
        ],
        "completed": result.completed_steps,
        "failed": result.failed_steps,
        "outputs": result.context.to_dict()["outputs"],
        "params": result.context.to_dict()["params"],
        "partition": result.context.to_dict()["partition"],
        "error_step": result.error_step,
        "sleeps": clock.sleeps,
        # The first line of each alert: its severity and title (the rest names the run).
        "alerts": [line for line in alerts.splitlines() if line.startswith("[")],
    }


def run(workflow: Workflow, params: dict[str, Any], database_url: str | None) -> dict[str, Any]:
    clock = FakeClock()
    alerts, console = io.StringIO(), AlertRegistry()
    console.register(ConsoleChannel("console", stream=alerts))
    with WorkflowRunner(clock=clock, database_url=database_url, alerts=console) as runner:
        result = runner.execute(workflow, params=params, partition={"region": "eu"})
    return summary(result, clock, alerts.getvalue())


def test_the_definitions_are_the_same(yaml_file: Path) -> None:
    from_yaml, from_python = load_workflow(yaml_file), python_workflow()

    assert from_yaml.to_dict() == from_python.to_dict()
    yaml_items = from_yaml.steps[4].iterator_workflow
    python_items = from_python.steps[4].iterator_workflow
    assert yaml_items is not None
    assert python_items is not None
    assert yaml_items.to_dict() == python_items.to_dict()
    assert from_yaml.steps[1].retry == from_python.steps[1].retry
    # Not in to_dict(), so compared here.
    assert from_yaml.alert_on == from_python.alert_on == frozenset({"COMPLETED", "FAILED"})
    assert from_yaml.max_concurrent_runs == from_python.max_concurrent_runs == 2
    assert definition_hash(plan_for(from_yaml)) == definition_hash(plan_for(from_python))


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"weeks": [1, 2, 3]}, id="then-branch"),
        pytest.param({"weeks": [1, 2], "tier": "T2"}, id="else-branch"),
        pytest.param({"weeks": []}, id="nothing-extracted"),
    ],
)
@pytest.mark.parametrize("durable", [False, True], ids=["in-memory", "sqlite"])
def test_runs_are_identical(
    yaml_file: Path, sqlite_url: str, params: dict[str, Any], durable: bool
) -> None:
    url = sqlite_url if durable else None
    from_yaml = run(load_workflow(yaml_file), params, url)
    from_python = run(python_workflow(), params, url)

    assert from_yaml == from_python
    assert from_yaml["executions"][1][3] == 1  # the retried step ran twice
    assert from_yaml["executions"][2][3] == 2
    assert from_yaml["status"] == "COMPLETED"
    assert from_yaml["alerts"] == ["[INFO] Workflow yaml.identical completed"]


def test_the_then_branch_runs_every_step_type(yaml_file: Path) -> None:
    outcome = run(load_workflow(yaml_file), {"weeks": [1, 2, 3]}, None)

    assert outcome["completed"] == [
        "extract", "fetch", "route", "cool_down", "per_week", "normalize", "publish",
    ]  # fmt: skip
    assert outcome["sleeps"] == [2.0, 5]
    assert outcome["outputs"]["per_week"]["results"][2] == {
        "square": {"week": 3, "square": 9, "index": 2}
    }
    assert outcome["outputs"]["normalize"] == {"mode": "full", "tier": "T1"}
    assert outcome["params"]["published"] == "yes"


def test_the_fingerprint_is_the_same_in_another_process(yaml_file: Path) -> None:
    # Resuming compares the stored fingerprint with the one a new process computes.
    code = (
        "import sys\n"
        "from spine.orchestration import load_workflow\n"
        "from spine.orchestration.engine.journal import definition_hash\n"
        "from spine.orchestration.flow import plan_for\n"
        "print(definition_hash(plan_for(load_workflow(sys.argv[1]))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(yaml_file)],
        capture_output=True, text=True, check=True, timeout=60, cwd=TESTS,
    )  # fmt: skip

    assert done.stdout.strip() == definition_hash(plan_for(load_workflow(yaml_file)))
