"""The routes of the UI (HTML pages) and of the JSON API under ``/api``, by resource."""

from spine.web.routes import actions, login, logs, runs, schedules, workflows

ROUTERS = (runs.router, logs.router, actions.router, schedules.router, workflows.router,
           login.router)  # fmt: skip
"""In the order the API's paths are listed in its OpenAPI document."""

__all__ = ["ROUTERS"]
