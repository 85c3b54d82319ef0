"""``GET /api/runs/{id}/logs`` (JSON lines, by step) and the run page's step logs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from spine.orchestration import Step, Workflow, WorkflowContext, WorkflowRunner
from spine.web import create_app


def shout(ctx: WorkflowContext, config: dict[str, Any]) -> dict[str, Any]:
    print(f"<b>{config['word']}</b>")
    return {}


@pytest.fixture
def run(sqlite_url: str) -> Iterator[tuple[TestClient, str]]:
    flow = Workflow(
        "web.logs",
        [Step.lambda_("one", shout, config={"word": "hello"}),
         Step.lambda_("two", shout, config={"word": "again"})],
    )  # fmt: skip
    with WorkflowRunner(database_url=sqlite_url) as runner:
        run_id = runner.execute(flow).run_id
    with TestClient(create_app(sqlite_url), base_url="http://127.0.0.1") as client:
        yield client, run_id


def test_api_serves_json_lines_filtered_by_step(run: tuple[TestClient, str]) -> None:
    client, run_id = run
    response = client.get(f"/api/runs/{run_id}/logs")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert [(line["step"], line["attempt"], line["level"], line["text"]) for line in lines] == [
        ("one", 1, "stdout", "<b>hello</b>"), ("two", 1, "stdout", "<b>again</b>"),
    ]  # fmt: skip
    assert lines[0]["run_id"] == run_id
    assert lines[0]["time"].endswith("+00:00")
    only = client.get(f"/api/runs/{run_id}/logs", params={"step": "two"}).text.splitlines()
    assert [json.loads(line)["text"] for line in only] == ["<b>again</b>"]
    assert client.get("/api/runs/nope/logs").status_code == 404


def test_run_page_shows_each_steps_log_collapsed_and_escaped(run: tuple[TestClient, str]) -> None:
    client, run_id = run
    page = client.get(f"/runs/{run_id}").text
    section = page[page.index('<div id="logs">') :]
    assert "<details" in section
    assert "<details open" not in section
    assert "one #1 · 1 lines" in section
    assert "stdout &lt;b&gt;hello&lt;/b&gt;" in section
