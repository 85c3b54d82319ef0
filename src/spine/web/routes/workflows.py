"""Workflows: every workflow with its last runs, success rate and next scheduled time
(page ``/workflows``, ``GET /api/workflows``), and one workflow's figures and graph (page
``/workflows/{name}``, ``GET /api/workflows/{name}``; a name may hold ``/``), with the
form that starts a run of a registered one (through :mod:`spine.web.routes.actions`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from spine.commands import workflow_summary, workflows_overview
from spine.core.errors import WorkflowError
from spine.core.status import LIVE_STATUSES
from spine.orchestration import get_workflow, list_workflows
from spine.orchestration.graph import mermaid
from spine.web.dependencies import PAGE_SIZE, Store, render
from spine.web.drawing import workflow_graph

router = APIRouter()


@router.get("/api/workflows", tags=["workflows"])
def api_workflows(store: Store) -> list[dict[str, Any]]:
    """Every workflow with runs, registered in this process or scheduled, by name: its
    last 5 runs, success rate over its recent runs and next scheduled time (UTC)."""
    return workflows_overview(store, list_workflows())


@router.get("/api/workflows/{name:path}", tags=["workflows"])
def api_workflow(store: Store, name: str) -> dict[str, Any]:
    """Recent runs of a workflow, its success rate, durations and quality over time."""
    return workflow_summary(store, name, shown=PAGE_SIZE)


@router.get("/workflows", response_class=HTMLResponse, include_in_schema=False)
def workflows_page(request: Request, store: Store) -> HTMLResponse:
    found = api_workflows(store)
    live = any(r["status"] in LIVE_STATUSES for w in found for r in w["runs"])
    return render(request, "workflows.html", {"workflows": found, "live": live})


@router.get("/workflows/{name:path}", response_class=HTMLResponse, include_in_schema=False)
def workflow_page(request: Request, store: Store, name: str) -> HTMLResponse:
    try:
        workflow = get_workflow(name)
    except WorkflowError:
        # Runs of a workflow this process does not know: figures, no drawing, and no
        # start form (the queue takes registered workflows only).
        workflow = None
    summary = workflow_summary(store, name, shown=PAGE_SIZE)
    return render(request, "workflow.html", {
        "summary": summary,
        "registered": workflow is not None,
        "graph": None if workflow is None else workflow_graph(workflow),
        "mermaid": None if workflow is None else mermaid(workflow),
        "charts": {"durations": summary["durations"], "quality": summary["quality"][-200:]},
        "live": any(r["status"] in LIVE_STATUSES for r in summary["runs"]),
    })  # fmt: skip
