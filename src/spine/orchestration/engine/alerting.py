"""The alert a run sends when it ends with a status it alerts on."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from spine.orchestration.engine.settings import RunSettings
    from spine.orchestration.history import HistoryStore
    from spine.orchestration.results import WorkflowResult
    from spine.orchestration.workflow import Workflow

logger = logging.getLogger("spine.orchestration")


def alert_run(
    settings: RunSettings, workflow: Workflow, result: WorkflowResult, store: HistoryStore | None
) -> None:
    """Send the run's alert if its status is one to alert on; never raises.

    A workflow's own ``alert_on`` wins over the runner's.
    """
    chosen = workflow.alert_on if workflow.alert_on is not None else settings.alert_on
    if not chosen or str(result.status) not in chosen:
        return
    # Alerting loads only when a run is to alert: most scripts never do.
    from spine.framework.alerts import alert_registry, run_alert

    try:
        alert = run_alert(
            workflow.name,
            result.run_id,
            str(result.status),
            result.error_step,
            result.error,
            settings.ui_url,
            domain=workflow.domain or None,
        )
        # The log shares the store's connections: nothing to close here.
        log = store.delivery_log() if store is not None else None
        registry = alert_registry if settings.alerts is None else settings.alerts
        registry.send_to_all(alert, log=log)
    except Exception:
        # The run has ended and is recorded: a broken channel, registry or log must
        # neither fail it nor hide its result from the caller.
        logger.exception(
            "run %s of %r ended %s, but its alert could not be sent",
            result.run_id,
            workflow.name,
            result.status,
        )
