"""How runs and steps look in a terminal (Rich tables) and in ``--json`` output."""

from __future__ import annotations

import json
from typing import Any

import click

from spine.orchestration.history import RunRecord, StoredRun, when


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


STATUS_STYLE = {
    "COMPLETED": "green",
    "FAILED": "red",
    "PARTIAL": "yellow",
    "RUNNING": "cyan",
    "WAITING": "magenta",
    "PENDING": "blue",
    "SKIPPED": "dim",
    "CANCELLED": "dim",
}


def styled(status: str) -> str:
    style = STATUS_STYLE.get(status, "")
    return f"[{style}]{status}[/{style}]" if style else status


def short(value: object, width: int = 60) -> str:
    text = "" if value is None else (value if isinstance(value, str) else json.dumps(value))
    return text if len(text) <= width else text[: width - 1] + "…"


def ms(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return f"{seconds * 1000:.1f} ms" if seconds < 10 else f"{seconds:.1f} s"


def runs_table(runs: list[RunRecord]) -> Any:
    from rich.table import Table

    table = Table(title=f"{len(runs)} runs", title_justify="left")
    table.add_column("run id", no_wrap=True)
    for column in ("workflow", "status", "started (UTC)", "duration", "steps"):
        table.add_column(column)
    for run in runs:
        duration = None if run.completed_at is None else run.completed_at - run.started_at
        steps = f"{run.completed_steps} ok"
        if run.failed_steps:
            steps += f", {run.failed_steps} failed"
        started = (when(run.started_at) or "")[:19].replace("T", " ")
        table.add_row(
            run.run_id, run.workflow_name, styled(run.status), started, ms(duration), steps
        )
    return table


def run_detail(stored: StoredRun) -> list[Any]:
    from rich.table import Table
    from rich.text import Text

    run = stored.run
    duration = None if run.completed_at is None else run.completed_at - run.started_at
    header = Text.from_markup(
        f"[bold]{run.workflow_name}[/bold] v{run.workflow_version}  run {run.run_id}\n"
        f"status {styled(run.status)}  started {when(run.started_at)}  {ms(duration)}\n"
        f"params {short(dict(run.params), 100)}"
        + (f"\nstopped at [bold]{run.error_step}[/bold]: {run.error}" if run.error_step else "")
    )
    table = Table()
    for column in ("#", "step", "type", "try", "status", "duration", "output / error", "quality"):
        table.add_column(column)
    for step in stored.steps:
        quality = step.quality
        verdict = ""
        if quality is not None:
            verdict = (
                f"{'passed' if quality.get('passed') else 'FAILED'} "
                f"{quality.get('valid_count')}/{quality.get('record_count')}"
            )
        detail = step.error if step.error else short(step.output)
        status = "RETRIED" if step.will_retry else step.status
        table.add_row(
            str(step.step_order), step.step_name, step.step_type, str(step.attempt),
            styled(status), ms(step.completed_at - step.started_at), detail, verdict,
        )  # fmt: skip
    return [header, table]
