"""Map steps: run a workflow once per item of a list, on a bounded thread pool (or,
with a remote executor, in chunks sent to other processes: ``remote_map``)."""

from __future__ import annotations

import contextvars
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from spine.core.status import ErrorCategory
from spine.execution.executors import Executor, InlineExecutor
from spine.orchestration.engine.kinds.batched_items import BatchedItems
from spine.orchestration.engine.kinds.items import (
    ItemsPathError,
    cancelled_map,
    outcome,
    resolve_items,
    stop_check,
)
from spine.orchestration.step_result import StepResult
from spine.orchestration.workflow import Workflow
from spine.orchestration.workflow_context import WorkflowContext

if TYPE_CHECKING:
    from spine.execution.context import StepLineage
    from spine.orchestration.engine.services import Services
    from spine.orchestration.results import WorkflowResult
    from spine.orchestration.step_types import Step

T = TypeVar("T")


def _run_all(
    run_item: Callable[[int, Any], WorkflowResult],
    items: Sequence[Any],
    workers: int,
    step_name: str,
    executor: Executor,
    stopped: Callable[[], bool] | None,
) -> list[WorkflowResult | None]:
    """Run every item, ``workers`` at a time, keeping input order; once ``stopped()``
    says so, start no more (those items stay ``None``).

    Each worker thread pulls the next item from a shared iterator, rather than
    one future per item: the per-item cost of a future and its queue would be
    about a third of the engine's own per-item cost. The threads are the map's
    own, or with a :class:`ThreadExecutor` its shared pool's.
    """
    runs: list[WorkflowResult | None] = [None] * len(items)
    if workers <= 1:
        for index, item in enumerate(items):
            if stopped is not None and stopped():
                break
            runs[index] = run_item(index, item)
        return runs
    from concurrent.futures import ThreadPoolExecutor, wait

    take = _shared(enumerate(items), plain=type(items) in (list, tuple))

    def work() -> None:
        while True:
            nxt = take()
            if nxt is None or (stopped is not None and stopped()):
                return
            runs[nxt[0]] = run_item(*nxt)

    if not isinstance(executor, InlineExecutor):
        lanes = [executor.submit(work) for _ in range(workers)]
        # Every lane ends before the step does, even when one of them raised.
        wait(lanes)
        for lane in lanes:
            lane.result()
        return runs
    # Each worker runs in a copy of the caller's context, so context variables set
    # around execute() are seen by every item, as they are when items run inline.
    with ThreadPoolExecutor(workers, thread_name_prefix=f"spine-map-{step_name}") as pool:
        futures = [pool.submit(contextvars.copy_context().run, work) for _ in range(workers)]
        for future in futures:
            future.result()
    return runs


def _shared(pending: Iterator[T], *, plain: bool) -> Callable[[], T | None]:
    """The next of ``pending`` (``None`` once none is left), for many threads.

    With the GIL, ``next`` of a C iterator (``enumerate`` of a plain list or tuple) is
    one call that holds it throughout: a lock around it would only hand the GIL over
    once per item (a thread that loses the GIL holding the lock stalls every other
    one). A subclass's own ``__iter__`` (Python code) needs the lock, as every iterator
    does without the GIL (a free-threaded build)."""
    if plain and getattr(sys, "_is_gil_enabled", lambda: True)():
        return lambda: next(pending, None)
    lock = threading.Lock()

    def locked() -> T | None:
        with lock:
            return next(pending, None)

    return locked


def run(
    workflow_name: str,
    step: Step,
    ctx: WorkflowContext,
    services: Services,
    lineage: StepLineage,
) -> tuple[StepResult, list[WorkflowResult]]:
    """Run ``step.iterator_workflow`` per item; results keep the input order."""
    where = f"workflow {workflow_name!r}, step {step.name!r}"
    checked = _checked(where, step, ctx)
    if isinstance(checked, StepResult):
        return checked, []
    item_workflow, concurrency, items = checked
    parent = lineage.resolve()
    base_params = ctx.params
    item_param = step.item_param
    children = services.children
    # With history, items of an earlier attempt or an interrupted run are found by
    # index: completed ones are reused, unfinished ones resumed, only the rest start.
    # Keyed by the map step's execution, so a map run again in a loop starts afresh.
    key = f"{step.name}#{lineage.order}"
    if services.journal is not None:
        services.journal.map_size(len(items))  # what `spine show` counts progress against

    def child_context(
        index: int, item: Any, base: Mapping[str, Any] | None = None
    ) -> WorkflowContext:
        """Item ``index``'s context: the params it adds, over ``base`` when given."""
        own = {item_param: item, "item_index": index}
        return WorkflowContext.create(
            item_workflow.name,
            params=own if base is None else base_params.merged(own),
            partition=ctx.partition,
            dry_run=services.dry_run,
            parent=parent,
            started_at=datetime.fromtimestamp(services.clock.time(), UTC),
        )

    if services.executor.remote:
        # Only maps sent elsewhere need it.
        from spine.orchestration.engine.kinds.remote_map import RemoteMap

        remote = RemoteMap(services, where, item_workflow, key, concurrency)
        earlier = children.earlier(ctx.run_id, key)
        return remote.outcome(items, earlier, child_context, parent, base_params)

    workers = min(concurrency, len(items))
    # Asked before each item: with history, whether the map's run must stop.
    stopped = stop_check(services.journal)
    executor = services.executor
    if not children.recorded:

        def run_item(index: int, item: Any) -> WorkflowResult:
            return children.run_item(item_workflow, child_context(index, item, base_params))

        return _result(where, _run_all(run_item, items, workers, step.name, executor, stopped))
    # (Recorded: the map's run has a journal with its lease.)
    lease = None if services.journal is None else services.journal.lease
    batch = BatchedItems(ctx.run_id, children, item_workflow, key, parent, lease, base_params,
                         item_param, child_context)  # fmt: skip
    with batch:
        runs = _run_all(batch.run_item, items, workers, step.name, executor, stopped)
    return _result(where, runs)


def _result(
    where: str, runs: list[WorkflowResult | None]
) -> tuple[StepResult, list[WorkflowResult]]:
    """The map step's result: ``None`` marks an item that never started (cancelled)."""
    started = [run for run in runs if run is not None]
    if len(started) < len(runs):
        return cancelled_map(where, runs), started
    return outcome(where, started)


def _checked(
    where: str, step: Step, ctx: WorkflowContext
) -> tuple[Workflow, int, Sequence[Any]] | StepResult:
    """The map's item workflow, concurrency and items, or why it cannot run."""
    item_workflow = step.iterator_workflow
    if not isinstance(item_workflow, Workflow):
        return StepResult.fail(
            f"{where}: iterator_workflow must be a Workflow, got {type(item_workflow).__name__}",
            ErrorCategory.CONFIGURATION,
        )
    concurrency = step.max_concurrency
    if not isinstance(concurrency, int) or concurrency < 1:
        return StepResult.fail(
            f"{where}: max_concurrency must be an integer >= 1, got {concurrency!r}",
            ErrorCategory.CONFIGURATION,
        )
    try:
        items = resolve_items(ctx, step.items_path or "")
    except ItemsPathError as exc:
        return StepResult.fail(
            f"{where}: items_path={step.items_path!r} does not resolve to a list: {exc}",
            ErrorCategory.CONFIGURATION,
        )
    return item_workflow, concurrency, items
