"""Workflows: a workflow's figures and graph (page ``/workflows/{name}``, ``GET
/api/workflows/{name}``), and starting a run of a registered one (``POST``, guarded by
the API token)."""

from __future__ import annotations

import threading
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from spine.commands import workflow_summary
from spine.core.errors import WorkflowError
from spine.orchestration import Workflow, WorkflowContext, WorkflowRunner, get_workflow
from spine.orchestration.graph import ascii_view, mermaid
from spine.web.dependencies import PAGE_SIZE, Store, render, require_token, site_of

router = APIRouter()


class StartRun(BaseModel):
    """Body of ``POST /api/workflows/{name}/runs``."""

    params: dict[str, Any] = {}
    partition: dict[str, Any] = {}


@router.get("/api/workflows/{name}", tags=["workflows"])
def api_workflow(store: Store, name: str) -> dict[str, Any]:
    """Recent runs of a workflow, its success rate, durations and quality over time."""
    return workflow_summary(store, name, shown=PAGE_SIZE)


@router.post(
    "/api/workflows/{name}/runs",
    tags=["workflows"],
    status_code=202,
    dependencies=[Depends(require_token)],
)
def api_start(request: Request, name: str, body: StartRun) -> dict[str, str]:
    """Start a registered workflow. Needs ``Authorization: Bearer <SPINE_API_TOKEN>``."""
    try:
        workflow = get_workflow(name)
    except WorkflowError as exc:
        raise HTTPException(404, str(exc)) from exc
    context = WorkflowContext.create(workflow.name, params=body.params, partition=body.partition)
    start_in_background(site_of(request).settings.database_url, workflow, context)
    return {"run_id": context.run_id}


def start_in_background(database_url: str, workflow: Workflow, context: WorkflowContext) -> None:
    """Execute the run on a thread of its own: the request answers with the run's id at
    once, and the run's page follows it."""

    def execute() -> None:
        with WorkflowRunner(database_url=database_url) as runner:
            runner.execute(workflow, context=context)

    threading.Thread(target=execute, name=f"spine-api-{context.run_id}", daemon=True).start()


@router.get("/workflows/{name}", response_class=HTMLResponse, include_in_schema=False)
def workflow_page(request: Request, store: Store, name: str) -> HTMLResponse:
    try:
        workflow = get_workflow(name)
        graph = {"ascii": ascii_view(workflow), "mermaid": mermaid(workflow)}
    except WorkflowError:
        graph = None  # runs of a workflow this process does not know: figures, no drawing
    summary = workflow_summary(store, name, shown=PAGE_SIZE)
    return render(request, "workflow.html", {"summary": summary, "graph": graph})
