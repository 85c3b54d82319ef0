"""``--executor`` and ``--dask-scheduler`` of ``spine run`` and ``spine worker``: where
map items and pipeline steps run."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from spine.cli.errors import UsageProblem

if TYPE_CHECKING:
    from spine.execution import Executor

EXECUTORS = ("inline", "threads", "processes", "dask")


def executor_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options that choose the runner's executor."""
    command = click.option(
        "--dask-scheduler",
        metavar="ADDRESS",
        envvar="SPINE_DASK_SCHEDULER",
        help="With --executor dask: the scheduler (tcp://host:8786; default: "
        "$SPINE_DASK_SCHEDULER, else a local cluster).",
    )(command)
    return click.option(
        "--executor",
        type=click.Choice(EXECUTORS),
        default="inline",
        show_default=True,
        envvar="SPINE_EXECUTOR",
        help="Where map items and pipeline steps run (default: $SPINE_EXECUTOR, else inline).",
    )(command)


@contextmanager
def chosen_executor(name: str, scheduler: str | None) -> Iterator[Executor | str]:
    """The executor to hand the runner; one connected to a scheduler is closed here."""
    if scheduler is not None and name != "dask":
        raise UsageProblem(f"--dask-scheduler needs --executor dask (not {name})")
    if name != "dask" or scheduler is None:
        yield name  # the runner makes it, and closes it with itself
        return
    try:
        from spine.execution import DaskExecutor

        executor = DaskExecutor(scheduler, timeout=10)
    except ImportError as exc:
        raise UsageProblem(str(exc)) from exc
    except OSError as exc:
        raise UsageProblem(f"--dask-scheduler {scheduler}: cannot connect: {exc}") from exc
    try:
        yield executor
    finally:
        executor.close()
