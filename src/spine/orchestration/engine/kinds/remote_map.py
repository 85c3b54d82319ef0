"""Map steps whose items run on an executor in other processes (processes, Dask).

The runner's process keeps the control flow and the history. It pickles the item
workflow once (with every pipeline it names, so worker processes need not register
them), sends items in chunks, at most ``max_concurrency`` chunks at a time, and
stores each item as its result arrives. A worker process runs each item with the
same step loop as the runner (``engine/remote_items.py``), journaling into a
capture instead of a database; the capture travels back and is stored in one
transaction per chunk. An item whose worker was lost is run again by the executor
(Dask does so itself) and recorded once, from the result that arrives.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from spine.core.errors import NotShippableError, PipelineNotFoundError, describe_exception
from spine.core.records import ItemRecord, RunRecord, StepRecord, StoredRun
from spine.core.status import ErrorCategory, WorkflowStatus
from spine.execution.tracing import carrier
from spine.orchestration.engine.kinds.items import (
    cancelled_map,
    ended,
    outcome,
    stop_check,
    summary,
)
from spine.orchestration.engine.state import replay, stored_result
from spine.orchestration.flow import plan_for
from spine.orchestration.step_result import StepResult
from spine.orchestration.step_types import Step, StepType
from spine.orchestration.workflow import Workflow

if TYPE_CHECKING:
    from spine.execution.context import ExecutionContext
    from spine.execution.executors import Executor
    from spine.framework.registry import PipelineRegistry, PipelineTarget
    from spine.orchestration.engine.services import Services
    from spine.orchestration.results import WorkflowResult
    from spine.orchestration.workflow_context import WorkflowContext

Outcome = tuple[int, list[StepRecord], RunRecord]
"""An item's index, the step rows its execution wrote, and its run's end."""

ItemTask = tuple[int, "WorkflowContext | StoredRun"]
"""An item to run elsewhere: its index, and its new context or its run as stored so far."""

MAX_CHUNK = 256
"""Most items in one call to another process: large enough that the executor's own
cost per call fades, small enough that a lost worker costs little work."""


@dataclass(frozen=True)
class Shipment:
    """What a worker process needs to run items: the workflow, its pipelines, and the
    params of the map's run, beneath each item's own."""

    workflow: Workflow
    pipelines: Mapping[str, PipelineTarget]
    base_params: Mapping[str, Any]


def pipelines_of(workflow: Workflow, registry: PipelineRegistry) -> dict[str, PipelineTarget]:
    """The registered pipelines ``workflow``'s steps name, nested map workflows included.

    A name not registered here is left out: the step fails where it runs, as it
    would in this process.
    """
    found: dict[str, PipelineTarget] = {}
    for step in _all_steps(workflow):
        name = step.pipeline_name
        if step.step_type is StepType.PIPELINE and name and name not in found:
            try:
                found[name] = registry.get(name)
            except PipelineNotFoundError:
                continue
    return found


def _all_steps(workflow: Workflow) -> Iterator[Step]:
    for step in workflow.steps:
        yield step
        if isinstance(step.iterator_workflow, Workflow):
            yield from _all_steps(step.iterator_workflow)


def ship_workflow(executor: Executor, shipment: Shipment, where: str) -> bytes:
    """The shipment pickled, or a :class:`NotShippableError` naming the step at fault."""
    try:
        return executor.ship(shipment, where)
    except NotShippableError:
        pass
    # Find the part that cannot travel, so the message can name its step.
    for step in _all_steps(shipment.workflow):
        parts: list[tuple[str, object]] = [
            ("handler", step.handler),
            ("condition", step.condition),
            ("config", step.config),
            ("params", step.params),
        ]
        target = shipment.pipelines.get(step.pipeline_name or "")
        if target is not None:
            parts.append((f"pipeline {step.pipeline_name!r}", target))
        for label, part in parts:
            try:
                executor.ship(part, where)
            except NotShippableError as exc:
                raise NotShippableError(
                    str(exc).replace(where, f"{where}: step {step.name!r} ({label})", 1)
                ) from exc.__cause__
    for key, value in shipment.base_params.items():
        executor.ship(value, f"{where}: the map's param {key!r}")
    return executor.ship(shipment, where)  # raises again: nothing alone was at fault


@dataclass
class _Item:
    """An item on its way: the run as stored so far, and whether its row is new."""

    stored: StoredRun
    new: bool


class RemoteMap:
    """Sends one map step's items to a remote executor and collects their runs."""

    def __init__(
        self,
        services: Services,
        where: str,
        workflow: Workflow,
        key: str,
        concurrency: int,
    ) -> None:
        self.services = services
        self.children = services.children
        self.where = where
        self.workflow = workflow
        self.plan = plan_for(workflow)
        self.key = key
        self.concurrency = concurrency
        self.items: dict[int, _Item] = {}
        self.base_params: Mapping[str, Any] = {}
        self.permanent = False
        """The items lost could not be unpickled where they were sent (retrying won't help)."""
        self.stopped = False
        """The map's run was asked to stop: chunks not sent by then never were."""

    def outcome(
        self,
        items: Sequence[Any],
        earlier: Mapping[int, RunRecord],
        child_context: Callable[[int, Any], WorkflowContext],
        parent: ExecutionContext,
        base_params: Mapping[str, Any],
    ) -> tuple[StepResult, list[WorkflowResult]]:
        """The map step's result and its item runs, in input order. Nothing is sent
        when the workflow cannot be pickled; items that do not come back keep their
        place in the results as ``None`` and fail the step."""
        executor = self.services.executor
        self.base_params = base_params
        try:
            blob = ship_workflow(
                executor,
                Shipment(
                    self.workflow,
                    pipelines_of(self.workflow, self.services.dispatcher.registry),
                    base_params,
                ),
                f"{self.where}: iterator_workflow {self.workflow.name!r}",
            )
        except NotShippableError as exc:
            return StepResult.fail(str(exc), ErrorCategory.CONFIGURATION), []
        results: list[WorkflowResult | None] = [None] * len(items)
        tasks: list[ItemTask] = []
        for index, item in enumerate(items):
            record = earlier.get(index)
            if record is not None and record.status == WorkflowStatus.COMPLETED:
                results[index] = self.children.continue_item(self.workflow, record, base_params)
                continue
            tasks.append((index, self._start(index, item, record, child_context, parent)))
        lost, problem = self._send(executor, executor.share(blob), tasks, results)
        runs = [r for r in results if r is not None]
        if problem is None and self.stopped:
            return cancelled_map(self.where, results), runs
        if problem is None:
            return outcome(self.where, runs)
        text = (
            f"{self.where}: {lost} of {len(items)} items did not come back from "
            f"{executor.describe()}: {problem}"
        )
        category = ErrorCategory.CONFIGURATION if self.permanent else ErrorCategory.TRANSIENT
        return StepResult.fail(text, category, output=summary(results, len(items))), runs

    def _send(
        self,
        executor: Executor,
        shared: Any,
        tasks: list[ItemTask],
        results: list[WorkflowResult | None],
    ) -> tuple[int, str | None]:
        """Send ``tasks`` in chunks, at most ``concurrency`` in flight, recording each
        chunk as it comes back; returns how many items were lost, and why."""
        size = executor.chunk_size or max(
            1, min(MAX_CHUNK, -(-len(tasks) // (self.concurrency * 4)))
        )
        chunks = iter([tasks[i : i + size] for i in range(0, len(tasks), size)])
        submit, run_elsewhere = executor.submit, self.children.run_elsewhere
        services = self.services
        dry_run, max_steps, log_limit = services.dry_run, services.max_steps, services.log_limit
        in_flight: dict[Future[list[Outcome]], int] = {}
        lost, problem = 0, None
        stopped = stop_check(self.services.journal)
        # The items' code runs inside this step's trace wherever it is sent.
        trace = None if services.tracing is None else carrier()

        def launch() -> None:
            nonlocal lost, problem
            chunk = next(chunks, None)
            if chunk is None:
                return
            # Items already sent finish and are recorded; no more start.
            if self.stopped or (stopped is not None and stopped()):
                self.stopped = True
                return
            try:
                sent = submit(run_elsewhere, shared, dry_run, max_steps, log_limit, chunk, trace)
                in_flight[sent] = len(chunk)
            except Exception as exc:  # the executor refused it: a pool gone, a cluster down
                lost += len(chunk)
                problem = problem or describe_exception(exc)

        for _ in range(self.concurrency):
            launch()
        while in_flight:
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in done:
                count = in_flight.pop(future)
                try:
                    self._record(future.result(), results)
                except Exception as exc:
                    # Stop sending; what is in flight still lands and is recorded.
                    lost += count
                    if problem is None:
                        problem = describe_exception(exc)
                        # A worker that cannot import what the items need fails the same
                        # way on a retry: a setup problem, not a passing one.
                        self.permanent = isinstance(exc, ImportError | pickle.UnpicklingError)
                    continue
                if problem is None:
                    launch()
        if problem is not None:
            lost += sum(len(chunk) for chunk in chunks)
        return lost, problem

    def _start(
        self,
        index: int,
        item: Any,
        record: RunRecord | None,
        child_context: Callable[[int, Any], WorkflowContext],
        parent: ExecutionContext,
    ) -> WorkflowContext | StoredRun:
        """What a worker starts item ``index`` from: its run as stored so far (the worker
        puts the map's params beneath its own), or a new context."""
        stored = None if record is None else self.children.load(record.run_id)
        if stored is not None:
            # Replayed here first: an item the definition cannot continue fails the map
            # step with the reason, rather than coming back lost from the worker.
            replay(stored, self.plan)
            self.items[index] = _Item(stored, new=False)
            return stored
        ctx = child_context(index, item)
        row = self.children.item_record(
            self.workflow, self.plan, ctx, parent, self.key, index, ctx.params
        )
        self.items[index] = _Item(StoredRun(row, []), new=True)
        return ctx

    def _record(self, outcomes: list[Outcome], results: list[WorkflowResult | None]) -> None:
        """Store a chunk's items, then take their results (an item not stored counts as
        not come back)."""
        saved = []
        for index, steps, end in outcomes:
            item = self.items[index]
            start = item.stored.run
            began = steps[0].started_at if item.new and steps else start.started_at
            saved.append(ItemRecord(ended(start, end, began), steps, item.new))
        journal = self.services.journal
        if journal is not None:
            rows = [self.children.rows(record) for record in saved]
            self.children.save(journal.run_id, self.key, rows, journal.lease)
        if self.services.tracing is not None:
            self.services.tracing.items_done(saved)
        for (index, _, _), record in zip(outcomes, saved, strict=True):
            stored = StoredRun(record.run, [*self.items[index].stored.steps, *record.steps])
            state = replay(stored, self.plan, self.base_params)
            results[index] = stored_result(record.run, state.ctx, state.executions)
