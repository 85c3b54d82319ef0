"""Commands that act on a stored run: ``spine resume``, ``spine fork``, ``spine cancel``
and ``spine signal``."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from spine.cli.context import make_console, open_history, open_runner, whole_run_id
from spine.cli.errors import EXIT_FAILED, UsageProblem
from spine.cli.foreground import finish, progress
from spine.cli.values import TARGETS, given_params, param_options
from spine.core.status import WorkflowStatus

if TYPE_CHECKING:
    from spine.orchestration import Workflow, WorkflowRunner
    from spine.store import SqlStore


def _stored_run_options(queue: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--app``, ``--workflow`` and ``--force`` (where the workflow of a stored run is
    found), ``--queue`` (doing ``queue`` instead) and ``--json``: of ``spine resume``
    and ``spine fork``."""

    def add(command: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed([
            click.option("--app", "apps", multiple=True, metavar="MODULE",
                         help="Import MODULE first (it registers workflows)."),
            click.option("--workflow", "target", metavar="TARGET",
                         help=f"Load the workflow from {TARGETS}."),
            click.option("--force", is_flag=True,
                         help="Go on even if the workflow's steps changed."),
            click.option("--queue", "queued", is_flag=True, help=f"{queue} instead."),
            click.option("--json", "as_json", is_flag=True),
        ]):  # fmt: skip
            command = option(command)
        return command

    return add


def _history(runner: WorkflowRunner) -> SqlStore:
    from spine.store import SqlStore

    assert isinstance(runner.store, SqlStore)  # (the spine command's runners keep one)
    return runner.store


def _stored_run(
    runner: WorkflowRunner, given: str, target: str | None
) -> tuple[str, Workflow | None]:
    """The id of the stored run ``given`` names (or starts), and its workflow: from
    ``target``; else the registered one (``None``); else from where `spine run` loaded
    it. Raises ``UsageProblem`` saying how to point at it when it is none of these."""
    from spine.cli.loading import load_workflow
    from spine.core.errors import SpineError
    from spine.orchestration.registry import default_workflow_registry

    store = _history(runner)
    run_id = whole_run_id(store, given)
    run = store.load_run(run_id).run
    if target:
        return run_id, load_workflow(target)[0]
    if run.workflow_name in default_workflow_registry:
        return run_id, None
    known = ", ".join(default_workflow_registry.names()) or "none"
    unknown = (
        f"run {run_id}: its workflow {run.workflow_name!r} is not registered here "
        f"(registered: {known})"
    )
    point = (
        "give --app MODULE (a module or file.py that registers it) or --workflow TARGET "
        f"({TARGETS})"
    )
    if not run.source:
        raise UsageProblem(f"{unknown}, and the run does not say where it was loaded from; {point}")
    try:
        return run_id, load_workflow(run.source)[0]
    except (UsageProblem, SpineError) as exc:
        raise UsageProblem(
            f"{unknown}, and where `spine run` loaded it, {run.source}, fails ({exc}); {point}"
        ) from exc


@click.command()
@click.argument("run_id")
@_stored_run_options("Hand the failed or cancelled run to the workers (spine worker, spine ui)")
@click.pass_context
def resume(
    ctx: click.Context,
    run_id: str,
    apps: tuple[str, ...],
    target: str | None,
    force: bool,
    queued: bool,
    as_json: bool,
) -> None:
    """Continue the stored run RUN_ID from where it stopped."""
    from spine.cli.loading import import_apps

    if queued:
        _requeue(ctx, run_id)
        return
    from spine.cli.foreground import EXIT_INTERRUPTED, run_in_foreground

    import_apps(apps)
    console = make_console()
    with open_runner(ctx, on_step=None if as_json else progress(console)) as runner:
        run_id, workflow = _stored_run(runner, run_id, target)
        result, interrupted = run_in_foreground(
            runner, run_id, lambda: runner.resume(run_id, workflow, force=force)
        )
        finish(result, as_json, console)
    if interrupted and result.status == WorkflowStatus.CANCELLED:
        sys.exit(EXIT_INTERRUPTED)


@click.command()
@click.argument("run_id")
@click.option(
    "--from",
    "from_step",
    required=True,
    metavar="STEP",
    help="The first step to execute; the run's recorded steps before it are reused.",
)
@param_options
@_stored_run_options("Store the new run PENDING for the workers (spine worker, spine ui)")
@click.pass_context
def fork(
    ctx: click.Context,
    run_id: str,
    from_step: str,
    params: tuple[str, ...],
    params_file: str | None,
    apps: tuple[str, ...],
    target: str | None,
    force: bool,
    queued: bool,
    as_json: bool,
) -> None:
    """Start a new run from the stored run RUN_ID's step STEP: the steps before it are
    not run again (their recorded outputs are reused), the rest run with the params
    given over RUN_ID's. RUN_ID is left as it is."""
    from spine.cli.loading import import_apps
    from spine.cli.render import print_json

    values = given_params(params, params_file)
    import_apps(apps)
    console = make_console()
    on_step = None if as_json or queued else progress(console)
    with open_runner(ctx, on_step=on_step) as runner:
        run_id, workflow = _stored_run(runner, run_id, target)
        if not queued:
            result = runner.fork(run_id, from_step, values, workflow=workflow, force=force)
            finish(result, as_json, console)
            return
        fork_id = runner.submit_fork(run_id, from_step, values, workflow=workflow, force=force)
    if as_json:
        print_json({"run_id": fork_id, "status": WorkflowStatus.PENDING})
    else:
        click.echo(f"run {fork_id}: {WorkflowStatus.PENDING}; a worker executes it from step "
                   f"{from_step}")  # fmt: skip


def _requeue(ctx: click.Context, run_id: str) -> None:
    from spine.commands import resume_run

    with open_history(ctx) as store:
        run_id = whole_run_id(store, run_id)
        done = resume_run(store, run_id)
    if not done.queued:
        click.echo(f"not resumed: {done.reason}", err=True)
        sys.exit(EXIT_FAILED)
    click.echo(f"run {run_id}: {done.status}; a worker continues it from where it stopped")


@click.command()
@click.argument("run_id")
@click.pass_context
def cancel(ctx: click.Context, run_id: str) -> None:
    """Cancel RUN_ID: at once if nothing executes it, else at its next step boundary.
    Exits 1 if the run had already ended, 2 if it is a map item's run (cancel its
    map's run)."""
    from spine.commands import CancelOutcome, cancel_run

    with open_history(ctx) as store:
        run_id = whole_run_id(store, run_id)
        done = cancel_run(store, run_id)
    if done.outcome is CancelOutcome.CANCELLED:
        click.echo(f"run {run_id}: {WorkflowStatus.CANCELLED} now (nothing was executing it)")
    elif done.outcome is CancelOutcome.REQUESTED:
        click.echo(
            f"run {run_id}: it is executing; it stops as {WorkflowStatus.CANCELLED} at its "
            "next step boundary ("
            + (f"step {done.in_flight} in flight finishes, " if done.in_flight else "")
            + "no further step starts)"
        )
    else:
        click.echo(f"run {run_id} had already ended ({done.ended_as}); nothing to cancel")
        sys.exit(EXIT_FAILED)


@click.command("signal")
@click.argument("run_id")
@click.argument("name")
@param_options
@click.pass_context
def signal_(
    ctx: click.Context, run_id: str, name: str, params: tuple[str, ...], params_file: str | None
) -> None:
    """Send the signal NAME to RUN_ID; its -p KEY=VALUE pairs (or --params-file) are the
    payload, the output of the step awaiting it. Kept if the run has not reached that
    step yet; refused (exit 1) if the run has ended."""
    from spine.commands import send_signal
    from spine.core.errors import RunEndedError

    payload = given_params(params, params_file)
    with open_history(ctx) as store:
        run_id = whole_run_id(store, run_id)
        try:
            send_signal(store, run_id, name, payload)
        except RunEndedError as exc:
            click.echo(str(exc), err=True)
            sys.exit(EXIT_FAILED)
    click.echo(f"run {run_id}: signal {name!r} sent")
