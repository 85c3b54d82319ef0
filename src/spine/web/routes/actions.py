"""Acting on runs: cancel one (``POST /api/runs/{id}/cancel``), resume a failed or
cancelled one (``POST /api/runs/{id}/resume``), send one a signal
(``POST /api/runs/{id}/signals/{name}``), fork one from a step
(``POST /api/runs/{id}/fork``) and start one of a workflow
(``POST /api/workflows/{name}/runs``). Started, resumed and forked runs are queued: a
worker (``spine ui``'s own, or ``spine worker``) executes them, never the request's
thread.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from spine.commands import CancelOutcome, cancel_run, resume_run, send_signal
from spine.core.errors import (
    RunEndedError,
    RunIsMapItemError,
    RunNotFoundError,
    WorkflowError,
    WorkflowValidationError,
)
from spine.core.status import WorkflowStatus
from spine.orchestration import get_workflow
from spine.web.dependencies import Store, site_of, triggered_by

router = APIRouter(tags=["actions"])


class StartRun(BaseModel):
    """Body of ``POST /api/workflows/{name}/runs``."""

    params: dict[str, Any] = {}
    partition: dict[str, Any] = {}
    idempotency_key: str | None = None
    """One run per key and workflow: a repeated start answers with the run that holds it."""
    priority: int = 0
    """Workers claim runs of a higher priority first."""


class ForkRun(BaseModel):
    """Body of ``POST /api/runs/{id}/fork``."""

    from_step: str
    """The first step the fork executes; the run's recorded steps before it are reused."""
    params: dict[str, Any] = {}
    """Params over the run's."""


@router.post("/api/runs/{run_id}/cancel", responses={404: {}, 409: {}})
def api_cancel(store: Store, run_id: str) -> JSONResponse:
    """Cancel a run: ``outcome`` ``cancelled`` (nothing executed it: it is ``CANCELLED``
    now) or ``requested`` (its runner stops it at the next step boundary); 409 if it had
    already ended, or is a map item's run (its map's run is the one to cancel)."""
    try:
        done = cancel_run(store, run_id)
    except RunNotFoundError as exc:
        raise HTTPException(404, str(exc)) from exc
    except RunIsMapItemError as exc:
        raise HTTPException(409, str(exc)) from exc
    if done.outcome is CancelOutcome.ALREADY_ENDED:
        return JSONResponse(
            {"run_id": run_id, "outcome": done.outcome, "status": done.ended_as,
             "detail": f"run {run_id} had already ended ({done.ended_as}); nothing to cancel"},
            status_code=409,
        )  # fmt: skip
    answer: dict[str, Any] = {"run_id": run_id, "outcome": done.outcome}
    if done.outcome is CancelOutcome.REQUESTED:
        answer["in_flight"] = done.in_flight  # the last step that may still start
    return JSONResponse(answer)


@router.post("/api/runs/{run_id}/resume", status_code=202, responses={404: {}, 409: {}})
def api_resume(store: Store, run_id: str) -> dict[str, str]:
    """Queue a ``FAILED`` or ``CANCELLED`` run again: a worker continues it from where
    it stopped (its completed steps do not run again). 409 for any other run."""
    try:
        done = resume_run(store, run_id)
    except RunNotFoundError as exc:
        raise HTTPException(404, str(exc)) from exc
    if not done.queued:
        raise HTTPException(409, done.reason)
    return {"run_id": run_id, "status": done.status}


@router.post(
    "/api/runs/{run_id}/signals/{name}", status_code=202, responses={404: {}, 409: {}, 422: {}}
)
def api_signal(
    store: Store, run_id: str, name: str, payload: Annotated[dict[str, Any], Body()]
) -> dict[str, str]:
    """Send the signal ``name`` to a run; the JSON object body is its payload (the
    output of the step awaiting it, now or later). 409 if the run has ended."""
    try:
        send_signal(store, run_id, name, payload)
    except RunNotFoundError as exc:
        raise HTTPException(404, str(exc)) from exc
    except RunEndedError as exc:
        raise HTTPException(409, str(exc)) from exc
    except WorkflowValidationError as exc:
        raise HTTPException(422, str(exc)) from exc
    return {"run_id": run_id, "signal": name}


@router.post("/api/runs/{run_id}/fork", status_code=202, responses={404: {}, 409: {}, 422: {}})
def api_fork(request: Request, run_id: str, body: ForkRun) -> dict[str, str]:
    """Queue a new run that reuses the run's recorded steps before ``from_step`` and
    executes from it on with ``params`` over the run's; answers its id at once. 422 for
    a step the run did not execute or params that cannot be stored; 409 for a map item
    or a run whose workflow is not registered here, or changed since it started."""
    runner = site_of(request).runner
    try:
        fork_id = runner.submit_fork(run_id, body.from_step, body.params,
                                     triggered_by=triggered_by(request))  # fmt: skip
    except RunNotFoundError as exc:
        raise HTTPException(404, str(exc)) from exc
    except WorkflowValidationError as exc:
        raise HTTPException(422, str(exc)) from exc
    except WorkflowError as exc:
        raise HTTPException(409, str(exc)) from exc
    return {"run_id": fork_id, "status": WorkflowStatus.PENDING}


@router.post("/api/workflows/{name:path}/runs", status_code=202, responses={404: {}, 422: {}})
def api_start(request: Request, store: Store, name: str, body: StartRun) -> dict[str, str]:
    """Queue a run of a workflow registered in this process (``spine ui --app``) with
    ``params`` and ``partition``; answers its id at once. With an ``idempotency_key``
    another run of the workflow holds, that run's id and status, and nothing is queued."""
    try:
        workflow = get_workflow(name)
    except WorkflowError as exc:
        raise HTTPException(404, str(exc)) from exc
    runner = site_of(request).runner
    try:
        run_id = runner.submit(
            workflow, body.params, body.partition, triggered_by=triggered_by(request),
            idempotency_key=body.idempotency_key, priority=body.priority,
        )  # fmt: skip
    except WorkflowValidationError as exc:
        raise HTTPException(422, str(exc)) from exc
    status = WorkflowStatus.PENDING
    if body.idempotency_key is not None:
        status = WorkflowStatus(store.load_run(run_id).run.status)
    return {"run_id": run_id, "status": status}
