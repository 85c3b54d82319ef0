"""Step logs: ``GET /api/runs/{id}/logs`` (JSON lines), and the run page's log section."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import Response

from spine.commands import log_line_dicts, step_logs
from spine.core.errors import RunNotFoundError
from spine.core.records import StepRecord, when
from spine.web.dependencies import Store

router = APIRouter()


@router.get(
    "/api/runs/{run_id}/logs",
    tags=["runs"],
    response_class=Response,
    responses={200: {"content": {"application/x-ndjson": {}}}},
)
def api_run_logs(
    store: Store,
    run_id: str,
    step: str | None = Query(None, description="Only this step's attempts (a map's: its items')."),
) -> Response:
    """What the run's step attempts and its map items' wrote, one JSON object a line
    (``application/x-ndjson``), in the order the attempts ended."""
    try:
        _, found = step_logs(store, run_id, step=step)
    except RunNotFoundError as exc:
        raise HTTPException(404, str(exc)) from exc
    body = "".join(json.dumps(line) + "\n" for log in found for line in log_line_dicts(log))
    return Response(body, media_type="application/x-ndjson")


def page_logs(steps: Sequence[StepRecord]) -> list[dict[str, Any]]:
    """The run page's logs: per step attempt that wrote something, its lines."""
    return [
        {
            "step_order": s.step_order,
            "label": f"{s.step_name} #{s.attempt}",
            "lines": [{"time": when(t), "level": level, "text": text} for t, level, text in s.log],
        }
        for s in steps
        if s.log_json
    ]
