"""The statuses of runs and step attempts, and the categories of errors.

They live in ``core`` because the store keeps them too (as their plain string
values); ``spine.orchestration`` re-exports them as part of the spec's API.
"""

from __future__ import annotations

from enum import StrEnum


class WorkflowStatus(StrEnum):
    """Status of a run. ``COMPLETED``, ``FAILED`` and ``PARTIAL`` end an execution;
    the others describe runs in history."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    WAITING = "WAITING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    PARTIAL = "PARTIAL"
    CANCELLED = "CANCELLED"


class StepStatus(StrEnum):
    """Status of one step attempt: of a workflow step, or of a pipeline group's step.

    Stored rows and results hold only ``COMPLETED``, ``FAILED`` and ``SKIPPED``.
    """

    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"
    RUNNING = "RUNNING"
    """The step a live run executes now, as ``spine show`` lists it (never stored)."""
    PENDING = "PENDING"
    """Not started yet: spine-core's group runner marked its steps so (never stored)."""


class ErrorCategory(StrEnum):
    """Why a step failed. Any other string is accepted as a category too."""

    INTERNAL = "INTERNAL"
    DATA_QUALITY = "DATA_QUALITY"
    TRANSIENT = "TRANSIENT"
    TIMEOUT = "TIMEOUT"
    DEPENDENCY = "DEPENDENCY"
    CONFIGURATION = "CONFIGURATION"
    PIPELINE = "PIPELINE"
    VALIDATION = "VALIDATION"
    CANCELLED = "CANCELLED"
    """The run was cancelled by request before this step (or, for a map step, before
    all of its items started)."""
    WORKER_LOST = "WORKER_LOST"
    """The process executing the step died, again and again: the run's recovery limit."""


LIVE_STATUSES = frozenset({WorkflowStatus.PENDING, WorkflowStatus.RUNNING, WorkflowStatus.WAITING})
"""Statuses of runs that have not ended: never pruned, still to execute."""


__all__ = ["LIVE_STATUSES", "ErrorCategory", "StepStatus", "WorkflowStatus"]


class Wakeup(StrEnum):
    """Why a store's watch wakes an idle worker (see ``spine.store.wakeups``)."""

    PENDING = "pending"
    """A run became ``PENDING``: a claim may find it."""
    DUE = "due"
    """A waiting run became due (a signal it waits for came): a recovery look may find it."""
    CHANGED = "changed"
    """Something may have changed that nothing announced (SQLite's change counter moved;
    a lost PostgreSQL listener is back): a claim may find a run."""
