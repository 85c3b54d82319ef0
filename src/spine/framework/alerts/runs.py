"""The alert for the end of a workflow run, for the runner to send."""

from __future__ import annotations

import os
from typing import Any

from spine.core.status import WorkflowStatus
from spine.framework.alerts.model import Alert, AlertSeverity

UI_URL_VARIABLE = "SPINE_UI_URL"

# Status -> (severity, how the title says it).
_OUTCOMES = {
    WorkflowStatus.FAILED: (AlertSeverity.ERROR, "failed"),
    WorkflowStatus.PARTIAL: (AlertSeverity.WARNING, "partially failed"),
    WorkflowStatus.CANCELLED: (AlertSeverity.WARNING, "was cancelled"),
    WorkflowStatus.COMPLETED: (AlertSeverity.INFO, "completed"),
}


def run_alert(
    workflow_name: str,
    run_id: str,
    status: str,
    failed_step: str | None = None,
    error: str | None = None,
    ui_url: str | None = None,
    *,
    domain: str | None = None,
) -> Alert:
    """The alert saying run ``run_id`` of ``workflow_name`` ended with ``status``.

    ``FAILED`` is an ERROR, ``PARTIAL`` and ``CANCELLED`` are WARNINGs and
    ``COMPLETED`` is INFO. The message names the failed step and the error, and
    links to ``{ui_url}/runs/{run_id}``; ``ui_url`` defaults to the ``SPINE_UI_URL``
    environment variable (``""`` for no link). All failures of one workflow share
    a fingerprint, so a workflow failing again and again is throttled as one
    incident.
    """
    key = str(status).upper()
    if key not in _OUTCOMES:
        raise ValueError(
            f"run_alert: status {status!r} of run {run_id!r} is not one of {', '.join(_OUTCOMES)}"
        )
    severity, outcome = _OUTCOMES[WorkflowStatus(key)]
    base = os.environ.get(UI_URL_VARIABLE, "") if ui_url is None else ui_url
    url = f"{base.rstrip('/')}/runs/{run_id}" if base else None
    where = f" at step {failed_step!r}" if failed_step else ""
    lines = [f"Run {run_id} of workflow {workflow_name} {outcome}{where}."]
    if error:
        lines.append(f"Error: {error}")
    if url:
        lines.append(f"Details: {url}")
    metadata: dict[str, Any] = {"workflow": workflow_name, "status": key}
    if failed_step:
        metadata["failed_step"] = failed_step
    if url:
        metadata["url"] = url
    return Alert(
        severity=severity,
        title=f"Workflow {workflow_name} {outcome}",
        message="\n".join(lines),
        source=workflow_name,
        domain=domain,
        run_id=run_id,
        metadata=metadata,
    )
