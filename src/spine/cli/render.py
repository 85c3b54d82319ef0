"""How runs, steps and schedules look in a terminal (Rich tables) and in ``--json`` output."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

from spine.commands import run_duration
from spine.core.records import RunRecord, when
from spine.core.status import StepStatus, WorkflowStatus

if TYPE_CHECKING:
    from spine.commands import RunDetail
    from spine.core.schedules import Schedule, ScheduleFire


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


STATUS_STYLE: dict[str, str] = {
    WorkflowStatus.COMPLETED: "green",
    WorkflowStatus.FAILED: "red",
    WorkflowStatus.PARTIAL: "yellow",
    WorkflowStatus.RUNNING: "cyan",
    StepStatus.RUNNING: "cyan",
    WorkflowStatus.WAITING: "magenta",
    WorkflowStatus.PENDING: "blue",
    StepStatus.SKIPPED: "dim",
    WorkflowStatus.CANCELLED: "dim",
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


def trigger(run: RunRecord) -> str:
    """What started a run: ``manual``, ``api``, or ``schedule NAME``."""
    if run.schedule_id is not None:
        return f"{run.triggered_by} {run.schedule_id}"
    return run.triggered_by


def runs_table(runs: Sequence[RunRecord]) -> Any:
    from rich.table import Table

    table = Table(title=f"{len(runs)} runs", title_justify="left")
    table.add_column("run id", no_wrap=True)
    for column in ("workflow", "status", "started (UTC)", "duration", "steps", "trigger"):
        table.add_column(column)
    for run in runs:
        duration = run_duration(run)
        steps = f"{run.completed_steps} ok"
        if run.failed_steps:
            steps += f", {run.failed_steps} failed"
        table.add_row(
            run.run_id, run.workflow_name, styled(run.status), utc_text(run.started_at),
            ms(duration), steps, trigger(run),
        )  # fmt: skip
    return table


def run_detail(detail: RunDetail) -> list[Any]:
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    stored, live = detail.stored, detail.live
    run = stored.run
    lines = [
        f"[bold]{escape(run.workflow_name)}[/bold] v{run.workflow_version}  run {run.run_id}",
        f"status {styled(run.status)}  started {when(run.started_at)}  {ms(run_duration(run))}",
        f"params {escape(short(dict(run.params), 100))}  triggered by {escape(trigger(run))}",
    ]
    if run.forked_from is not None:
        lines.append(f"forked from run {run.forked_from}")
    if run.owner is not None and detail.owner_alive is not None:
        state = "alive" if detail.owner_alive else "[red]not answering[/red] (recoverable)"
        lines.append(f"owner process {run.owner.pid} on {escape(run.owner.host)}: {state}")
    if run.status == WorkflowStatus.WAITING and run.wake_at is not None:
        awaited = run.awaiting_signal
        what = "" if awaited is None else f" for signal [bold]{escape(awaited)}[/bold]"
        lines.append(f"waiting{what} until {when(run.wake_at)}")
    for sent in detail.signals:
        taken = f"consumed {when(sent.consumed_at)}" if sent.consumed_at else "kept, not consumed"
        lines.append(f"signal [bold]{escape(sent.signal_name)}[/bold] sent {when(sent.sent_at)}, "
                     f"{taken}: {escape(short(sent.payload, 100))}")  # fmt: skip
    if live is not None:
        since = f" since {when(live.started_at)}" if live.started_at is not None else ""
        lines.append(f"executing [bold]{escape(live.step_name)}[/bold] (attempt "
                     f"{live.attempt}){since}{_items(live.items)}")  # fmt: skip
    if run.error_step:
        lines.append(f"stopped at [bold]{escape(run.error_step)}[/bold]: {escape(run.error or '')}")
    header = Text.from_markup("\n".join(lines))
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
        said = step.error if step.error else short(step.output)
        status = "RETRIED" if step.will_retry else step.status
        table.add_row(
            str(step.step_order), step.step_name, step.step_type, str(step.attempt),
            styled(status), ms(step.completed_at - step.started_at), said, verdict,
        )  # fmt: skip
    if live is not None:
        progress = _items(live.items).strip(" ,")
        table.add_row(str(live.step_order), live.step_name, "", str(live.attempt),
                      styled(StepStatus.RUNNING), "", progress, "")  # fmt: skip
    return [header, table]


def _items(items: dict[str, int | None] | None) -> str:
    """A map step's progress, as a clause (empty for other steps)."""
    if items is None:
        return ""
    total = "?" if items["total"] is None else items["total"]
    return (f", items: {items['done']} done, {items['failed']} failed, "
            f"{items['in_flight']} in flight of {total}")  # fmt: skip


def utc_text(timestamp: float | None) -> str:
    return (when(timestamp) or "-")[:19].replace("T", " ")


def local_text(timestamp: float | None, zone: str) -> str:
    if timestamp is None:
        return "-"
    from datetime import datetime
    from zoneinfo import ZoneInfo

    return datetime.fromtimestamp(timestamp, ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M:%S %Z")


def schedules_table(schedules: list[Schedule]) -> Any:
    from rich.table import Table

    table = Table(title=f"{len(schedules)} schedules", title_justify="left")
    table.add_column("name", no_wrap=True)
    for column in ("workflow", "cron", "time zone", "next fire (local)", "next fire (UTC)"):
        table.add_column(column)
    for column in ("paused", "last fired (UTC)", "misfire", "max instances"):
        table.add_column(column)
    for schedule in schedules:
        table.add_row(
            schedule.name,
            schedule.workflow,
            schedule.cron,
            schedule.timezone,
            local_text(schedule.next_fire_at, schedule.timezone),
            utc_text(schedule.next_fire_at),
            "yes" if schedule.paused else "no",
            utc_text(schedule.last_fired_at),
            schedule.misfire,
            str(schedule.max_instances),
        )
    return table


def fires_table(name: str, fires: Sequence[ScheduleFire]) -> Any:
    from rich.table import Table

    table = Table(title=f"schedule {name}: {len(fires)} due times", title_justify="left")
    for column in ("due (UTC)", "outcome", "run id", "recorded (UTC)", "detail"):
        table.add_column(column)
    style = {"fired": "green", "late": "yellow", "missed": "red", "skipped": "dim"}
    for fire in fires:
        outcome = str(fire.outcome)
        table.add_row(
            utc_text(fire.due_at),
            f"[{style[outcome]}]{outcome}[/{style[outcome]}]",
            fire.run_id or "-",
            utc_text(fire.recorded_at),
            fire.detail or "",
        )
    return table
