"""Runs: the list (page ``/``, ``GET /api/runs``) and one run with its timeline
(page ``/runs/{id}``, ``GET /api/runs/{id}``)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse

from spine.commands import RESUMABLE, RunDetail, list_runs, run_to_dict, show_run, status_named
from spine.core.errors import RunNotFoundError
from spine.core.records import StepRecord
from spine.core.status import LIVE_STATUSES, WorkflowStatus
from spine.web.dependencies import PAGE_SIZE, Store, render
from spine.web.routes.logs import page_logs

router = APIRouter()


def hours_ago(hours: float | None) -> float | None:
    return None if hours is None else time.time() - hours * 3600


@router.get("/api/runs", tags=["runs"])
def api_runs(
    store: Store,
    workflow: str | None = None,
    status: str | None = Query(None, description="One of " + ", ".join(WorkflowStatus)),
    since_hours: float | None = Query(None, ge=0),
    limit: int = Query(PAGE_SIZE, ge=1, le=1000),
    offset: int = Query(0, ge=0),
) -> list[dict[str, Any]]:
    """Runs, newest first."""
    try:
        wanted = status_named(status)
    except ValueError:
        return []  # no run has a status that does not exist
    found = list_runs(store, workflow=workflow, status=wanted, since=hours_ago(since_hours),
                      limit=limit, offset=offset)  # fmt: skip
    return [run_to_dict(r) for r in found]


def found_run(store: Store, run_id: str) -> RunDetail:
    try:
        return show_run(store, run_id)
    except RunNotFoundError as exc:
        raise HTTPException(404, str(exc)) from exc


@router.get("/api/runs/{run_id}", tags=["runs"])
def api_run(store: Store, run_id: str) -> dict[str, Any]:
    """One run with its steps (every attempt) and its map items."""
    return found_run(store, run_id).to_dict()


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def runs_page(
    request: Request,
    store: Store,
    workflow: str | None = None,
    status: str | None = None,
    since_hours: str | None = None,
    page: int = Query(1, ge=1),
) -> HTMLResponse:
    # The filter form sends empty fields for "any", and a typed URL may hold anything:
    # a filter that does not parse is no filter.
    try:
        wanted = status_named(status)
    except ValueError:
        wanted = None
    try:
        hours = float(since_hours) if since_hours else None
    except ValueError:
        hours = None
    found = list_runs(store, workflow=workflow or None, status=wanted, since=hours_ago(hours),
                      limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE)  # fmt: skip
    return render(request, "runs.html", {
        "runs": [run_to_dict(r) for r in found[:PAGE_SIZE]],
        "more": len(found) > PAGE_SIZE,
        "page": page,
        "filters": {"workflow": workflow or "", "status": wanted or "",
                    "since_hours": "" if hours is None else hours},
        "statuses": list(WorkflowStatus),
    })  # fmt: skip


@router.get("/runs/{run_id}", response_class=HTMLResponse, include_in_schema=False)
def run_page(request: Request, store: Store, run_id: str) -> HTMLResponse:
    detail = found_run(store, run_id)
    shown = detail.to_dict()
    return render(request, "run.html", {
        "run": shown,
        "steps": shown["steps"],
        "timeline": timeline(detail.stored.steps),
        "logs": page_logs(detail.stored.steps),
        # While the run has not ended, the page follows it through the API.
        "live_statuses": sorted(LIVE_STATUSES),
        "resumable": sorted(RESUMABLE),
    })  # fmt: skip


def timeline(steps: Sequence[StepRecord]) -> list[dict[str, Any]]:
    """Bars of each step attempt, as percentages of the span from the first start to
    the last end."""
    if not steps:
        return []
    first = min(s.started_at for s in steps)
    span = max(max(s.completed_at for s in steps) - first, 1e-6)
    return [
        {
            "label": f"{s.step_name} #{s.attempt}",
            "status": "RETRIED" if s.will_retry else s.status,
            "left": (s.started_at - first) / span * 100,
            "width": max((s.completed_at - s.started_at) / span * 100, 0.5),
            "seconds": s.completed_at - s.started_at,
        }
        for s in steps
    ]
