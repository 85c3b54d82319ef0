"""Workflows: a workflow's figures and graph (page ``/workflows/{name}``, ``GET
/api/workflows/{name}``; a name may hold ``/``), and on its page the form that starts a
run of a registered one (through :mod:`spine.web.routes.actions`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from spine.commands import workflow_summary
from spine.core.errors import WorkflowError
from spine.orchestration import get_workflow
from spine.orchestration.graph import ascii_view, mermaid
from spine.web.dependencies import PAGE_SIZE, Store, render

router = APIRouter()


@router.get("/api/workflows/{name:path}", tags=["workflows"])
def api_workflow(store: Store, name: str) -> dict[str, Any]:
    """Recent runs of a workflow, its success rate, durations and quality over time."""
    return workflow_summary(store, name, shown=PAGE_SIZE)


@router.get("/workflows/{name:path}", response_class=HTMLResponse, include_in_schema=False)
def workflow_page(request: Request, store: Store, name: str) -> HTMLResponse:
    try:
        workflow = get_workflow(name)
        graph = {"ascii": ascii_view(workflow), "mermaid": mermaid(workflow)}
    except WorkflowError:
        # Runs of a workflow this process does not know: figures, no drawing, and no
        # start form (the queue takes registered workflows only).
        graph = None
    summary = workflow_summary(store, name, shown=PAGE_SIZE)
    return render(request, "workflow.html", {"summary": summary, "graph": graph})
