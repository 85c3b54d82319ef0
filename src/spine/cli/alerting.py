"""The options of ``spine run`` and ``spine worker`` that send alerts when runs end:
``--alert-on``, ``--alerts`` and ``--ui-url`` (and their environment variables)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import click

from spine.cli.errors import UsageProblem


def _alert_on(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> Any:
    """``--alert-on`` (repeated, or comma lists) as upper-case statuses; ``None``: none."""
    from spine.orchestration.workflow import ALERTABLE

    chosen = [part.strip().upper() for value in values for part in value.split(",")]
    chosen = [status for status in chosen if status]
    unknown = sorted(set(chosen).difference(ALERTABLE))
    if unknown:
        raise UsageProblem(
            f"{_named(ctx, param)}: {', '.join(unknown)} is not a run status to alert on; "
            f"choose from {', '.join(ALERTABLE)}"
        )
    return tuple(dict.fromkeys(chosen)) or None


def _ui_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from spine.framework.alerts.transport import url_problem

    if not value:
        return None
    problem = url_problem(value)
    if problem is not None:
        raise UsageProblem(f"{_named(ctx, param)}: {problem}")
    return value


def _named(ctx: click.Context, param: click.Parameter) -> str:
    """The option as the user gave it: its flag, or the environment variable it came from."""
    flag = param.opts[0]
    if ctx.get_parameter_source(param.name or "") is click.core.ParameterSource.ENVIRONMENT:
        return f"{param.envvar} (the default of {flag})"
    return flag


def alert_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options of ``run`` and ``worker`` that turn on alerts when runs end."""
    for option in reversed(
        [
            click.option(
                "--alert-on",
                multiple=True,
                metavar="STATUS",
                envvar="SPINE_ALERT_ON",
                callback=_alert_on,
                help="Send an alert when a run ends FAILED, PARTIAL, CANCELLED or COMPLETED; "
                "repeat it or give a comma list (default: $SPINE_ALERT_ON).",
            ),
            click.option(
                "--alerts",
                "alerts_file",
                metavar="FILE",
                help="An alert channel config file (YAML or JSON), instead of "
                "$SPINE_ALERTS_CONFIG; SPINE_* channel variables still apply.",
            ),
            click.option(
                "--ui-url",
                metavar="URL",
                envvar="SPINE_UI_URL",
                callback=_ui_url,
                help="The web UI that alerts link runs to (default: $SPINE_UI_URL).",
            ),
        ]
    ):
        command = option(command)
    return command


def runner_alerts(
    alert_on: tuple[str, ...] | None, alerts_file: str | None, ui_url: str | None
) -> dict[str, Any]:
    """Register the alert channels of ``--alerts`` and the environment (as
    ``configure_alerts()`` reads it) on the shared registry, and return the runner's
    alert options. Nothing is read when neither configures a channel."""
    from spine.core.errors import AlertConfigError
    from spine.framework.alerts.config import (
        CONFIG_VARIABLE,
        configure_alerts,
        environment_configures_alerts,
    )

    environ = dict(os.environ)
    if alerts_file is not None:
        environ[CONFIG_VARIABLE] = alerts_file
    if alerts_file is not None or environment_configures_alerts(environ):
        try:
            configure_alerts(environ=environ)
        except AlertConfigError as exc:
            where = "--alerts: " if alerts_file is not None else ""
            raise UsageProblem(f"{where}{exc}") from exc
    return {"alert_on": alert_on, "ui_url": ui_url}


def warn_if_no_channel(alert_on: tuple[str, ...] | None) -> None:
    from spine.framework.alerts import alert_registry

    if alert_on and not alert_registry.list_channels():
        click.echo(
            "note: --alert-on is set but no alert channel is configured (--alerts, "
            "SPINE_ALERTS_CONFIG or a SPINE_* channel variable); alerts only go to the log",
            err=True,
        )
