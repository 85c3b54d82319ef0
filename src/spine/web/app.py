"""Routes of the UI (HTML pages) and of the JSON API under ``/api``."""

from __future__ import annotations

import hmac
import json
import os
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Header, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel

from spine.commands import delivery_to_dict, run_to_dict, step_to_dict
from spine.core.errors import RunNotFoundError, ScheduleError, WorkflowError
from spine.orchestration import WorkflowContext, WorkflowRunner, get_workflow
from spine.orchestration.graph import ascii_view, mermaid
from spine.store import SqlDeliveryLog, SqlScheduleStore, open_store

PAGE_SIZE = 50
STATUSES = ["PENDING", "RUNNING", "WAITING", "COMPLETED", "FAILED", "PARTIAL", "CANCELLED"]


class StartRun(BaseModel):
    """Body of ``POST /api/workflows/{name}/runs``."""

    params: dict[str, Any] = {}
    partition: dict[str, Any] = {}


def build(database_url: str, *, token: str | None = None) -> FastAPI:
    token = token if token is not None else os.environ.get("SPINE_API_TOKEN") or None
    store = open_store(database_url)
    # Both share the store's connections: closing the store closes them.
    schedule_store = SqlScheduleStore(store)
    delivery_log = SqlDeliveryLog.sharing(store)
    templates = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))
    # Shown as text: autoescaping turns any markup inside a value into visible characters.
    templates.env.filters["pretty"] = lambda value: json.dumps(value, indent=1, default=str)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        store.close()

    app = FastAPI(
        title="spine-orchestration",
        description="Runs, steps and quality metrics of spine workflows.",
        version="1",
        lifespan=lifespan,
    )

    def since_of(hours: float | None) -> float | None:
        return None if hours is None else time.time() - hours * 3600

    # -- API ------------------------------------------------------------------------

    @app.get("/api/runs", tags=["runs"])
    def api_runs(
        workflow: str | None = None,
        status: str | None = Query(None, description="One of " + ", ".join(STATUSES)),
        since_hours: float | None = Query(None, ge=0),
        limit: int = Query(PAGE_SIZE, ge=1, le=1000),
        offset: int = Query(0, ge=0),
    ) -> list[dict[str, Any]]:
        """Runs, newest first."""
        found = store.list_runs(
            workflow=workflow, status=status, since=since_of(since_hours), limit=limit,
            offset=offset,
        )  # fmt: skip
        return [run_to_dict(r) for r in found]

    @app.get("/api/runs/{run_id}", tags=["runs"])
    def api_run(run_id: str) -> dict[str, Any]:
        """One run with its steps (every attempt) and its map items."""
        try:
            stored = store.load_run(run_id)
        except RunNotFoundError as exc:
            raise HTTPException(404, str(exc)) from exc
        children = store.list_runs(parent=run_id, limit=1000, top_level=False)
        return {
            **run_to_dict(stored.run),
            "steps": [step_to_dict(s) for s in stored.steps],
            "children": [run_to_dict(c) for c in children],
            "alerts": [delivery_to_dict(d) for d in delivery_log.recent(limit=50, run_id=run_id)],
        }

    @app.get("/api/schedules", tags=["schedules"])
    def api_schedules() -> list[dict[str, Any]]:
        """Every schedule, by name, with its next fire time in UTC and in its time zone."""
        return [s.to_dict() for s in schedule_store.list_schedules()]

    @app.get("/api/schedules/{name:path}", tags=["schedules"])
    def api_schedule(name: str, limit: int = Query(PAGE_SIZE, ge=1, le=1000)) -> dict[str, Any]:
        """One schedule and what became of its latest ``limit`` due times, newest first."""
        try:
            schedule = schedule_store.get(name)
            fires = schedule_store.history(name, limit)
        except ScheduleError as exc:
            raise HTTPException(404, str(exc)) from exc
        return {**schedule.to_dict(), "history": [f.to_dict() for f in fires]}

    @app.get("/api/workflows/{name}", tags=["workflows"])
    def api_workflow(name: str) -> dict[str, Any]:
        """Recent runs of a workflow, its success rate, durations and quality over time."""
        return workflow_summary(name)

    @app.post("/api/workflows/{name}/runs", tags=["workflows"], status_code=202)
    def api_start(
        name: str, body: StartRun, authorization: str | None = Header(None)
    ) -> dict[str, str]:
        """Start a registered workflow. Needs ``Authorization: Bearer <SPINE_API_TOKEN>``."""
        if token is None:
            raise HTTPException(403, "starting runs is disabled: set SPINE_API_TOKEN")
        sent = (authorization or "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(sent.encode(), token.encode()):
            raise HTTPException(401, "a valid bearer token is required")
        try:
            workflow = get_workflow(name)
        except WorkflowError as exc:
            raise HTTPException(404, str(exc)) from exc
        context = WorkflowContext.create(workflow.name, params=body.params,
                                         partition=body.partition)  # fmt: skip

        def execute() -> None:
            with WorkflowRunner(database_url=database_url) as runner:
                runner.execute(workflow, context=context)

        threading.Thread(target=execute, name=f"spine-api-{context.run_id}", daemon=True).start()
        return {"run_id": context.run_id}

    def workflow_summary(name: str) -> dict[str, Any]:
        recent = store.list_runs(workflow=name, limit=200)
        ended = [r for r in recent if r.completed_at is not None]
        succeeded = [r for r in ended if r.status == "COMPLETED"]
        return {
            "workflow_name": name,
            "runs": [run_to_dict(r) for r in recent[:PAGE_SIZE]],
            "success_rate": len(succeeded) / len(ended) if ended else None,
            "durations": [
                {
                    "run_id": r.run_id,
                    "started_at": run_to_dict(r)["started_at"],
                    "seconds": (r.completed_at or r.started_at) - r.started_at,
                    "status": r.status,
                }
                for r in reversed(ended)
            ],
            "quality": store.quality_history(name),
        }

    # -- pages ----------------------------------------------------------------------

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def runs_page(
        request: Request,
        workflow: str | None = None,
        status: str | None = None,
        since_hours: str | None = None,
        page: int = Query(1, ge=1),
    ) -> HTMLResponse:
        # The filter form sends empty fields for "any": read them leniently.
        workflow = workflow or None
        status = status if status in STATUSES else None
        try:
            hours = float(since_hours) if since_hours else None
        except ValueError:
            hours = None
        found = store.list_runs(
            workflow=workflow, status=status, since=since_of(hours),
            limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE,
        )  # fmt: skip
        return templates.TemplateResponse(
            request,
            "runs.html",
            {
                "runs": [run_to_dict(r) for r in found[:PAGE_SIZE]],
                "more": len(found) > PAGE_SIZE,
                "page": page,
                "filters": {"workflow": workflow or "", "status": status or "",
                            "since_hours": "" if hours is None else hours},
                "statuses": STATUSES,
            },
        )  # fmt: skip

    @app.get("/runs/{run_id}", response_class=HTMLResponse, include_in_schema=False)
    def run_page(request: Request, run_id: str) -> HTMLResponse:
        detail = api_run(run_id)
        return templates.TemplateResponse(
            request, "run.html", {"run": detail, "steps": detail["steps"],
                                  "timeline": timeline(detail)},
        )  # fmt: skip

    @app.get("/schedules", response_class=HTMLResponse, include_in_schema=False)
    def schedules_page(request: Request) -> HTMLResponse:
        return templates.TemplateResponse(request, "schedules.html", {"schedules": api_schedules()})

    @app.get("/schedules/{name:path}", response_class=HTMLResponse, include_in_schema=False)
    def schedule_page(request: Request, name: str) -> HTMLResponse:
        detail = api_schedule(name, PAGE_SIZE)
        return templates.TemplateResponse(
            request, "schedule.html", {"schedule": detail, "history": detail["history"]}
        )

    @app.get("/workflows/{name}", response_class=HTMLResponse, include_in_schema=False)
    def workflow_page(request: Request, name: str) -> HTMLResponse:
        summary = workflow_summary(name)
        try:
            workflow = get_workflow(name)
            graph = {"ascii": ascii_view(workflow), "mermaid": mermaid(workflow)}
        except WorkflowError:
            graph = None
        return templates.TemplateResponse(
            request, "workflow.html", {"summary": summary, "graph": graph}
        )

    return app


def timeline(run: dict[str, Any]) -> list[dict[str, Any]]:
    """Bars of each step attempt, as percentages of the run's span."""
    from datetime import datetime

    steps = run["steps"]
    if not steps:
        return []
    starts = [datetime.fromisoformat(s["started_at"]).timestamp() for s in steps]
    ends = [datetime.fromisoformat(s["completed_at"]).timestamp() for s in steps]
    first, last = min(starts), max(ends)
    span = max(last - first, 1e-6)
    return [
        {
            "label": f"{s['step_name']} #{s['attempt']}",
            "status": "RETRIED" if s["will_retry"] else s["status"],
            "left": (start - first) / span * 100,
            "width": max((end - start) / span * 100, 0.5),
            "seconds": end - start,
        }
        for s, start, end in zip(steps, starts, ends, strict=True)
    ]
