"""Lineage of executions, and the executors that run steps and map items."""

from typing import Any

from spine.execution.context import ExecutionContext, current_execution
from spine.execution.executors import Executor, InlineExecutor, ProcessExecutor, ThreadExecutor


def __getattr__(name: str) -> Any:
    # DaskExecutor loads Dask only when asked for, so `import spine.execution` stays light.
    if name == "DaskExecutor":
        from spine.execution.dask import DaskExecutor

        return DaskExecutor
    raise AttributeError(f"module 'spine.execution' has no attribute {name!r}")


__all__ = [
    "DaskExecutor",
    "ExecutionContext",
    "Executor",
    "InlineExecutor",
    "ProcessExecutor",
    "ThreadExecutor",
    "current_execution",
]
