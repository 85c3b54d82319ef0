"""The web UI and API over a real SQLite history (HTTP through the ASGI test client)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from spine.orchestration import (
    QualityMetrics,
    Step,
    StepResult,
    Workflow,
    WorkflowContext,
    WorkflowRunner,
    register_workflow,
)
from spine.web import create_app


def check(ctx: WorkflowContext, config: dict[str, Any]) -> StepResult:
    rows = ctx.get_param("rows", 10)
    quality = QualityMetrics(record_count=rows, valid_count=rows - 1, passed=rows > 3)
    if not quality.passed:
        return StepResult.fail("too few rows", category="DATA_QUALITY", quality=quality)
    return StepResult.ok(output={"note": ctx.get_param("note", "")}, quality=quality)


FLOW = Workflow(
    "web.flow", [Step.lambda_("load", lambda c, k: {"n": 1}), Step.lambda_("check", check)]
)


@pytest.fixture
def history(sqlite_url: str) -> tuple[str, list[str]]:
    register_workflow(FLOW)
    with WorkflowRunner(database_url=sqlite_url) as runner:
        ids = [
            runner.execute(FLOW, params={"rows": 20}).run_id,
            runner.execute(FLOW, params={"rows": 2}).run_id,
            runner.execute(FLOW, params={"rows": 9, "note": "<script>alert(1)</script>"}).run_id,
        ]
    return sqlite_url, ids


LOCAL = "http://127.0.0.1"
"""The test client's address: a name the app answers to (its Host check)."""


@pytest.fixture
def client(history: tuple[str, list[str]]) -> Iterator[TestClient]:
    app = create_app(history[0], token="s3cret")
    with TestClient(app, base_url=LOCAL, headers={"Authorization": "Bearer s3cret"}) as test:
        yield test


def test_runs_page_lists_runs_and_filters(
    client: TestClient, history: tuple[str, list[str]]
) -> None:
    page = client.get("/")
    assert page.status_code == 200
    for run_id in history[1]:
        assert run_id in page.text
    failed = client.get("/", params={"status": "FAILED"})
    assert history[1][1] in failed.text
    assert history[1][0] not in failed.text


def test_run_page_shows_timeline_steps_and_escapes_outputs(
    client: TestClient, history: tuple[str, list[str]]
) -> None:
    page = client.get(f"/runs/{history[1][2]}")
    assert page.status_code == 200
    assert 'id="timeline"' in page.text
    assert "check #1" in page.text
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


def test_workflow_page_has_rate_durations_and_quality(client: TestClient) -> None:
    page = client.get("/workflows/web.flow")
    assert page.status_code == 200
    assert "67%" in page.text  # 2 of 3 runs completed
    assert 'id="durations"' in page.text
    assert 'id="quality"' in page.text
    assert 'id="quality-chart"' in page.text
    assert "flowchart TD" in page.text
    # The graph's boxes and arrows, as data for the browser to lay out.
    assert '{"label": "", "source": "load", "target": "check"}' in page.text


def test_api_lists_and_details(client: TestClient, history: tuple[str, list[str]]) -> None:
    listed = client.get("/api/runs", params={"workflow": "web.flow", "limit": 2}).json()
    assert [r["run_id"] for r in listed] == [history[1][2], history[1][1]]
    detail = client.get(f"/api/runs/{history[1][1]}").json()
    assert detail["status"] == "FAILED"
    assert [s["step_name"] for s in detail["steps"]] == ["load", "check"]
    assert detail["steps"][1]["quality"]["passed"] is False
    assert client.get("/api/runs/nope").status_code == 404
    schema = client.get("/openapi.json").json()
    assert "/api/workflows/{name}/runs" in schema["paths"]
    docs = client.get("/docs").text  # Swagger UI, from this package's own copy
    assert '<script src="/static/vendor/swagger-ui-bundle.js">' in docs
    assert "https://" not in docs


def test_empty_filter_fields_mean_any(client: TestClient, history: tuple[str, list[str]]) -> None:
    page = client.get("/", params={"workflow": "", "status": "", "since_hours": ""})
    assert page.status_code == 200
    for run_id in history[1]:
        assert run_id in page.text


def test_run_page_says_which_schedule_started_the_run(sqlite_url: str) -> None:
    register_workflow(FLOW)
    with WorkflowRunner(database_url=sqlite_url) as runner:
        record = runner.queue.pending_record(FLOW, triggered_by="schedule", schedule_id="nightly")
        assert runner.store is not None
        runner.store.create_run(record)
    with TestClient(create_app(sqlite_url), base_url=LOCAL) as test_client:
        page = test_client.get(f"/runs/{record.run_id}")
        detail = test_client.get(f"/api/runs/{record.run_id}").json()
    assert 'schedule <a href="/schedules/nightly"><b>nightly</b></a>' in page.text
    assert (detail["triggered_by"], detail["schedule_id"]) == ("schedule", "nightly")
