"""The routes of the UI (HTML pages) and of the JSON API under ``/api``, by resource."""

from spine.web.routes import (
    actions,
    docs,
    login,
    logs,
    partitions,
    run_page,
    runs,
    schedules,
    workflows,
)

ROUTERS = (runs.router, run_page.router, logs.router, actions.router, schedules.router,
           workflows.router, partitions.router, docs.router, login.router)  # fmt: skip
"""In the order the API's paths are listed in its OpenAPI document."""

__all__ = ["ROUTERS"]
