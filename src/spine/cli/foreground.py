"""A run executed in the terminal's foreground (``spine run``, ``spine resume``, ``spine
fork``): what it prints, and what Ctrl-C does to it.

The first Ctrl-C asks the run to stop, as ``spine cancel`` does: the step in flight
finishes and is recorded, no further step starts, and the run ends ``CANCELLED`` (exit
130). A second Ctrl-C exits at once, leaving the run as a crash would (``RUNNING``, its
owner gone) and withdrawing the request, so that ``spine resume`` continues it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from spine.cli.errors import EXIT_FAILED
from spine.cli.logs import tracebacks
from spine.core.errors import RunNotFoundError, SpineError
from spine.core.status import WorkflowStatus

if TYPE_CHECKING:
    from spine.orchestration import StepExecution, WorkflowResult, WorkflowRunner

EXIT_INTERRUPTED = 130
"""The shell's code for a process ended by SIGINT."""


def progress(console: Any, verbose: bool = False) -> Callable[[str, StepExecution], None]:
    """One line per step attempt (a failed one's is its one line; ``verbose`` adds its
    traceback)."""
    from rich.markup import escape

    from spine.cli.render import duration, short, styled

    def show(run_id: str, execution: StepExecution) -> None:
        status = "RETRYING" if execution.will_retry else str(execution.status)
        # Padded outside the markup, which would count in the width.
        padding = " " * (10 - len(status))
        note = escape(execution.error or short(execution.output, 50))
        console.print(
            f"  {escape(f'{execution.step_name:<16}')} {execution.step_type!s:<9} "
            f"{styled(status)}{padding} {duration(execution.duration_seconds):>10}  {note}"
        )
        for text in tracebacks(execution) if verbose else ():
            console.print(text, markup=False)

    return show


def finish(result: WorkflowResult, as_json: bool, console: Any) -> None:
    """Print how the run ended; exit 1 if it failed."""
    from rich.markup import escape

    from spine.cli.render import duration, print_json, styled

    if as_json:
        print_json(result.to_dict())
    else:
        console.print(
            f"run {result.run_id}: {styled(str(result.status))} in "
            f"{duration(result.duration_seconds)}; completed "
            f"{', '.join(result.completed_steps) or '-'}"
        )
        if result.error_step:
            said = escape(result.error or "")
            console.print(f"  failed at [bold]{escape(result.error_step)}[/bold]: {said}")
        if result.note:
            console.print(f"  {result.note}")
    if result.status in (WorkflowStatus.FAILED, WorkflowStatus.PARTIAL):
        sys.exit(EXIT_FAILED)


def run_in_foreground(
    runner: WorkflowRunner, run_id: str, execute: Callable[[], WorkflowResult]
) -> tuple[WorkflowResult, bool]:
    """``execute()`` (which runs run ``run_id``) on a thread of its own while this one
    answers Ctrl-C; returns its result and whether Ctrl-C stopped it."""
    outcome: list[WorkflowResult] = []
    failure: list[BaseException] = []

    def work() -> None:
        try:
            outcome.append(execute())
        except BaseException as exc:  # re-raised on the main thread, as if called there
            failure.append(exc)

    pressed = threading.Event()
    asked = threading.Event()  # the run's row took the request (or it could not be asked)

    def interrupted(signum: int, frame: object) -> None:
        if not pressed.is_set():
            pressed.set()
            print("\nstopping at the next step boundary; Ctrl-C again to exit at once "
                  "(the run stays resumable)", file=sys.stderr, flush=True)  # fmt: skip
            return
        # (Also when the first press's request may be committing right now.)
        _withdraw(runner, run_id)
        print(f"exited; continue it with: spine resume {run_id}", file=sys.stderr, flush=True)
        os._exit(EXIT_INTERRUPTED)

    previous = signal.signal(signal.SIGINT, interrupted)
    thread = threading.Thread(target=work, name=f"spine-run-{run_id}", daemon=True)
    try:
        thread.start()
        while thread.is_alive():
            thread.join(0.05)
            if pressed.is_set() and not asked.is_set() and thread.is_alive():
                try:
                    runner.cancel(run_id)
                except RunNotFoundError:
                    continue  # its row is not stored yet: ask again in a moment
                except SpineError as exc:
                    print(f"could not ask the run to stop ({exc}); Ctrl-C again to exit",
                          file=sys.stderr, flush=True)  # fmt: skip
                asked.set()
    finally:
        signal.signal(signal.SIGINT, previous)
    if failure:
        raise failure[0]
    return outcome[0], pressed.is_set()


def _withdraw(runner: WorkflowRunner, run_id: str) -> None:
    """Take back a request to stop the run, so that it is left to resume (a `spine
    cancel` from elsewhere at the same moment is taken back too: the run is left as a
    crash leaves it either way)."""
    from spine.commands import withdraw_cancel
    from spine.store import SqlStore

    if isinstance(runner.store, SqlStore):  # (the spine command's runners always have one)
        with contextlib.suppress(SpineError):  # exiting at once matters more
            withdraw_cancel(runner.store, run_id)
