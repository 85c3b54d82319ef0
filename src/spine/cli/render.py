"""How runs, steps and schedules look in a terminal (Rich tables) and in ``--json`` output."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click
from rich.markup import escape

from spine.cli.tables import Column, fitted_table
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


def duration(seconds: float | None) -> str:
    """A duration as people say it: ``0.4 ms``, ``35 ms``, ``9.9 s``, ``2 min 5 s``,
    ``3 h 10 min``, ``2 d 4 h``."""
    if seconds is None:
        return ""
    if seconds < 0.00995:
        return f"{seconds * 1000:.1f} ms"
    if seconds < 0.9995:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 59.95:
        return f"{seconds:.1f} s"
    if seconds < 3599.5:
        minutes, rest = divmod(round(seconds), 60)
        return f"{minutes} min {rest} s"
    if seconds < 86370:
        hours, minutes = divmod(round(seconds / 60), 60)
        return f"{hours} h {minutes} min"
    days, hours = divmod(round(seconds / 3600), 24)
    return f"{days} d {hours} h"


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``1 run``, ``2 runs`` (``nouns``: the plural when it is not ``noun`` + s)."""
    return f"{count} {noun if count == 1 else nouns or noun + 's'}"


def trigger(run: RunRecord) -> str:
    """What started a run: ``manual``, ``api``, or ``schedule NAME``."""
    if run.schedule_id is not None:
        return f"{run.triggered_by} {run.schedule_id}"
    return run.triggered_by


def runs_table(runs: Sequence[RunRecord]) -> Any:
    columns = [
        Column("run id"), Column("workflow", cut_to=12), Column("status"),
        Column("started (UTC)", drop=3), Column("duration", drop=2),
        Column("steps", cut_to=8, drop=4), Column("trigger", cut_to=8, drop=5),
    ]  # fmt: skip
    rows = []
    for run in runs:
        steps = f"{run.completed_steps} ok"
        if run.failed_steps:
            steps += f", {run.failed_steps} failed"
        rows.append([
            run.run_id, escape(run.workflow_name), styled(run.status), utc_text(run.started_at),
            duration(run_duration(run)), steps, escape(trigger(run)),
        ])  # fmt: skip
    return fitted_table(plural(len(runs), "run"), columns, rows)


def run_detail(detail: RunDetail) -> list[Any]:
    from rich.text import Text

    stored, live = detail.stored, detail.live
    run = stored.run
    lines = [
        f"[bold]{escape(run.workflow_name)}[/bold] v{run.workflow_version}  run {run.run_id}",
        f"status {styled(run.status)}  started {when(run.started_at)}  "
        f"{duration(run_duration(run))}",
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
    columns = [
        Column("#"), Column("step", cut_to=10), Column("type", drop=5), Column("try", drop=4),
        Column("status"), Column("duration", drop=3), Column("output / error", cut_to=12),
        Column("quality", drop=6),
    ]  # fmt: skip
    rows = []
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
        rows.append([
            str(step.step_order), escape(step.step_name), step.step_type, str(step.attempt),
            styled(status), duration(step.completed_at - step.started_at), escape(said), verdict,
        ])  # fmt: skip
    if live is not None:
        progress = _items(live.items).strip(" ,")
        rows.append([str(live.step_order), escape(live.step_name), "", str(live.attempt),
                     styled(StepStatus.RUNNING), "", progress, ""])  # fmt: skip
    return [header, fitted_table(None, columns, rows)]


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
    columns = [
        Column("name"), Column("workflow", cut_to=12), Column("cron"),
        Column("time zone", cut_to=8, drop=5), Column("next fire (local)", drop=3),
        Column("next fire (UTC)", drop=6), Column("paused", drop=4),
        Column("last fired (UTC)", drop=7), Column("misfire", drop=8),
        Column("max instances", cut_to=4, drop=9),
    ]  # fmt: skip
    rows = [
        [
            escape(schedule.name),
            escape(schedule.workflow),
            escape(schedule.cron),
            schedule.timezone,
            local_text(schedule.next_fire_at, schedule.timezone),
            utc_text(schedule.next_fire_at),
            "yes" if schedule.paused else "no",
            utc_text(schedule.last_fired_at),
            schedule.misfire,
            str(schedule.max_instances),
        ]
        for schedule in schedules
    ]
    return fitted_table(plural(len(schedules), "schedule"), columns, rows)


def fires_table(name: str, fires: Sequence[ScheduleFire]) -> Any:
    columns = [
        Column("due (UTC)"), Column("outcome"), Column("run id", drop=2),
        Column("recorded (UTC)", drop=3), Column("detail", cut_to=10, drop=4),
    ]  # fmt: skip
    style = {"fired": "green", "late": "yellow", "missed": "red", "skipped": "dim"}
    rows = []
    for fire in fires:
        outcome = str(fire.outcome)
        rows.append([
            utc_text(fire.due_at),
            f"[{style[outcome]}]{outcome}[/{style[outcome]}]",
            fire.run_id or "-",
            utc_text(fire.recorded_at),
            escape(fire.detail or ""),
        ])  # fmt: skip
    return fitted_table(f"schedule {escape(name)}: {plural(len(fires), 'due time')}", columns, rows)
