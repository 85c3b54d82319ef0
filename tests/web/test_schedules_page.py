"""The schedules pages and the alert deliveries of a run, in the web UI and API."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from spine.framework.alerts import AlertRegistry, ConsoleChannel
from spine.orchestration import (
    Step,
    StepResult,
    Workflow,
    WorkflowRunner,
    register_workflow,
)
from spine.orchestration.schedules import Schedule, Scheduler
from spine.store import open_schedules
from spine.web import create_app

FLOW = Workflow("web.sched", [Step.lambda_("load", lambda c, k: {"n": 1})])
HOSTILE = "<b>x</b>&<script>alert(1)</script>"
START = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC


@pytest.fixture
def scheduled(sqlite_url: str) -> tuple[str, str]:
    """A history with two schedules; ``nightly`` fired once. Returns (url, run id)."""
    register_workflow(FLOW)
    with WorkflowRunner(database_url=sqlite_url) as runner, open_schedules(sqlite_url) as store:
        nightly = store.add(Schedule("nightly", FLOW.name, "0 6 * * *", "Europe/London"), now=START)
        store.add(
            Schedule(HOSTILE, FLOW.name, "*/5 * * * *", params={"note": "<img src=x>"}),
            now=START,
        )
        assert nightly.next_fire_at is not None
        fires = Scheduler(runner, store).fire_due(nightly.next_fire_at + 1)
    run_ids = [f.run_id for f in fires if f.schedule == "nightly"]
    assert len(run_ids) == 1
    assert run_ids[0] is not None
    return sqlite_url, run_ids[0]


@pytest.fixture
def client(scheduled: tuple[str, str]) -> Iterator[TestClient]:
    with TestClient(create_app(scheduled[0]), base_url="http://127.0.0.1") as test_client:
        yield test_client


def test_schedules_page_lists_every_schedule(client: TestClient) -> None:
    page = client.get("/schedules")
    assert page.status_code == 200
    assert 'id="schedules"' in page.text
    assert '<a href="/schedules/nightly">nightly</a>' in page.text
    assert '<a href="/workflows/web.sched">web.sched</a>' in page.text
    assert "0 6 * * *" in page.text
    assert "Europe/London" in page.text
    assert "run_once" in page.text
    assert '<a href="/schedules">schedules</a>' in client.get("/").text


def test_api_schedules(client: TestClient) -> None:
    listed = client.get("/api/schedules").json()
    assert sorted(s["name"] for s in listed) == sorted(["nightly", HOSTILE])
    nightly = next(s for s in listed if s["name"] == "nightly")
    assert nightly["workflow"] == FLOW.name
    assert nightly["timezone"] == "Europe/London"
    assert nightly["next_fire_at"] is not None
    assert nightly["next_fire_local"] is not None
    assert nightly["last_fired_at"] is not None
    assert nightly["max_instances"] == 1


def test_schedule_page_shows_its_due_times(client: TestClient, scheduled: tuple[str, str]) -> None:
    run_id = scheduled[1]
    page = client.get("/schedules/nightly")
    assert page.status_code == 200
    assert 'id="fires"' in page.text
    assert ">fired<" in page.text
    assert f'<a href="/runs/{run_id}">{run_id}</a>' in page.text
    detail = client.get("/api/schedules/nightly").json()
    assert [(f["outcome"], f["run_id"]) for f in detail["history"]] == [("fired", run_id)]
    assert client.get(f"/runs/{run_id}").status_code == 200


def test_unknown_schedule_is_404(client: TestClient) -> None:
    assert client.get("/schedules/nope").status_code == 404
    assert client.get("/api/schedules/nope").status_code == 404


def test_schedule_names_and_params_are_escaped(client: TestClient) -> None:
    listed = client.get("/schedules")
    assert HOSTILE not in listed.text
    assert "&lt;b&gt;x&lt;/b&gt;&amp;&lt;script&gt;alert(1)&lt;/script&gt;" in listed.text
    hostile = next(s for s in client.get("/api/schedules").json() if s["name"] == HOSTILE)
    assert hostile["params"] == {"note": "<img src=x>"}
    href = listed.text.split('href="/schedules/', 2)[1].split('"')[0]
    assert href.startswith("%3Cb%3Ex%3C/b%3E%26%3Cscript%3E")
    page = client.get("/schedules/" + href)
    assert page.status_code == 200
    assert "<script>" not in page.text
    assert "<img src=x>" not in page.text
    assert "&lt;img src=x&gt;" in page.text
    assert ">late<" in page.text  # its first due time was found long past the grace


def test_run_page_shows_its_alert_deliveries(sqlite_url: str) -> None:
    def fail(ctx: object, config: object) -> StepResult:
        return StepResult.fail("<b>broken</b>")

    failing = Workflow("web.alerting", [Step.lambda_("boom", fail)])
    alerts = AlertRegistry()
    alerts.register(ConsoleChannel("console<i>", stream=io.StringIO()))
    with WorkflowRunner(database_url=sqlite_url, alert_on=["FAILED"], alerts=alerts) as runner:
        failed = runner.execute(failing).run_id
        quiet = runner.execute(FLOW).run_id
    with TestClient(create_app(sqlite_url), base_url="http://127.0.0.1") as test_client:
        page = test_client.get(f"/runs/{failed}")
        detail = test_client.get(f"/api/runs/{failed}").json()
        other = test_client.get(f"/runs/{quiet}")
        other_detail = test_client.get(f"/api/runs/{quiet}").json()
    assert page.status_code == 200
    assert 'id="alerts"' in page.text
    assert "console&lt;i&gt;" in page.text
    assert "console<i>" not in page.text
    [alert] = detail["alerts"]
    assert alert["channel"] == "console<i>"
    assert (alert["success"], alert["throttled"], alert["attempts"]) == (True, False, 1)
    assert alert["error"] is None
    assert alert["delivered_at"]
    assert 'id="alerts"' not in other.text
    assert other_detail["alerts"] == []
