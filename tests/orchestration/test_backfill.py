"""Backfills: one run per partition key, N at a time; repeated, only the partitions
that failed or never ran execute again; `spine backfill` and `spine partitions`."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from spine.cli.main import cli
from spine.core.errors import WorkflowValidationError
from spine.orchestration import (
    Step,
    StepResult,
    Workflow,
    WorkflowContext,
    WorkflowRunner,
    register_workflow,
)
from spine.orchestration.backfill import expand

MakeRunner = Callable[..., WorkflowRunner]


def test_ranges_lists_and_products_expand_to_partition_keys() -> None:
    assert expand({"day": "2026-01-30..2026-02-02"}) == [
        {"day": "2026-01-30"}, {"day": "2026-01-31"}, {"day": "2026-02-01"},
        {"day": "2026-02-02"},
    ]  # fmt: skip
    assert expand({"n": "3..5", "region": "eu, us"}) == [
        {"n": 3, "region": "eu"}, {"n": 3, "region": "us"}, {"n": 4, "region": "eu"},
        {"n": 4, "region": "us"}, {"n": 5, "region": "eu"}, {"n": 5, "region": "us"},
    ]  # fmt: skip
    assert expand({"k": ["a", 1]}) == [{"k": "a"}, {"k": 1}]
    for bad in ("2026-02-02..2026-01-01", "x..y", "1..999999999"):
        with pytest.raises(WorkflowValidationError, match="backfill partitions"):
            expand({"day": bad})


class Daily:
    def __init__(self) -> None:
        self.ran: Counter[str] = Counter()
        self.broken = {"2026-01-04"}
        self.lock = threading.Lock()

    def load(self, ctx: WorkflowContext, config: dict[str, Any]) -> StepResult:
        day = ctx.partition["day"]
        with self.lock:
            self.ran[day] += 1
        if day in self.broken:
            return StepResult.fail(f"no file for {day}")
        return StepResult.ok(output={"day": day})

    def workflow(self) -> Workflow:
        return register_workflow(Workflow("backfill.daily", [Step.lambda_("load", self.load)]))


def test_a_backfill_repeated_runs_only_the_day_that_failed(
    database_url: str, make_runner: MakeRunner
) -> None:
    daily = Daily()
    runner = make_runner(database_url=database_url)
    days = {"day": "2026-01-01..2026-01-10"}

    first = runner.backfill(daily.workflow(), days, concurrency=3)
    assert len(first.results) == 10
    assert [r.context.partition["day"] for r in first.failed] == ["2026-01-04"]
    assert first.skipped == []

    daily.broken.clear()
    again = runner.backfill(daily.workflow(), days, concurrency=3)
    assert [r.context.partition["day"] for r in again.results] == ["2026-01-04"]
    assert again.failed == []
    assert len(again.skipped) == 9
    assert all(p.status == "COMPLETED" for p in again.skipped)
    assert daily.ran["2026-01-04"] == 2
    assert {day for day, n in daily.ran.items() if n == 1} == {
        f"2026-01-{n:02d}" for n in range(1, 11)
    } - {"2026-01-04"}
    assert runner.store is not None
    latest = runner.store.latest_partitions("backfill.daily")
    assert [p.status for p in latest] == ["COMPLETED"] * 10
    # Recorded as a backfill's, as the runs a queued backfill submits are.
    stored = runner.store.load_run(again.results[0].run_id).run
    assert stored.triggered_by == "backfill"

    forced = runner.backfill(daily.workflow(), {"day": "2026-01-01..2026-01-02"}, force=True)
    assert len(forced.results) == 2


def test_a_queued_backfill_submits_and_skips_what_is_pending(
    sqlite_url: str, make_runner: MakeRunner
) -> None:
    daily = Daily()
    runner = make_runner(database_url=sqlite_url)
    queued = runner.backfill(daily.workflow(), {"day": "2026-01-01..2026-01-03"}, queue=True)
    assert len(queued.queued) == 3
    assert daily.ran == Counter()
    again = runner.backfill(daily.workflow(), {"day": "2026-01-01..2026-01-03"}, queue=True)
    assert again.queued == []
    assert [p.status for p in again.skipped] == ["PENDING"] * 3
    assert len(runner.run_pending(limit=3)) == 3
    assert sum(daily.ran.values()) == 3


def test_spine_backfill_and_partitions(sqlite_url: str, tmp_path: Path) -> None:
    flows = tmp_path / "backfill_flows.py"
    flows.write_text(
        "from spine.orchestration import Step, StepResult, Workflow\n"
        "def load(ctx, config):\n"
        "    if ctx.partition['day'] == '2026-03-02':\n"
        "        return StepResult.fail('missing file')\n"
        "    return StepResult.ok(output={})\n"
        "flow = Workflow('backfill.cli', [Step.lambda_('load', load)])\n"
    )
    command = ["--db", sqlite_url, "backfill", f"{flows}:flow",
               "--partition", "day=2026-03-01..2026-03-03", "--concurrency", "2"]  # fmt: skip
    first = CliRunner().invoke(cli, command)
    assert first.exit_code == 1, first.output
    assert "3 partitions; 3 ran, 1 failed; 0 skipped" in first.output
    assert "missing file" in first.output
    second = CliRunner().invoke(cli, command)
    assert "3 partitions; 1 ran, 1 failed; 2 skipped (completed 2)" in second.output
    listed = CliRunner().invoke(cli, ["--db", sqlite_url, "partitions", "backfill.cli", "--json"])
    assert listed.exit_code == 0, listed.output
    statuses = {p["partition"]["day"]: p["status"] for p in json.loads(listed.output)}
    assert statuses == {"2026-03-01": "COMPLETED", "2026-03-02": "FAILED",
                        "2026-03-03": "COMPLETED"}  # fmt: skip
    bad = CliRunner().invoke(cli, ["--db", sqlite_url, "backfill", f"{flows}:flow",
                                   "--partition", "day"])  # fmt: skip
    assert bad.exit_code == 2
    assert "expected KEY=RANGE" in bad.output


def test_the_partitions_page_and_api_list_each_partitions_latest_run(
    sqlite_url: str, make_runner: MakeRunner
) -> None:
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from spine.web import create_app

    daily = Daily()
    runner = make_runner(database_url=sqlite_url)
    runner.backfill(daily.workflow(), {"day": "2026-01-03..2026-01-05"})
    with TestClient(create_app(sqlite_url), base_url="http://127.0.0.1") as client:
        api = client.get("/api/partitions", params={"workflow": "backfill.daily"}).json()
        page = client.get("/partitions", params={"workflow": "backfill.daily"}).text
        workflow_page = client.get("/workflows/backfill.daily").text
    assert [(p["partition"]["day"], p["status"]) for p in api] == [
        ("2026-01-03", "COMPLETED"), ("2026-01-04", "FAILED"), ("2026-01-05", "COMPLETED")
    ]  # fmt: skip
    assert page.count('class="status FAILED"') == 1
    assert "/partitions?workflow=backfill.daily" in workflow_page
