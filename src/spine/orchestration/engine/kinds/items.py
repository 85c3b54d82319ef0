"""A map step's items: the list its ``items_path`` leads to, and the step's result
made of the item runs (inline and remote maps alike)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from spine.core.records import RunRecord
from spine.core.status import ErrorCategory, WorkflowStatus
from spine.execution.timeouts import current_watch
from spine.orchestration.engine.state import stored_result
from spine.orchestration.step_result import StepResult
from spine.orchestration.workflow_context import WorkflowContext

if TYPE_CHECKING:
    from spine.orchestration.engine.journal import Journal
    from spine.orchestration.results import WorkflowResult


class ItemsPathError(LookupError):
    """``items_path`` does not lead to a list."""


def _walk(value: Any, parts: list[str], path: str, root: str) -> Any:
    # Keys may themselves contain dots ("finra.ingest"): at each level take the
    # longest run of parts that names an existing key.
    position = 0
    while position < len(parts):
        if not isinstance(value, Mapping):
            seen = ".".join([root, *parts[:position]])
            raise ItemsPathError(f"{seen} is a {type(value).__name__}, not a mapping")
        for end in range(len(parts), position, -1):
            key = ".".join(parts[position:end])
            if key in value:
                value = value[key]
                position = end
                break
        else:
            seen = ".".join([root, *parts[:position]])
            raise ItemsPathError(f"{seen} has no key {parts[position]!r}")
    return value


def resolve_path(ctx: WorkflowContext, path: str) -> Any:
    """The value at ``path``: dotted into ``ctx.params`` (``params.`` may lead), or
    ``outputs.<step>.<key>``; ``ItemsPathError`` saying where it stops."""
    parts = path.split(".")
    if parts[0] == "outputs" and len(parts) > 1:
        return _walk(ctx.outputs, parts[1:], path, "outputs")
    if parts[0] == "params" and len(parts) > 1 and "params" not in ctx.params:
        parts = parts[1:]
    return _walk(ctx.params, parts, path, "params")


def resolve_items(ctx: WorkflowContext, path: str) -> Sequence[Any]:
    """The list at ``path``: dotted into ``ctx.params``, or ``outputs.<step>.<key>``."""
    value = resolve_path(ctx, path)
    if not isinstance(value, list | tuple):
        raise ItemsPathError(f"it resolves to a {type(value).__name__}, not a list")
    return value


def stop_check(journal: Journal | None) -> Callable[[], bool] | None:
    """What a map asks before it starts an item (``None``: nothing can stop it): whether
    its run was asked to stop (with history), or its step's time limit passed."""
    watch = current_watch()
    cancelled = None if journal is None else journal.cancelled_now
    if watch is None:
        return cancelled
    if cancelled is None:
        return lambda: watch.expired
    return lambda: watch.expired or cancelled()


def summary(runs: Sequence[WorkflowResult | None], count: int) -> dict[str, Any]:
    return {
        "results": [None if r is None else r.outputs for r in runs],
        "item_count": count,
        "failed_count": sum(1 for r in runs if r is not None and r.status == WorkflowStatus.FAILED),
    }


def outcome(where: str, runs: list[WorkflowResult]) -> tuple[StepResult, list[WorkflowResult]]:
    """The map step's result from its item runs (in input order)."""
    output = summary(runs, len(runs))
    failed = [(i, r) for i, r in enumerate(runs) if r.status == WorkflowStatus.FAILED]
    if not failed:
        return StepResult.ok(output=output), runs
    index, first = failed[0]
    return StepResult.fail(
        f"{where}: {len(failed)} of {len(runs)} items failed; first: item {index} at step "
        f"{first.error_step!r}: {first.error}",
        first.error_category or ErrorCategory.INTERNAL,
        output=output,
    ), runs


def cancelled_map(where: str, runs: Sequence[WorkflowResult | None]) -> StepResult:
    """The result of a map whose run was asked to stop before every item started:
    the items that ran are kept, the rest start when the run is resumed."""
    left = sum(1 for run in runs if run is None)
    return StepResult.fail(
        f"{where}: cancelled by request; {left} of {len(runs)} items did not start",
        ErrorCategory.CANCELLED,
        output=summary(runs, len(runs)),
    )


def ended(start: RunRecord, end: RunRecord, started_at: float) -> RunRecord:
    """Item row ``start``, changed in place to how its run ``end`` ended it (started at
    ``started_at``) and held by nobody: what its map stores. (In place: a map's rows are
    its own, and copying a row of some forty fields would cost an item more than its
    writing does.)"""
    start.status = end.status
    start.started_at = started_at
    start.completed_at = end.completed_at
    start.outputs = end.outputs
    start.error = end.error
    start.error_category = end.error_category
    start.error_step = end.error_step
    start.completed_steps = end.completed_steps
    start.failed_steps = end.failed_steps
    start.owner = start.heartbeat_at = start.wake_at = None
    return start


def still_running(record: RunRecord) -> RunRecord:
    """Item ``record`` failed for this attempt of its map step: an earlier attempt that
    timed out still runs it in this process. It is not waited for (the retry must not
    hang on what timed out); a later attempt reuses it once it has completed."""
    return replace(
        record,
        status=WorkflowStatus.FAILED,
        error=f"item {record.item_index} is still running in this process, from an "
        "earlier attempt of its map step that timed out",
        error_category=ErrorCategory.TIMEOUT.value,
    )


def item_result(record: RunRecord, base_params: Mapping[str, Any]) -> WorkflowResult:
    """A stored item's result as its row tells it (its params over its map's)."""
    return stored_result(record, WorkflowContext(
        run_id=record.run_id,
        workflow_name=record.workflow_name,
        params={**base_params, **record.params},
        outputs=record.outputs,
        partition=record.partition,
    ))  # fmt: skip
