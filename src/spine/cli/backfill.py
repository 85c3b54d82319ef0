"""``spine backfill`` (one run per partition key) and ``spine partitions`` (each
partition's latest run)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from spine.cli.context import make_console, open_history, open_runner
from spine.cli.errors import UsageProblem
from spine.cli.values import given_params, param_options
from spine.core.records import PartitionRun, partition_key

if TYPE_CHECKING:
    from spine.orchestration import Workflow


def _target(target: str, apps: tuple[str, ...]) -> Workflow:
    """The workflow TARGET names: as `spine run` takes it, or a registered name."""
    from spine.cli.loading import import_apps, load_workflow
    from spine.orchestration.registry import default_workflow_registry

    import_apps(apps)
    if ":" in target or target.endswith((".yaml", ".yml", ".py")):
        return load_workflow(target)[0]
    if target in default_workflow_registry:
        return default_workflow_registry.get(target)
    raise UsageProblem(
        f"{target!r} is neither FILE.py[:NAME], module:attr, a YAML file nor a registered "
        "workflow (register it in a module given with --app)"
    )


def _spec(pairs: tuple[str, ...]) -> dict[str, str]:
    spec: dict[str, str] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip() or not text.strip():
            raise UsageProblem(
                f"--partition {pair!r}: expected KEY=RANGE (2026-01-01..2026-01-31, 1..10, a,b)"
            )
        spec[key.strip()] = text
    return spec


@click.command()
@click.argument("target")
@click.option(
    "--partition",
    "partitions",
    multiple=True,
    required=True,
    metavar="KEY=RANGE",
    help="Dates a..b, integers a..b or a comma list; several keys: every combination.",
)
@click.option("--concurrency", default=1, show_default=True, type=click.IntRange(1, 256))
@click.option("--force", is_flag=True, help="Run partitions that completed or are under way too.")
@click.option(
    "--queue", "queued", is_flag=True, help="Submit the runs for workers, return at once."
)
@click.option("--app", "apps", multiple=True, metavar="MODULE", help="Import MODULE first.")
@param_options
@click.pass_context
def backfill(
    ctx: click.Context,
    target: str,
    partitions: tuple[str, ...],
    concurrency: int,
    force: bool,
    queued: bool,
    apps: tuple[str, ...],
    params: tuple[str, ...],
    params_file: str | None,
) -> None:
    """Run TARGET once per partition key, skipping those whose latest run completed or is
    under way: repeated, it runs only what failed or never ran. Exit 1 if a run failed."""
    from rich.progress import Progress

    from spine.cli.render import plural
    from spine.orchestration.backfill import expand

    workflow = _target(target, apps)
    keys = expand(_spec(partitions))
    console = make_console()
    with open_runner(ctx) as runner, Progress(console=console, transient=True) as progress:
        bar = progress.add_task(f"{workflow.name}", total=len(keys))
        done = runner.backfill(
            workflow, keys, given_params(params, params_file), concurrency=concurrency,
            force=force, queue=queued, on_run=lambda result: progress.advance(bar),
        )  # fmt: skip
    skipped = ", ".join(f"{p.status.lower()} {len(group)}" for p, group in _by_status(done.skipped))
    console.print(
        f"{workflow.name}: {plural(len(keys), 'partition')}; "
        + (f"{len(done.queued)} queued" if queued else f"{len(done.results)} ran, "
           f"{len(done.failed)} failed")
        + f"; {len(done.skipped)} skipped" + (f" ({skipped})" if skipped else "")
    )  # fmt: skip
    for result in done.failed:
        console.print(f"  {result.status} {dict(result.context.partition)} run {result.run_id}: "
                      f"{result.error}")  # fmt: skip
    if done.failed:
        sys.exit(1)


def _by_status(runs: list[PartitionRun]) -> list[tuple[PartitionRun, list[PartitionRun]]]:
    groups: dict[str, list[PartitionRun]] = {}
    for run in runs:
        groups.setdefault(run.status, []).append(run)
    return [(group[0], group) for group in groups.values()]


@click.command()
@click.argument("workflow")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def partitions(ctx: click.Context, workflow: str, as_json: bool) -> None:
    """Each partition of WORKFLOW (a name) with its latest run's status."""
    from rich.markup import escape

    from spine.cli.render import plural, print_json, styled, utc_text
    from spine.cli.tables import Column, fitted_table
    from spine.commands import partition_to_dict

    with open_history(ctx) as store:
        found = store.latest_partitions(workflow)
    if as_json:
        print_json([partition_to_dict(p) for p in found])
        return
    columns = [Column("partition", cut_to=12), Column("latest status"), Column("run id"),
               Column("started (UTC)", drop=1)]  # fmt: skip
    rows = [[escape(partition_key(run.partition)), styled(run.status), run.run_id,
             utc_text(run.started_at)] for run in found]  # fmt: skip
    title = f"{escape(workflow)}: {plural(len(found), 'partition')}"
    make_console().print(fitted_table(title, columns, rows))
