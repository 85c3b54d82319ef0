"""Runs: the list (page ``/``, ``GET /api/runs``, filtered by workflow, status, trigger
and time range), one run (``GET /api/runs/{id}``; its page is
:mod:`spine.web.routes.run_page`) and a step attempt's whole output
(``GET /api/runs/{id}/steps/{order}/{attempt}/output``)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response

from spine.commands import RunDetail, list_runs, run_to_dict, show_run, status_named
from spine.core.errors import RunNotFoundError
from spine.core.status import LIVE_STATUSES, WorkflowStatus
from spine.web.dependencies import PAGE_SIZE, Store, render

router = APIRouter()

TRIGGERS = ("manual", "schedule", "ui", "api")
"""What the filter form offers (``triggered_by`` of the runs the engine and UI start);
the API takes any value."""


SINCE = "Started at or after (ISO-8601; UTC when it names no zone)."


def hours_ago(hours: float | None) -> float | None:
    return None if hours is None else time.time() - hours * 3600


def timestamp(moment: datetime | None) -> float | None:
    """Seconds since the epoch of ``moment``, read as UTC when it names no zone (as a
    browser's ``datetime-local`` field sends it)."""
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


@dataclass(frozen=True, slots=True)
class RunFilter:
    """Which runs a list shows."""

    workflow: str | None = None
    status: WorkflowStatus | None = None
    triggered_by: str | None = None
    since: float | None = None
    until: float | None = None

    def find(self, store: Store, limit: int, offset: int) -> list[dict[str, Any]]:
        found = list_runs(store, workflow=self.workflow, status=self.status,
                          triggered_by=self.triggered_by, since=self.since, until=self.until,
                          limit=limit, offset=offset)  # fmt: skip
        return [run_to_dict(r) for r in found]


@router.get("/api/runs", tags=["runs"])
def api_runs(
    store: Store,
    workflow: str | None = None,
    status: str | None = Query(None, description="One of " + ", ".join(WorkflowStatus)),
    trigger: str | None = Query(None, description="What started it: " + ", ".join(TRIGGERS)),
    since: Annotated[datetime | None, Query(description=SINCE)] = None,
    until: Annotated[datetime | None, Query(description="Started before (ISO-8601).")] = None,
    since_hours: float | None = Query(None, ge=0, description="Started in the last N hours."),
    limit: int = Query(PAGE_SIZE, ge=1, le=1000),
    offset: int = Query(0, ge=0),
) -> list[dict[str, Any]]:
    """Top-level runs, newest first."""
    try:
        wanted = status_named(status)
    except ValueError:
        return []  # no run has a status that does not exist
    start = max(filter(None, (timestamp(since), hours_ago(since_hours))), default=None)
    chosen = RunFilter(workflow, wanted, trigger, start, timestamp(until))
    return chosen.find(store, limit, offset)


def found_run(store: Store, run_id: str, **paging: int) -> RunDetail:
    try:
        return show_run(store, run_id, **paging)
    except RunNotFoundError as exc:
        raise HTTPException(404, str(exc)) from exc


@router.get("/api/runs/{run_id}", tags=["runs"])
def api_run(store: Store, run_id: str) -> dict[str, Any]:
    """One run with its steps (every attempt) and its map items."""
    return found_run(store, run_id).to_dict()


@router.get(
    "/api/runs/{run_id}/steps/{step_order}/{attempt}/output",
    tags=["runs"],
    response_class=Response,
    responses={200: {"content": {"application/json": {}}}, 404: {}},
)
def api_step_output(store: Store, run_id: str, step_order: int, attempt: int) -> Response:
    """The whole output of one step attempt, as stored (strict JSON: a non-finite float
    is tagged as in :mod:`spine.core.jsonvalue`). The run page shows a preview of it."""
    try:
        stored = store.load_run(run_id)
    except RunNotFoundError as exc:
        raise HTTPException(404, str(exc)) from exc
    for step in stored.steps:
        if step.step_order == step_order and step.attempt == attempt:
            name = f"{run_id}-{step_order}-{attempt}-output.json"
            shown_as = {"Content-Disposition": f'inline; filename="{name}"'}
            return Response(step.output_json, media_type="application/json", headers=shown_as)
    raise HTTPException(404, f"run {run_id} has no attempt {attempt} of step #{step_order}")


def parsed(text: str | None) -> datetime | None:
    # A filter that does not parse is no filter: the form sends empty fields for
    # "any", and a typed URL may hold anything.
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def runs_page(
    request: Request,
    store: Store,
    workflow: str | None = None,
    status: str | None = None,
    trigger: str | None = None,
    since: str | None = None,
    until: str | None = None,
    page: int = Query(1, ge=1),
) -> HTMLResponse:
    try:
        wanted = status_named(status)
    except ValueError:
        wanted = None
    start, end = parsed(since), parsed(until)
    chosen = RunFilter(workflow or None, wanted, trigger or None, timestamp(start), timestamp(end))
    found = chosen.find(store, PAGE_SIZE + 1, (page - 1) * PAGE_SIZE)
    shown = found[:PAGE_SIZE]
    filters = {"workflow": workflow or "", "status": wanted or "", "trigger": trigger or "",
               "since": start.isoformat(timespec="minutes") if start else "",
               "until": end.isoformat(timespec="minutes") if end else ""}  # fmt: skip
    return render(request, "runs.html", {
        "runs": shown,
        "more": len(found) > PAGE_SIZE,
        "page": page,
        "filters": filters,
        "statuses": list(WorkflowStatus),
        "triggers": TRIGGERS,
        "live": any(r["status"] in LIVE_STATUSES for r in shown),
    })  # fmt: skip
