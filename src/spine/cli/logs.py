"""Step logs in the terminal: ``spine logs``, and what ``spine run`` and ``spine worker``
print of a failed attempt (one line; its traceback too with ``--verbose``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from spine.cli.context import open_history, whole_run_id
from spine.core.status import LIVE_STATUSES, StepStatus

if TYPE_CHECKING:
    from spine.orchestration import StepExecution, WorkflowRunner
    from spine.store import AttemptLog

FOLLOW_SECONDS = 1.0
"""How often ``spine logs --follow`` looks for attempts that ended since."""


def verbose_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--verbose",
        "-v",
        is_flag=True,
        help="Print a failed attempt's traceback (its log has it either way).",
    )(command)


def _stamp(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")


def tracebacks(execution: StepExecution) -> list[str]:
    """The tracebacks in an attempt's log (a raised exception's, a pipeline's)."""
    return [text for _, level, text in execution.log or () if level == "traceback"]


def failure_reporter(verbose: bool, runner: WorkflowRunner) -> Callable[[str, StepExecution], None]:
    """An ``on_step`` callback: one line on stderr per failed attempt (workflow, run,
    step, attempt, error), its traceback under it with ``verbose``."""
    from spine.execution.capture import terminal

    names: dict[str, str] = {}

    def workflow_of(run_id: str) -> str:
        # Read only for a failure (a map item's run has its own workflow).
        if run_id not in names and runner.store is not None:
            if len(names) > 1000:
                names.clear()
            names[run_id] = runner.store.load_run(run_id).run.workflow_name
        return names.get(run_id, "?")

    def report(run_id: str, execution: StepExecution) -> None:
        if execution.status != StepStatus.FAILED:
            return
        again = " (will retry)" if execution.will_retry else ""
        stream = terminal()  # not the log of a map step whose items report here
        stream.write(
            f"workflow {workflow_of(run_id)!r} run {run_id} step {execution.step_name!r} "
            f"attempt {execution.attempt} failed{again}: {execution.error}\n"
        )
        if verbose:
            for text in tracebacks(execution):
                stream.write(text + "\n")
        stream.flush()

    return report


@click.command()
@click.argument("run_id")
@click.option("--step", metavar="STEP", help="Only this step's attempts (a map's: its items').")
@click.option("--follow", "-f", is_flag=True, help="Keep printing until the run ends.")
@click.pass_context
def logs(ctx: click.Context, run_id: str, step: str | None, follow: bool) -> None:
    """Print what RUN_ID's step attempts (and its map items') wrote, one line each:
    time, level, step#attempt, text. A log is stored when its attempt ends."""
    from spine.commands import step_logs

    seen: set[str] = set()
    with open_history(ctx) as store:
        run_id = whole_run_id(store, run_id)
        while True:
            status, found = step_logs(store, run_id, step=step, seen=seen)
            for log in found:
                seen.add(log.step_id)
                _print(log)
            if not follow or status not in LIVE_STATUSES:
                return
            time.sleep(FOLLOW_SECONDS)


def _print(log: AttemptLog) -> None:
    label = log.label
    for at, level, text in log.lines:
        # A traceback's further lines indented: every line that starts unindented is one
        # line of the log.
        text = text.replace("\n", "\n    ")
        click.echo(f"{_stamp(at)} {level:<9} {label} {text}")
