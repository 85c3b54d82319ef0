"""``spine``: run workflows, and read, resume and recover their history.

Heavy imports (the engine, SQLAlchemy, Rich) happen inside the commands that need
them, so ``spine --help`` answers at once.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

from spine.cli.alerting import alert_options, runner_alerts, warn_if_no_channel
from spine.cli.backfill import backfill, partitions
from spine.cli.context import (
    DB_HELP,
    accept_db_anywhere,
    database_url,
    make_console,
    open_history,
    open_runner,
    whole_run_id,
)
from spine.cli.control import cancel, fork, resume, signal_
from spine.cli.definitions import graph, validate
from spine.cli.errors import UsageProblem
from spine.cli.executing import chosen_executor, executor_options
from spine.cli.foreground import finish, progress
from spine.cli.logs import failure_reporter, logs, verbose_option
from spine.cli.schedules import schedule
from spine.cli.serving import ui
from spine.cli.values import params_options
from spine.cli.working import POLL_SECONDS, StopSignals, working
from spine.core.status import WorkflowStatus

if TYPE_CHECKING:
    from spine.core.records import RunRecord


class SpineGroup(click.Group):
    """Turns spine's own errors (an unknown run, a database it cannot open, ...) into
    one line on stderr and exit code 2, instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        from spine.core.errors import SpineError

        try:
            return super().invoke(ctx)
        except SpineError as exc:
            raise UsageProblem(str(exc)) from exc


@click.group(cls=SpineGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--db",
    "database_url",
    envvar="SPINE_DATABASE_URL",
    metavar="URL",
    help=DB_HELP,
)
@click.version_option(package_name="spine-orchestration", prog_name="spine")
@click.pass_context
def cli(ctx: click.Context, database_url: str | None) -> None:
    """Run data-pipeline workflows durably, and inspect their history."""
    ctx.obj = {"database_url": database_url}


# -- running ----------------------------------------------------------------------


@cli.command()
@click.argument("target")
@params_options
@click.option("--dry-run", is_flag=True, help="Call no pipeline and sleep in no wait.")
@click.option("--start-from", metavar="STEP", help="The first step to execute.")
@click.option("--idempotency-key", metavar="KEY", help="One run per KEY: if a run of the "
              "workflow holds it, print that run and execute nothing.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@alert_options
@executor_options
@verbose_option
@click.pass_context
def run(
    ctx: click.Context,
    target: str,
    params: tuple[str, ...],
    params_file: str | None,
    partition: tuple[str, ...],
    dry_run: bool,
    start_from: str | None,
    idempotency_key: str | None,
    as_json: bool,
    alert_on: tuple[str, ...] | None,
    alerts_file: str | None,
    ui_url: str | None,
    executor: str,
    dask_scheduler: str | None,
    verbose: bool,
) -> None:
    """Run the workflow TARGET (flow.yaml, path/to/file.py:name or package.module:name).

    Ctrl-C stops the run at the next step boundary (it ends CANCELLED, exit 130); a
    second Ctrl-C exits at once and leaves it for `spine resume`."""
    from spine.cli.foreground import EXIT_INTERRUPTED, run_in_foreground
    from spine.cli.loading import load_workflow
    from spine.cli.render import plural
    from spine.cli.values import given_params, parse_pairs
    from spine.orchestration import WorkflowContext

    alerting = runner_alerts(alert_on, alerts_file, ui_url)
    workflow, source = load_workflow(target)
    warn_if_no_channel(alert_on)
    values = given_params(params, params_file)
    console = make_console()
    with (
        chosen_executor(executor, dask_scheduler) as chosen,
        open_runner(ctx, dry_run=dry_run, executor=chosen, **alerting) as runner,
    ):
        runner.source = source
        # With --json, stdout is the result's: failed attempts are reported on stderr.
        runner.on_step = (
            failure_reporter(verbose, runner) if as_json else progress(console, verbose)
        )
        if not as_json:
            console.print(f"[bold]{workflow.name}[/bold] ({plural(len(workflow.steps), 'step')})")
        # Its id is known before it starts, for Ctrl-C to name it.
        context = WorkflowContext.create(
            workflow.name, params=values, partition=parse_pairs(partition, "--partition")
        )
        result, interrupted = run_in_foreground(
            runner,
            context.run_id,
            lambda: runner.execute(
                workflow, context=context, start_from=start_from, idempotency_key=idempotency_key
            ),
        )
        finish(result, as_json, console)
        if interrupted and result.status == WorkflowStatus.CANCELLED:
            sys.exit(EXIT_INTERRUPTED)


@cli.command()
@click.option("--app", "apps", multiple=True, metavar="MODULE")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def recover(ctx: click.Context, apps: tuple[str, ...], as_json: bool) -> None:
    """Resume, once, every run whose process died and every waiting run that is due.

    Workflows are found as `spine resume` finds them: registered by --app, else where
    `spine run` loaded them (the source stored with each run)."""
    from spine.cli.loading import import_apps
    from spine.cli.render import plural, print_json, utc_text

    import_apps(apps)
    with open_runner(ctx, block_on_waits=False) as runner:
        assert runner.store is not None
        _register_sources(runner.store.recoverable(time.time(), runner.lease_seconds))
        results = runner.recover()
        now = time.time()
        later = sorted(
            r.wake_at
            for r in runner.store.recoverable(now, runner.lease_seconds)
            if r.status == WorkflowStatus.WAITING and r.wake_at is not None and r.wake_at > now
        )
    if as_json:
        print_json([r.to_dict() for r in results])
        return
    for result in results:
        click.echo(f"{result.run_id} {result.workflow_name}: {result.status}")
    click.echo(f"recovered {plural(len(results), 'run')}")
    if later:
        waiting = "1 waiting run is" if len(later) == 1 else f"{len(later)} waiting runs are"
        click.echo(f"{waiting} not due yet; the next wakes at {utc_text(later[0])} UTC")


def _register_sources(found: Sequence[RunRecord]) -> None:
    """Register the workflows of ``found`` that no --app registered, from where `spine
    run` loaded them; one that cannot be loaded is left to the runner's message."""
    from spine.cli.loading import load_workflow
    from spine.core.errors import SpineError
    from spine.orchestration import register_workflow
    from spine.orchestration.registry import default_workflow_registry

    for source in {r.source for r in found if r.workflow_name not in default_workflow_registry}:
        if source is None:
            continue
        try:
            register_workflow(load_workflow(source)[0])
        except (SpineError, OSError, ImportError) as exc:
            click.echo(f"cannot load {source}: {exc}", err=True)


@cli.command()
@click.option("--app", "apps", multiple=True, metavar="MODULE", required=True)
@click.option("--concurrency", default=1, show_default=True, type=click.IntRange(1, 256))
@click.option(
    "--poll",
    default=POLL_SECONDS,
    show_default=True,
    type=click.FloatRange(0.005, 3600),
    help="Seconds between looks for submitted runs nothing announced (submits wake "
    "workers at once).",
)
@alert_options
@executor_options
@verbose_option
@click.pass_context
def worker(
    ctx: click.Context,
    apps: tuple[str, ...],
    concurrency: int,
    poll: float,
    alert_on: tuple[str, ...] | None,
    alerts_file: str | None,
    ui_url: str | None,
    executor: str,
    dask_scheduler: str | None,
    verbose: bool,
) -> None:
    """Keep recovering dead and due runs, and firing due schedules, until SIGTERM or
    Ctrl-C, then exit 0."""
    from spine.cli.loading import import_apps
    from spine.cli.render import plural

    alerting = runner_alerts(alert_on, alerts_file, ui_url)
    import_apps(apps)
    warn_if_no_channel(alert_on)
    stop, signals = threading.Event(), StopSignals()
    with (
        chosen_executor(executor, dask_scheduler) as chosen,
        open_runner(ctx, block_on_waits=False, executor=chosen, **alerting) as runner,
        working(runner, stop, concurrency, poll),
    ):
        runner.on_step = failure_reporter(verbose, runner)
        threads = plural(concurrency, "thread")
        click.echo(f"worker {os.getpid()}: {threads} on {database_url(ctx)}")
        signals.wait(stop)
    click.echo("worker stopped")


# -- reading -------------------------------------------------------------------------


def _since(text: str | None) -> float | None:
    if text is None:
        return None
    from datetime import datetime

    from spine.cli.values import parse_duration

    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return time.time() - parse_duration(text, "--since")
    if parsed.tzinfo is None:
        from datetime import UTC

        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


@cli.command()
@click.option("--workflow", metavar="NAME")
@click.option("--status", type=click.Choice(list(WorkflowStatus), case_sensitive=False))
@click.option("--since", metavar="WHEN", help="An ISO date/time, or an age such as 24h or 7d.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def runs(
    ctx: click.Context,
    workflow: str | None,
    status: WorkflowStatus | None,
    since: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """List runs, newest first."""
    from spine.cli.render import print_json, runs_table
    from spine.commands import list_runs, run_to_dict

    with open_history(ctx) as store:
        found = list_runs(store, workflow=workflow, status=status, since=_since(since), limit=limit)
    if as_json:
        print_json([run_to_dict(r) for r in found])
    else:
        make_console().print(runs_table(found))


@cli.command()
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def show(ctx: click.Context, run_id: str, as_json: bool) -> None:
    """Show one run: its steps, attempts, durations, errors, outputs and quality."""
    from spine.cli.render import print_json, run_detail
    from spine.commands import show_run, signal_to_dict, stored_run_to_dict

    with open_history(ctx) as store:
        detail = show_run(store, whole_run_id(store, run_id))
    if as_json:
        shown = stored_run_to_dict(detail.stored, detail.live, detail.owner_alive)
        print_json({**shown, "signals": [signal_to_dict(s) for s in detail.signals]})
    else:
        console = make_console()
        for part in run_detail(detail):
            console.print(part)


# -- maintenance ----------------------------------------------------------------------


@cli.group()
def db() -> None:
    """The history database."""


@db.command()
@click.pass_context
def upgrade(ctx: click.Context) -> None:
    """Create the tables, or migrate them to this version's schema."""
    from spine.store.schema import SCHEMA_VERSION

    with open_history(ctx) as store:
        click.echo(f"{store.where}: schema version {SCHEMA_VERSION}")


@cli.command()
@click.option("--older-than", metavar="AGE", help="e.g. 90d, 12h.")
@click.option("--logs-older-than", metavar="AGE", help="Drop step logs sooner (runs stay).")
@click.pass_context
def prune(ctx: click.Context, older_than: str | None, logs_older_than: str | None) -> None:
    """Delete runs that ended more than AGE ago (never a pending, running or waiting one),
    with their step logs; --logs-older-than drops only the logs of step attempts that
    ended before its AGE."""
    from spine.cli.render import plural
    from spine.cli.values import parse_duration
    from spine.store import SqlDeliveryLog, SqlScheduleStore, StepLogs

    if older_than is None and logs_older_than is None:
        raise UsageProblem("give --older-than, --logs-older-than or both")
    with open_history(ctx) as store:
        if logs_older_than is not None:
            cut = time.time() - parse_duration(logs_older_than, "--logs-older-than")
            dropped = StepLogs.sharing(store).drop(cut)
            click.echo(f"dropped the logs of {plural(dropped, 'step attempt')}")
        if older_than is not None:
            cutoff = time.time() - parse_duration(older_than, "--older-than")
            removed = store.prune(cutoff)
            SqlDeliveryLog.sharing(store).prune(cutoff)
            SqlScheduleStore(store).prune(cutoff)
            click.echo(f"pruned {plural(removed, 'run')}")


cli.add_command(resume)
cli.add_command(fork)
cli.add_command(cancel)
cli.add_command(signal_)
cli.add_command(schedule)
cli.add_command(validate)
cli.add_command(graph)
cli.add_command(logs)
cli.add_command(backfill)
cli.add_command(partitions)
cli.add_command(ui)
for _command in cli.commands.values():
    accept_db_anywhere(_command)


def main() -> None:
    cli(prog_name="spine")


if __name__ == "__main__":
    main()
