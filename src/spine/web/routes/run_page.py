"""One run's page (``/runs/{id}``): what started it and with what, its graph coloured
by each step's status with the path taken, a timeline, its step attempts and map items
a page at a time, each output as a bounded preview (the whole one is downloaded from
:func:`spine.web.routes.runs.api_step_output`), its logs and alerts.

Every part is bounded, so a run of 10,000 steps or map items, or one whose output holds
200,000 rows, renders quickly and small (``benchmarks/bench_run_page.py``)."""

from __future__ import annotations

import json
import time
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from spine.commands import (
    RESUMABLE,
    InFlight,
    delivery_to_dict,
    run_duration,
    run_to_dict,
    signal_to_dict,
)
from spine.core.errors import WorkflowError
from spine.core.jsonvalue import decode
from spine.core.records import StepRecord, StoredRun, when
from spine.core.status import LIVE_STATUSES
from spine.orchestration import StepType, get_workflow
from spine.web.dependencies import Store, render
from spine.web.drawing import GRAPH_LIMIT, attempt_status, run_graph, timeline
from spine.web.routes.logs import page_logs
from spine.web.routes.runs import found_run

router = APIRouter()

STEP_PAGE = 100
"""Step attempts on one page of a run (the timeline draws the same ones)."""
ITEM_PAGE = 100
"""Map items on one page of a run."""
PREVIEW_CHARS = 2000
"""Most characters of an output (or params) a page shows; the rest is downloaded."""


def preview(stored_json: str, *, pretty: bool = True) -> dict[str, Any]:
    """A bounded view of a JSON value as stored: when it is short, itself (``pretty``:
    indented), else its first :data:`PREVIEW_CHARS` characters as stored (nothing large
    is decoded)."""
    if len(stored_json) <= PREVIEW_CHARS:
        indent = 1 if pretty else None
        return {"text": json.dumps(decode(stored_json), indent=indent, default=str), "cut": False}
    return {"text": stored_json[:PREVIEW_CHARS] + " …", "cut": True, "size": len(stored_json)}


def step_row(step: StepRecord) -> dict[str, Any]:
    return {
        "step_order": step.step_order,
        "step_name": step.step_name,
        "step_type": step.step_type,
        "attempt": step.attempt,
        "status": attempt_status(step),
        "next_step": step.next_step,
        "seconds": step.completed_at - step.started_at,
        "error": step.error,
        "output": None if step.error else preview(step.output_json),
        "quality": step.quality,
    }


def item_value(params: dict[str, Any]) -> Any:
    """What a map item run was given: its params less its index (an item run's row
    keeps only the params its item adds)."""
    own = {k: v for k, v in params.items() if k != "item_index"}
    return next(iter(own.values())) if len(own) == 1 else own


def map_items(store: Store, stored: StoredRun, live: InFlight | None) -> dict[str, dict[str, int]]:
    """For each map step of the run, its latest execution's items counted by status."""
    keys = {s.step_name: f"{s.step_name}#{s.step_order}" for s in stored.steps
            if s.step_type == StepType.MAP}  # fmt: skip
    if live is not None and live.items is not None:
        keys[live.step_name] = f"{live.step_name}#{live.step_order}"
    run_id = stored.run.run_id
    return {name: store.item_counts(run_id, key) for name, key in list(keys.items())[:GRAPH_LIMIT]}


def pages(total: int, size: int) -> int:
    return max((total + size - 1) // size, 1)


@router.get("/runs/{run_id}", response_class=HTMLResponse, include_in_schema=False)
def run_page(
    request: Request,
    store: Store,
    run_id: str,
    step_page: int = Query(1, ge=1),
    item_page: int = Query(1, ge=1),
) -> HTMLResponse:
    detail = found_run(store, run_id, items=ITEM_PAGE, items_from=(item_page - 1) * ITEM_PAGE)
    stored, live = detail.stored, detail.live
    run = {**run_to_dict(stored.run), "owner_alive": detail.owner_alive}
    try:
        workflow = get_workflow(stored.run.workflow_name, stored.run.workflow_version)
    except WorkflowError:
        workflow = None  # drawn from its rows: the path taken
    first = (step_page - 1) * STEP_PAGE
    shown = stored.steps[first : first + STEP_PAGE]
    last_page = first + STEP_PAGE >= len(stored.steps)
    items = [{"run_id": c.run_id, "status": c.status, "index": c.item_index,
              "step": (c.parent_step or "").rsplit("#", 1)[0],
              "item": preview(json.dumps(item_value(dict(c.params)), default=str)),
              "duration_seconds": run_duration(c)}
             for c in detail.children]  # fmt: skip
    return render(request, "run.html", {
        "run": run,
        "params": preview(json.dumps(run["params"], default=str), pretty=False),
        "partition": preview(json.dumps(run["partition"], default=str), pretty=False),
        "graph": run_graph(stored.steps, live, workflow, map_items(store, stored, live)),
        "timeline": timeline(shown, stored.run.started_at, live if last_page else None,
                             time.time()),
        "steps": [step_row(s) for s in shown],
        "in_flight": live.to_dict() if live is not None and last_page else None,
        "step_paging": {"page": step_page, "pages": pages(len(stored.steps), STEP_PAGE),
                        "total": len(stored.steps), "first": first + 1, "size": STEP_PAGE},
        "items": items,
        "item_paging": {"page": item_page, "pages": pages(detail.children_total, ITEM_PAGE),
                        "total": detail.children_total, "first": (item_page - 1) * ITEM_PAGE + 1},
        "logs": page_logs(shown),
        "alerts": [delivery_to_dict(a) for a in detail.alerts],
        "signals": [{**signal_to_dict(g), "preview": preview(json.dumps(g.payload), pretty=False)}
                    for g in detail.signals],
        "live": stored.run.status in LIVE_STATUSES,
        "live_statuses": sorted(LIVE_STATUSES),
        "resumable": sorted(RESUMABLE),
        "wake_at": when(stored.run.wake_at),
    })  # fmt: skip
