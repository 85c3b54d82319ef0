"""Acting through the API: start, cancel, resume and fork runs, with the token on and off.
Started, resumed and forked runs are queued; a runner standing in for the worker executes
them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from spine.orchestration import (
    Step,
    StepResult,
    Workflow,
    WorkflowContext,
    WorkflowRunner,
    WorkflowStatus,
    register_workflow,
)
from spine.web import create_app

LOCAL = "http://127.0.0.1"
TOKEN = "act-token"
CALLS: dict[str, int] = {}


def count(ctx: WorkflowContext, config: dict[str, Any]) -> dict[str, Any]:
    CALLS["count"] = CALLS.get("count", 0) + 1
    return {"n": ctx.get_param("n", 0)}


def maybe_fail(ctx: WorkflowContext, config: dict[str, Any]) -> StepResult:
    if CALLS.get("broken"):
        return StepResult.fail("broken for now")
    return StepResult.ok(output={"double": ctx.get_output("count", "n") * 2})


def flow(name: str = "act.flow") -> Workflow:
    return Workflow(name, [Step.lambda_("count", count), Step.lambda_("check", maybe_fail)])


@dataclass
class Api:
    client: TestClient
    worker: WorkflowRunner

    def run(self, run_id: str) -> dict[str, Any]:
        found = self.client.get(f"/api/runs/{run_id}")
        assert found.status_code == 200
        return dict(found.json())


@pytest.fixture(params=["token", "no-token"])
def api(
    request: pytest.FixtureRequest, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Api]:
    """The API with a token (sent as a bearer header) and without one (open to local
    callers); a runner on the same history plays the worker."""
    monkeypatch.delenv("SPINE_API_TOKEN", raising=False)
    CALLS.clear()
    register_workflow(flow())
    token = TOKEN if request.param == "token" else None
    headers = {"Authorization": f"Bearer {TOKEN}"} if token else {}
    with (
        TestClient(create_app(sqlite_url, token=token), base_url=LOCAL, headers=headers) as client,
        WorkflowRunner(database_url=sqlite_url) as worker,
    ):
        yield Api(client, worker)


def test_starting_queues_a_run_that_the_worker_executes(api: Api) -> None:
    answer = api.client.post("/api/workflows/act.flow/runs", json={"params": {"n": 21}})
    assert answer.status_code == 202
    run_id = answer.json()["run_id"]
    queued = api.run(run_id)
    assert (queued["status"], queued["triggered_by"]) == ("PENDING", "api")
    assert queued["params"] == {"n": 21}
    assert CALLS.get("count") is None  # not executed on the request's thread
    [result] = api.worker.run_pending()
    assert result.run_id == run_id
    done = api.run(run_id)
    assert done["status"] == "COMPLETED"
    assert done["steps"][1]["output"] == {"double": 42}


def test_a_start_with_a_held_idempotency_key_answers_with_that_run(api: Api) -> None:
    body = {"params": {"n": 1}, "idempotency_key": "day-1", "priority": 3}
    first = api.client.post("/api/workflows/act.flow/runs", json=body)
    assert first.status_code == 202
    [result] = api.worker.run_pending()
    again = api.client.post("/api/workflows/act.flow/runs", json=body)
    assert again.status_code == 202
    assert again.json() == {"run_id": first.json()["run_id"], "status": "COMPLETED"}
    assert [r["run_id"] for r in api.client.get("/api/runs").json()] == [result.run_id]
    refused = api.client.post("/api/workflows/act.flow/runs", json={"idempotency_key": ""})
    assert refused.status_code == 422
    assert "idempotency_key" in refused.json()["detail"]


def test_a_start_from_the_ui_page_is_triggered_by_ui(api: Api) -> None:
    answer = api.client.post(
        "/api/workflows/act.flow/runs", json={}, headers={"Sec-Fetch-Site": "same-origin"}
    )
    assert answer.status_code == 202
    assert api.run(answer.json()["run_id"])["triggered_by"] == "ui"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"params": [1, 2]}, 422),  # params must be an object
        ({"params": "x"}, 422),
        ({"partition": 3}, 422),
        (b"{not json", 422),
        (b"[" * 200_000, 400),  # nested past what a parser takes
    ],
)
def test_a_start_with_a_bad_body_is_refused_and_queues_nothing(
    api: Api, body: Any, expected: int
) -> None:
    url = "/api/workflows/act.flow/runs"
    if isinstance(body, bytes):
        answer = api.client.post(url, content=body, headers={"Content-Type": "application/json"})
    else:
        answer = api.client.post(url, json=body)
    assert answer.status_code == expected
    assert api.client.get("/api/runs").json() == []


def test_starting_an_unknown_workflow_is_404(api: Api) -> None:
    answer = api.client.post("/api/workflows/act.nope/runs", json={})
    assert answer.status_code == 404
    assert "act.nope" in answer.json()["detail"]


def test_cancel_answers_what_it_did(api: Api) -> None:
    pending = api.client.post("/api/workflows/act.flow/runs", json={}).json()["run_id"]
    cancelled = api.client.post(f"/api/runs/{pending}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json() == {"run_id": pending, "outcome": "cancelled"}
    again = api.client.post(f"/api/runs/{pending}/cancel")
    assert again.status_code == 409
    assert (again.json()["outcome"], again.json()["status"]) == ("already_ended", "CANCELLED")
    assert api.client.post("/api/runs/nope/cancel").status_code == 404
    # A map item's run: its map's run is the one to cancel.
    mapped = Workflow("act.map", [Step.map("each", "items", flow("act.map.item"))])
    done = api.worker.execute(mapped, params={"items": [1]})
    [item] = api.worker.store.child_runs(done.run_id, "each#0")  # type: ignore[union-attr]
    refused = api.client.post(f"/api/runs/{item.run_id}/cancel")
    assert refused.status_code == 409
    assert f"cancel run {done.run_id!r}" in refused.json()["detail"]

    # A run a worker holds: the request is left for that worker.
    running = api.client.post("/api/workflows/act.flow/runs", json={}).json()["run_id"]
    store = api.worker.store
    assert store is not None
    [claimed] = store.claim_pending(api.worker.owner, 0.0, ["act.flow"])
    assert claimed.run_id == running
    asked = api.client.post(f"/api/runs/{running}/cancel")
    assert (asked.status_code, asked.json()["outcome"]) == (200, "requested")


def test_resume_continues_a_failed_run_from_where_it_stopped(api: Api) -> None:
    CALLS["broken"] = 1
    run_id = api.client.post("/api/workflows/act.flow/runs", json={"params": {"n": 5}})
    run_id = run_id.json()["run_id"]
    [failed] = api.worker.run_pending()
    assert failed.status == WorkflowStatus.FAILED

    CALLS["broken"] = 0
    resumed = api.client.post(f"/api/runs/{run_id}/resume")
    assert resumed.status_code == 202
    assert resumed.json() == {"run_id": run_id, "status": "PENDING"}
    assert api.run(run_id)["status"] == "PENDING"
    [result] = api.worker.run_pending()
    assert result.status == WorkflowStatus.COMPLETED
    assert CALLS["count"] == 1  # its completed step did not run again
    steps = api.run(run_id)["steps"]
    assert [(s["step_name"], s["status"]) for s in steps] == [
        ("count", "COMPLETED"), ("check", "FAILED"), ("check", "COMPLETED")]  # fmt: skip


def test_resume_refuses_runs_that_did_not_fail_or_were_not_cancelled(api: Api) -> None:
    run_id = api.client.post("/api/workflows/act.flow/runs", json={}).json()["run_id"]
    pending = api.client.post(f"/api/runs/{run_id}/resume")
    assert pending.status_code == 409
    assert "PENDING" in pending.json()["detail"]
    api.worker.run_pending()
    completed = api.client.post(f"/api/runs/{run_id}/resume")
    assert completed.status_code == 409
    assert api.run(run_id)["status"] == "COMPLETED"
    assert api.client.post("/api/runs/nope/resume").status_code == 404


def test_a_cancelled_run_resumes_through_the_queue(api: Api) -> None:
    run_id = api.client.post("/api/workflows/act.flow/runs", json={}).json()["run_id"]
    assert api.client.post(f"/api/runs/{run_id}/cancel").json()["outcome"] == "cancelled"
    assert api.client.post(f"/api/runs/{run_id}/resume").status_code == 202
    [result] = api.worker.run_pending()
    assert (result.run_id, result.status) == (run_id, WorkflowStatus.COMPLETED)


def test_a_fork_is_queued_and_continued_from_the_copied_steps(api: Api) -> None:
    CALLS["broken"] = 1
    run_id = api.client.post("/api/workflows/act.flow/runs", json={"params": {"n": 5}})
    run_id = run_id.json()["run_id"]
    api.worker.run_pending()
    CALLS["broken"] = 0

    forked = api.client.post(f"/api/runs/{run_id}/fork",
                             json={"from_step": "check", "params": {"m": 1}})  # fmt: skip

    assert forked.status_code == 202
    fork_id = forked.json()["run_id"]
    assert forked.json() == {"run_id": fork_id, "status": "PENDING"}
    queued = api.run(fork_id)
    assert (queued["forked_from"], queued["triggered_by"]) == (run_id, "api")
    assert queued["params"] == {"n": 5, "m": 1}
    [result] = api.worker.run_pending()
    assert (result.run_id, result.status) == (fork_id, WorkflowStatus.COMPLETED)
    assert CALLS["count"] == 1  # the copied step did not run again
    assert api.run(run_id)["status"] == "FAILED"  # the original is untouched
    page = api.client.get(f"/runs/{fork_id}")
    assert f'id="forked-from" href="/runs/{run_id}"' in page.text
    assert 'id="fork-run"' in api.client.get(f"/runs/{run_id}").text


def test_a_fork_refuses_unknown_runs_and_steps_off_its_path(api: Api) -> None:
    run_id = api.client.post("/api/workflows/act.flow/runs", json={}).json()["run_id"]
    api.worker.run_pending()
    fork = f"/api/runs/{run_id}/fork"
    assert api.client.post("/api/runs/nope/fork", json={"from_step": "check"}).status_code == 404
    off_path = api.client.post(fork, json={"from_step": "nowhere"})
    assert off_path.status_code == 422
    assert "count, check" in off_path.json()["detail"]
    assert api.client.post(fork, json={"from_step": "check", "params": [1]}).status_code == 422
    assert api.client.post(fork, json={}).status_code == 422
    assert [r["run_id"] for r in api.client.get("/api/runs").json()] == [run_id]


def test_workflow_names_with_a_slash_open_their_page_and_routes(api: Api) -> None:
    register_workflow(flow("etl/daily"))
    page = api.client.get("/workflows/etl/daily")
    assert page.status_code == 200
    assert 'id="start-run"' in page.text
    assert 'data-workflow="etl/daily"' in page.text
    started = api.client.post("/api/workflows/etl/daily/runs", json={"params": {"n": 1}})
    assert started.status_code == 202
    run_id = started.json()["run_id"]
    assert api.client.get("/api/workflows/etl/daily").json()["runs"][0]["run_id"] == run_id
    assert api.client.get("/workflows/etl/nope").status_code == 200  # figures, no form
    assert 'id="start-run"' not in api.client.get("/workflows/etl/nope").text


def test_the_run_page_offers_the_actions_its_status_allows(api: Api) -> None:
    CALLS["broken"] = 1
    run_id = api.client.post("/api/workflows/act.flow/runs", json={}).json()["run_id"]
    live = api.client.get(f"/runs/{run_id}").text
    assert 'data-action="cancel"' in live
    assert 'data-action="resume"' not in live
    api.worker.run_pending()
    ended = api.client.get(f"/runs/{run_id}").text
    assert 'data-action="resume"' in ended
    assert 'data-action="cancel"' not in ended


def test_a_signal_is_delivered_kept_and_shown_and_refused_for_unknown_or_ended_runs(
    api: Api,
) -> None:
    gate = register_workflow(Workflow("act.gate", [Step.await_signal("approval", "approved")]))
    waiting = api.worker.submit(gate)
    sent = api.client.post(f"/api/runs/{waiting}/signals/approved", json={"by": "ada"})
    assert sent.status_code == 202
    assert api.run(waiting)["signals"][0]["consumed_at"] is None  # kept for the step
    kept = api.client.get(f"/runs/{waiting}").text
    assert "<td>approved</td>" in kept
    assert "kept, not yet consumed" in kept
    [result] = api.worker.run_pending()
    assert result.context.get_output("approval") == {"by": "ada"}
    [shown] = api.run(waiting)["signals"]
    assert (shown["signal_name"], shown["payload"]) == ("approved", {"by": "ada"})
    assert shown["consumed_at"] is not None
    page = api.client.get(f"/runs/{waiting}").text
    assert "<pre>{&#34;by&#34;: &#34;ada&#34;}</pre>" in page  # the payload's preview
    assert "kept, not yet consumed" not in page
    ended = api.client.post(f"/api/runs/{waiting}/signals/approved", json={})
    assert ended.status_code == 409
    assert "has ended" in ended.json()["detail"]
    assert api.client.post("/api/runs/nope/signals/approved", json={}).status_code == 404
    assert api.client.post(f"/api/runs/{waiting}/signals/approved", json=[1]).status_code == 422
