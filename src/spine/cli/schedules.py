"""``spine schedule``: add, list, pause, resume and delete schedules, and read what became
of their due times; and the thread with which ``spine worker`` fires them."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from spine.cli.context import database_url, make_console, open_history
from spine.cli.errors import UsageProblem
from spine.cli.values import params_options

if TYPE_CHECKING:
    from spine.orchestration import WorkflowRunner
    from spine.orchestration.schedules import Schedule
    from spine.store import SqlScheduleStore

FIRING_OFFSET_SECONDS = 0.005
"""A worker looks for due schedules this long after each whole second: cron times fall on
whole seconds, so a due time fires within milliseconds (every worker looks at once, and
the compare-and-swap of the firing picks one)."""


@contextmanager
def _schedules(ctx: click.Context) -> Iterator[SqlScheduleStore]:
    from spine.store import open_schedules

    with open_schedules(database_url(ctx)) as store:
        yield store


@click.group()
def schedule() -> None:
    """Start runs of registered workflows at the times of cron expressions.

    Running workers (spine worker) fire them: each due time starts one run.
    """


@schedule.command()
@click.argument("name")
@click.option("--workflow", required=True, metavar="NAME", help="The registered workflow to run.")
@click.option(
    "--cron", required=True, metavar="EXPR", help="e.g. '0 6 * * MON'; a 6th field is seconds."
)
@click.option(
    "--tz",
    "timezone",
    metavar="ZONE",
    help="IANA time zone the cron expression is read in, e.g. Europe/London (default UTC).",
)
@params_options
@click.option(
    "--misfire",
    metavar="run_once|skip",
    help="Times missed while no worker ran: one late run for all (default), or none.",
)
@click.option(
    "--misfire-grace",
    "grace",
    metavar="SECONDS",
    type=float,
    help="How late a due time may be found and still fire as on time (default 60).",
)
@click.option(
    "--max-instances",
    metavar="N",
    type=int,
    help="Skip a due time while N runs of the schedule are pending or running (default 1).",
)
@click.option("--paused", is_flag=True, help="Add it paused (spine schedule resume starts it).")
@click.option(
    "--app",
    "apps",
    multiple=True,
    metavar="MODULE",
    help="Import MODULE first (it registers workflows), so that --workflow is checked.",
)
@click.pass_context
def add(
    ctx: click.Context,
    name: str,
    workflow: str,
    cron: str,
    timezone: str | None,
    params: tuple[str, ...],
    params_file: str | None,
    partition: tuple[str, ...],
    misfire: str | None,
    grace: float | None,
    max_instances: int | None,
    paused: bool,
    apps: tuple[str, ...],
) -> None:
    """Add the schedule NAME."""
    from spine.cli.values import parse_pairs, read_params_file
    from spine.orchestration.schedules import Schedule

    known = _registered(name, workflow, apps)
    values = read_params_file(params_file) if params_file else {}
    values.update(parse_pairs(params, "-p"))
    # Options left out take the defaults of Schedule.
    given: dict[str, Any] = {
        "timezone": timezone,
        "misfire": misfire,
        "misfire_grace_seconds": grace,
        "max_instances": max_instances,
    }
    definition = Schedule(
        name=name,
        workflow=workflow,
        cron=cron,
        params=values,
        partition=parse_pairs(partition, "--partition"),
        paused=paused,
        **{key: value for key, value in given.items() if value is not None},
    )
    with _schedules(ctx) as store:
        added = store.add(definition)
    click.echo(
        f"schedule {added.name}: {added.workflow} at {added.cron!r} ({added.timezone}); "
        f"{_next_fire(added)}"
    )
    if not known:
        # After adding, so that a refused schedule's error stays the one line on stderr.
        click.echo(
            f"warning: schedule {added.name}: workflow {added.workflow!r} could not be "
            "checked (give --app MODULE); workers that do not know it leave it unfired",
            err=True,
        )


def _registered(name: str, workflow: str, apps: tuple[str, ...]) -> list[str]:
    """The workflows registered once ``apps`` are imported; refuses ``workflow`` if it is
    not one of them while any are known."""
    from spine.cli.loading import import_apps
    from spine.orchestration.registry import default_workflow_registry

    import_apps(apps)
    known = default_workflow_registry.names()
    # A typo would be stored and never fire (workers leave a schedule of a workflow
    # they do not know alone), so the name is checked whenever workflows are known.
    if workflow not in known and (apps or known):
        where = f"by --app {', '.join(apps)}" if apps else "here"
        raise UsageProblem(
            f"schedule {name!r}: workflow {workflow!r} is not registered {where}; "
            f"registered: {', '.join(known) or 'none'}"
        )
    return known


def _next_fire(schedule: Schedule) -> str:
    from spine.cli.render import local_text, utc_text

    if schedule.next_fire_at is None:
        return "paused"
    local = local_text(schedule.next_fire_at, schedule.timezone)
    return f"next fire {local} ({utc_text(schedule.next_fire_at)} UTC)"


@schedule.command(name="list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def list_(ctx: click.Context, as_json: bool) -> None:
    """List the schedules, by name."""
    from spine.cli.render import print_json, schedules_table
    from spine.commands import list_schedules

    with open_history(ctx) as store:
        found = list_schedules(store)
    if as_json:
        print_json([s.to_dict() for s in found])
    else:
        make_console().print(schedules_table(found))


@schedule.command()
@click.argument("name")
@click.pass_context
def pause(ctx: click.Context, name: str) -> None:
    """Stop firing NAME until it is resumed."""
    with _schedules(ctx) as store:
        store.pause(name)
    click.echo(f"schedule {name}: paused")


@schedule.command()
@click.argument("name")
@click.pass_context
def resume(ctx: click.Context, name: str) -> None:
    """Fire NAME again, from its next time (times it was paused through do not fire)."""
    with _schedules(ctx) as store:
        resumed = store.resume(name)
    click.echo(f"schedule {name}: {_next_fire(resumed)}")


@schedule.command()
@click.argument("name")
@click.pass_context
def delete(ctx: click.Context, name: str) -> None:
    """Delete NAME (the runs it started stay)."""
    with _schedules(ctx) as store:
        store.delete(name)
    click.echo(f"schedule {name}: deleted")


@schedule.command()
@click.argument("name")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def history(ctx: click.Context, name: str, limit: int, as_json: bool) -> None:
    """What became of NAME's latest due times: the run each started, or why none."""
    from spine.cli.render import fires_table, print_json
    from spine.commands import show_schedule

    with open_history(ctx) as store:
        fires = show_schedule(store, name, limit).fires
    if as_json:
        print_json([f.to_dict() for f in fires])
    else:
        make_console().print(fires_table(name, fires))


@contextmanager
def firing_schedules(runner: WorkflowRunner, stop: threading.Event) -> Iterator[None]:
    """Fire due schedules of the workflows ``runner`` knows, from a thread of its own,
    until ``stop`` is set or the block ends.

    A thread of its own, so that schedules fire on time while every worker thread is
    busy executing runs.
    """
    from spine.core.outage import Outage
    from spine.core.records import when
    from spine.orchestration.schedules import Scheduler
    from spine.store import SqlScheduleStore, SqlStore

    store = runner.store
    if not isinstance(store, SqlStore):
        raise TypeError("a worker fires schedules kept in the SQL history of its runner")
    scheduler = Scheduler(runner, SqlScheduleStore(store))
    done = threading.Event()
    outage = Outage(lambda line: click.echo(f"worker: schedules: {line}", err=True))

    def fire() -> None:
        while not (stop.is_set() or done.is_set()):
            try:
                fires = scheduler.fire_due()
            except Exception as exc:  # a database outage must not end the firing
                outage.failed(exc)
                fires = []
            else:
                outage.worked()
            for fire in fires:
                click.echo(f"schedule {fire.schedule}: {fire.outcome} {when(fire.due_at)} "
                           f"{fire.run_id or fire.detail}")  # fmt: skip
            done.wait(1.0 - time.time() % 1.0 + FIRING_OFFSET_SECONDS)

    thread = threading.Thread(target=fire, name="spine-schedules", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
