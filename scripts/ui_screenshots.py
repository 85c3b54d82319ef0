"""Write the screenshots of ``docs/ui.md`` into ``docs/img/``: the runs list, a run with
a map step, a failed run and a workflow's page, over a small history made here.

Run: ``.venv/bin/python scripts/ui_screenshots.py`` (needs the ``[web]`` extra, Playwright
and Chromium, as the browser tests do).
"""

from __future__ import annotations

import random
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn
from playwright.sync_api import sync_playwright

from spine.orchestration import (
    QualityMetrics,
    RetryPolicy,
    Step,
    StepResult,
    Workflow,
    WorkflowContext,
    WorkflowRunner,
    register_workflow,
)
from spine.orchestration.schedules import Schedule
from spine.store import open_schedules
from spine.web import create_app

IMG = Path(__file__).resolve().parent.parent / "docs" / "img"


def extract(ctx: WorkflowContext, config: dict[str, Any]) -> StepResult:
    time.sleep(ctx.get_param("seconds", 0.02))
    count = ctx.get_param("rows", 1000)
    valid = int(count * ctx.get_param("valid", 0.98))
    quality = QualityMetrics(record_count=count, valid_count=valid, passed=valid >= 0.9 * count)
    return StepResult.ok(output={"rows": count, "file": f"s3://sales/{ctx.run_id[:8]}.parquet"},
                         quality=quality)  # fmt: skip


def region(ctx: WorkflowContext, config: dict[str, Any]) -> dict[str, Any]:
    time.sleep(random.uniform(0.005, 0.03))
    return {"region": ctx.get_param("region"), "total": random.randint(1000, 9000)}


def publish(ctx: WorkflowContext, config: dict[str, Any]) -> StepResult:
    if ctx.get_param("warehouse_down", False):
        return StepResult.fail("warehouse refused the connection (port 5439)")
    return StepResult.ok(output={"published": True})


REGION = Workflow("sales.region", [Step.lambda_("aggregate", region)])
SALES = Workflow("sales.daily", [
    Step.lambda_("extract", extract),
    Step.choice("has_rows", lambda c: c.get_param("rows", 1000) > 0, then_step="by_region",
                else_step="nothing_to_do"),
    Step.lambda_("nothing_to_do", lambda c, k: {"skipped": True}, next="notify"),
    Step.map("by_region", "regions", REGION, max_concurrency=4, item_param="region"),
    Step.lambda_("publish", publish, retry=RetryPolicy(max_attempts=2, initial_delay_seconds=0.05,
                                                       jitter=False)),
    Step.lambda_("notify", lambda c, k: {"sent": 1}),
])  # fmt: skip
REGIONS = ["emea", "apac", "amer", "latam", "nordics", "dach", "benelux", "iberia",
           "uk", "india", "japan", "anz"]  # fmt: skip


def history(url: str) -> dict[str, str]:
    register_workflow(REGION)
    register_workflow(SALES)
    random.seed(7)
    made: dict[str, str] = {}
    with WorkflowRunner(database_url=url) as runner:
        for day in range(1, 15):
            # Day 9 reports poor quality, day 6 is the slow one.
            valid = 0.87 if day == 9 else 0.99 - 0.01 * (day % 3)
            params = {"day": f"2026-11-{day:02d}", "regions": REGIONS[: 4 + day % 5],
                      "rows": 1000 + 37 * day, "valid": valid,
                      "seconds": 0.6 if day == 6 else random.uniform(0.01, 0.05)}  # fmt: skip
            if day == 11:
                params["rows"] = 0
            made[f"day{day}"] = runner.execute(SALES, params=params).run_id
        made["map"] = runner.execute(SALES, params={"day": "2026-11-15", "regions": REGIONS,
                                                    "rows": 2400}).run_id  # fmt: skip
        made["failed"] = runner.execute(SALES, params={"day": "2026-11-16", "regions": REGIONS[:5],
                                                       "warehouse_down": True}).run_id  # fmt: skip
        runner.submit(SALES, params={"day": "2026-11-17", "regions": REGIONS}, triggered_by="ui")
    schedules = open_schedules(url)
    try:
        schedules.add(
            Schedule("sales.nightly", "sales.daily", "30 2 * * *", timezone="Europe/London")
        )
    finally:
        schedules.close()
    return made


def main() -> None:
    folder = Path(tempfile.mkdtemp())
    url = f"sqlite:///{folder / 'history.db'}"
    try:
        made = history(url)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(create_app(url), host="127.0.0.1", port=port,
                                               log_level="warning"))  # fmt: skip
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.02)
        base = f"http://127.0.0.1:{port}"
        shots = {"runs.png": "/", "run-map.png": f"/runs/{made['map']}",
                 "run-failed.png": f"/runs/{made['failed']}",
                 "workflow.png": "/workflows/sales.daily",
                 "workflows.png": "/workflows"}  # fmt: skip
        IMG.mkdir(parents=True, exist_ok=True)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"),
                                        args=["--no-sandbox", "--disable-gpu"])  # fmt: skip
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            for name, path in shots.items():
                page.goto(base + path)
                for drawn in ("[data-graph]", "canvas[data-chart]"):
                    if page.locator(drawn).count():
                        page.wait_for_selector(f"{drawn}[data-drawn]")
                page.screenshot(path=str(IMG / name), full_page=True)
                print(f"docs/img/{name}: {base}{path}")
            browser.close()
        server.should_exit = True
        thread.join(timeout=10)
    finally:
        shutil.rmtree(folder)


if __name__ == "__main__":
    main()
