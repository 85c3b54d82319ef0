"""Lineage of executions (and, later, the executors that run them)."""

from spine.execution.context import ExecutionContext, current_execution

__all__ = ["ExecutionContext", "current_execution"]
