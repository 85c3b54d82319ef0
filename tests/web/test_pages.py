"""What the pages and the API they share show: filters, paging, bounded outputs, map
items by index, the workflows page and the graphs' data (through the ASGI test client)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from spine.commands import InFlight
from spine.core.records import StepRecord
from spine.orchestration import Step, StepResult, Workflow, WorkflowRunner, register_workflow
from spine.orchestration.schedules import Schedule
from spine.store import open_schedules
from spine.web import create_app
from spine.web.drawing import run_graph
from spine.web.routes.run_page import ITEM_PAGE, PREVIEW_CHARS

LOCAL = "http://127.0.0.1"
# One worker runs the module, so its history (a 200,000-row output) is built once.
pytestmark = pytest.mark.xdist_group("pages")

ITEM = Workflow("pages.item", [Step.lambda_("twice", lambda c, k: {"v": 2 * c.get_param("n")})])
FLOW = Workflow("pages.flow", [
    Step.lambda_("load", lambda c, k: {"rows": [{"i": i} for i in range(c.get_param("rows", 1))]}),
    Step.choice("many", lambda c: c.get_param("rows", 1) > 1, then_step="each", else_step="few"),
    Step.lambda_("few", lambda c, k: StepResult.fail("too few rows"), next="end"),
    Step.map("each", "items", ITEM, item_param="n"),
    Step.lambda_("end", lambda c, k: {}),
])  # fmt: skip


@pytest.fixture(autouse=True)
def _registered() -> None:
    register_workflow(FLOW)  # the registries are emptied around each test


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('pages') / 'history.db'}"


@pytest.fixture(scope="module")
def runs(history: str) -> dict[str, str]:
    """Made once for the module; tests only read them."""
    register_workflow(FLOW)
    with WorkflowRunner(database_url=history) as runner:
        return {
            "big": runner.execute(FLOW, params={"rows": 200_000, "items": []}).run_id,
            "few": runner.execute(FLOW, params={"rows": 1}).run_id,
            "mapped": runner.execute(FLOW, params={"rows": 2, "items": list(range(150))}).run_id,
            "queued": runner.submit(FLOW, params={"rows": 2, "items": []}, triggered_by="api"),
        }


@pytest.fixture(scope="module")
def client(history: str, runs: dict[str, str]) -> Iterator[TestClient]:
    with TestClient(create_app(history), base_url=LOCAL) as test:
        yield test


def test_a_200000_row_output_renders_under_1_mb_and_downloads_whole(
    client: TestClient, runs: dict[str, str]
) -> None:
    page = client.get(f"/runs/{runs['big']}")
    assert page.status_code == 200
    assert len(page.content) < 1_000_000
    link = f"/api/runs/{runs['big']}/steps/0/1/output"
    assert f'href="{link}"' in page.text
    whole = client.get(link)
    assert whole.headers["content-type"] == "application/json"
    assert len(whole.json()["rows"]) == 200_000
    assert len(whole.content) > 50 * PREVIEW_CHARS
    assert client.get(f"/api/runs/{runs['big']}/steps/0/9/output").status_code == 404


def test_map_items_are_listed_by_index_with_their_item_a_page_at_a_time(
    client: TestClient, runs: dict[str, str]
) -> None:
    first = client.get(f"/runs/{runs['mapped']}").text
    items = re.findall(r"<tr><td>each</td><td>(\d+)</td><td><pre>(\d+)</pre>", first)
    assert items[:3] == [("0", "0"), ("1", "1"), ("2", "2")]
    assert len(items) == ITEM_PAGE
    assert "150 items" in first
    second = client.get(f"/runs/{runs['mapped']}", params={"item_page": 2}).text
    assert re.findall(r"<tr><td>each</td><td>(\d+)</td>", second)[0] == "100"
    detail = client.get(f"/api/runs/{runs['mapped']}").json()
    assert detail["children_total"] == 150
    assert [c["params"]["item_index"] for c in detail["children"][:3]] == [0, 1, 2]


def test_the_run_page_says_what_started_it_and_with_what(
    client: TestClient, runs: dict[str, str]
) -> None:
    page = client.get(f"/runs/{runs['queued']}").text
    assert '<dd id="trigger">api</dd>' in page
    assert "&#34;rows&#34;: 2" in page  # the params, escaped
    assert '<dd id="owner">none</dd>' in page
    assert 'data-live="1"' in page  # queued: the page follows it
    assert 'data-live="1"' not in client.get(f"/runs/{runs['few']}").text


def graph_of(page: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="graph-data">(.*?)</script>', page)
    assert found is not None
    return dict(json.loads(found.group(1)))


def test_the_run_graph_colours_steps_and_marks_the_path_taken(
    client: TestClient, runs: dict[str, str]
) -> None:
    graph = graph_of(client.get(f"/runs/{runs['few']}").text)
    status = {n["id"]: n["status"] for n in graph["nodes"]}
    assert status == {"load": "COMPLETED", "many": "COMPLETED", "few": "FAILED",
                      "each": "PENDING", "end": "PENDING"}  # fmt: skip
    taken = sorted((e["source"], e["target"]) for e in graph["edges"] if e["taken"])
    assert taken == [("load", "many"), ("many", "few")]
    assert ("many", "each") in {(e["source"], e["target"]) for e in graph["edges"]}
    mapped = graph_of(client.get(f"/runs/{runs['mapped']}").text)
    [each] = [n for n in mapped["nodes"] if n["id"] == "each"]
    assert each["label"].endswith("\n150 items: 150 COMPLETED")


def test_the_step_in_flight_is_running_in_the_graph() -> None:
    graph = run_graph([step(0, "a", "c")], InFlight("c", 1, 1, 0.0), None)
    assert graph is not None
    assert {n["id"]: n["status"] for n in graph["nodes"]} == {"a": "COMPLETED", "c": "RUNNING"}


def step(order: int, name: str, next_step: str | None, *, retry: bool = False) -> StepRecord:
    return StepRecord("r", order, 2 if name == "b" and not retry else 1, name, "lambda",
                      "FAILED" if retry else "COMPLETED", 0.0, 1.0, "{}", "{}", next_step,
                      will_retry=retry)  # fmt: skip


def test_a_run_of_an_unknown_workflow_is_drawn_from_its_rows() -> None:
    rows = [step(0, "a", "b"), step(1, "b", "b", retry=True), step(1, "b", "a"),
            step(2, "a", "c"), step(3, "c", None)]  # fmt: skip
    graph = run_graph(rows, None, None)
    assert graph is not None
    assert graph["from_rows"]
    assert [(n["id"], n["status"]) for n in graph["nodes"]] == [
        ("a", "COMPLETED"), ("b", "COMPLETED"), ("c", "COMPLETED")]  # fmt: skip
    assert graph["nodes"][0]["label"] == "a\n2 times"  # a loop went through it twice
    assert sorted((e["source"], e["target"]) for e in graph["edges"]) == [
        ("a", "b"), ("a", "c"), ("b", "a")]  # fmt: skip


def test_runs_filter_by_trigger_and_time_range(client: TestClient, runs: dict[str, str]) -> None:
    api = [r["run_id"] for r in client.get("/api/runs", params={"trigger": "api"}).json()]
    assert api == [runs["queued"]]
    later = datetime.fromtimestamp(time.time() + 60, UTC).isoformat()
    assert client.get("/api/runs", params={"since": later}).json() == []
    assert len(client.get("/api/runs", params={"until": later}).json()) == 4
    before = client.get("/api/runs", params={"until": "2000-01-01T00:00"}).json()
    assert before == []
    page = client.get("/", params={"trigger": "manual", "since": "2000-01-01T00:00"}).text
    assert runs["big"] in page
    assert runs["queued"] not in page
    assert 'value="2000-01-01T00:00"' in page  # the form keeps what was asked
    assert runs["queued"] in client.get("/", params={"since": "not a time"}).text


def test_the_workflows_page_lists_rate_last_runs_and_next_schedule(
    history: str, client: TestClient, runs: dict[str, str]
) -> None:
    schedules = open_schedules(history)
    try:
        stored = schedules.add(Schedule("pages.hourly", "pages.flow", "@hourly"))
    finally:
        schedules.close()
    [flow] = [w for w in client.get("/api/workflows").json() if w["workflow_name"] == "pages.flow"]
    assert flow["success_rate"] == pytest.approx(2 / 3)  # big and mapped completed, few failed
    assert flow["runs"][0]["run_id"] == runs["queued"]
    assert flow["registered"] is True
    assert flow["next_fire_at"] == datetime.fromtimestamp(stored.next_fire_at or 0, UTC).isoformat()
    page = client.get("/workflows").text
    assert "67% of 3 ended" in page
    assert flow["next_fire_at"][:16].replace("T", " ") in page
    assert 'data-live="1"' in page  # a queued run is shown
