"""Map items and pipeline steps on an executor that runs them in another process.

The runner's process keeps the control flow and the history. It pickles the item
workflow once (with every pipeline it names, so worker processes need not register
them), sends items in chunks, at most ``max_concurrency`` chunks at a time, and
stores each item as its result arrives. A worker process runs each item with the
same run loop as the runner, journaling into a capture instead of a database;
the capture travels back and is stored in one transaction per chunk. An item whose
worker was lost is run again by the executor (Dask does so itself) and recorded
once, from the result that arrives.
"""

from __future__ import annotations

import hashlib
import pickle
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from spine.core.errors import NotShippableError, PipelineNotFoundError, describe_exception
from spine.core.records import ItemRecord, Owner, RunRecord, StepRecord, StoredRun
from spine.execution.context import ExecutionContext
from spine.framework.dispatcher import Dispatcher, run_target
from spine.framework.pipelines import PipelineResult
from spine.framework.registry import PipelineRegistry, PipelineTarget
from spine.orchestration.durable import Journal, Resumption, rebuild, stored_result
from spine.orchestration.flow import Plan, plan_for
from spine.orchestration.results import WorkflowStatus
from spine.orchestration.step_types import Step, StepType
from spine.orchestration.workflow import Workflow
from spine.orchestration.workflow_context import WorkflowContext

if TYPE_CHECKING:
    from spine.execution.executors import Executor
    from spine.orchestration.results import WorkflowResult
    from spine.orchestration.workflow_runner import WorkflowRunner

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


# -- in the worker process ----------------------------------------------------------


class _Capture:
    """A journal sink that keeps one item's rows for the runner's process to store."""

    __slots__ = ("end", "steps")

    def __init__(self) -> None:
        self.steps: list[StepRecord] = []
        self.end: RunRecord | None = None

    def record_step(self, step: StepRecord) -> None:
        self.steps.append(step)

    def finish_run(self, run: RunRecord, last_step: StepRecord | None = None) -> None:
        if last_step is not None:
            self.steps.append(last_step)
        self.end = run

    def set_status(self, run_id: str, status: str, *, wake_at: float | None = None) -> None:
        """Waiting is the runner's process's to record; an item sleeps through it."""

    def cancel_requested(self, run_id: str) -> bool:
        return False

    def release(self, run_id: str, owner: Owner) -> None:
        """Nothing holds a lease on a captured item."""


_Loaded = tuple[Shipment, Plan, "WorkflowRunner"]
_LOADED: OrderedDict[tuple[bytes, bool, int], _Loaded] = OrderedDict()
_LOADED_LOCK = threading.Lock()


def _loaded(blob: bytes, dry_run: bool, max_steps: int) -> _Loaded:
    """The shipment in ``blob`` unpickled once per worker process, with a runner for it."""
    from spine.orchestration.workflow_runner import WorkflowRunner

    key = (hashlib.blake2b(blob, digest_size=16).digest(), dry_run, max_steps)
    with _LOADED_LOCK:
        hit = _LOADED.get(key)
        if hit is not None:
            _LOADED.move_to_end(key)
            return hit
    shipment: Shipment = pickle.loads(blob)
    registry = PipelineRegistry()
    for name, target in shipment.pipelines.items():
        registry.register(name, target)
    runner = WorkflowRunner(
        dispatcher=Dispatcher(registry), dry_run=dry_run, max_steps=max_steps, history=False
    )
    loaded = (shipment, plan_for(shipment.workflow), runner)
    with _LOADED_LOCK:
        _LOADED[key] = loaded
        while len(_LOADED) > 8:
            _LOADED.popitem(last=False)
    return loaded


Outcome = tuple[int, list[StepRecord], RunRecord]
"""An item's index, the step rows its execution wrote, and its run's end."""


def run_items(
    blob: bytes, dry_run: bool, max_steps: int, tasks: Sequence[tuple[int, Resumption]]
) -> list[Outcome]:
    """Run items one after another (in a worker process); what each wrote comes back."""
    shipment, plan, runner = _loaded(blob, dry_run, max_steps)
    workflow, base = shipment.workflow, shipment.base_params
    outcomes = []
    for index, state in tasks:
        state.ctx = state.ctx.with_base_params(base)
        capture = _Capture()
        journal = Journal(capture, state.ctx.run_id, workflow.name, plan)
        runner.run_state(workflow, plan, state, journal)
        if capture.end is None:
            raise RuntimeError(f"item {index} of {workflow.name!r} ended without a result")
        outcomes.append((index, capture.steps, capture.end))
    return outcomes


def run_pipeline(
    pipeline_name: str,
    blob: bytes,
    params: Mapping[str, Any],
    execution: ExecutionContext | None,
) -> PipelineResult:
    """Run a shipped pipeline target (in a worker process)."""
    return run_target(pipeline_name, pickle.loads(blob), params, execution)


# -- in the runner's process --------------------------------------------------------


@dataclass
class _Item:
    """An item on its way: the run as stored so far, and whether its row is new."""

    stored: StoredRun
    new: bool


class RemoteMap:
    """Sends one map step's items to a remote executor and collects their runs."""

    def __init__(
        self,
        runner: WorkflowRunner,
        where: str,
        workflow: Workflow,
        key: str,
        concurrency: int,
    ) -> None:
        self.runner = runner
        self.where = where
        self.workflow = workflow
        self.plan = plan_for(workflow)
        self.key = key
        self.concurrency = concurrency
        self.items: dict[int, _Item] = {}
        self.base_params: Mapping[str, Any] = {}
        self.permanent = False
        """The items lost could not be unpickled where they were sent (retrying won't help)."""

    def run(
        self,
        items: Sequence[Any],
        earlier: Mapping[int, RunRecord],
        child_context: Callable[[int, Any], WorkflowContext],
        parent: ExecutionContext,
        base_params: Mapping[str, Any],
    ) -> tuple[list[WorkflowResult | None], str | None]:
        """Every item's result in input order (``None`` for those lost), and what went
        wrong with the executor if items were lost.

        Raises :class:`NotShippableError` before any item is sent when the workflow
        cannot be pickled.
        """
        runner = self.runner
        executor = runner.executor
        self.base_params = base_params
        blob = ship_workflow(
            executor,
            Shipment(
                self.workflow,
                pipelines_of(self.workflow, runner.dispatcher.registry),
                base_params,
            ),
            f"{self.where}: iterator_workflow {self.workflow.name!r}",
        )
        results: list[WorkflowResult | None] = [None] * len(items)
        tasks = []
        for index, item in enumerate(items):
            record = earlier.get(index)
            if record is not None and record.status == WorkflowStatus.COMPLETED:
                results[index] = runner.continue_item(self.workflow, record, base_params)
                continue
            tasks.append((index, self._state(index, item, record, child_context, parent)))
        shared = executor.share(blob)
        size = executor.chunk_size or max(
            1, min(MAX_CHUNK, -(-len(tasks) // (self.concurrency * 4)))
        )
        chunks = iter([tasks[i : i + size] for i in range(0, len(tasks), size)])
        submit = executor.submit
        dry_run, max_steps = runner.dry_run, runner.max_steps
        in_flight: dict[Future[list[Outcome]], int] = {}
        lost, problem = 0, None

        def launch() -> None:
            nonlocal lost, problem
            chunk = next(chunks, None)
            if chunk is None:
                return
            try:
                in_flight[submit(run_items, shared, dry_run, max_steps, chunk)] = len(chunk)
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
            return results, (
                f"{self.where}: {lost} of {len(items)} items did not come back from "
                f"{executor.describe()}: {problem}"
            )
        return results, None

    def _state(
        self,
        index: int,
        item: Any,
        record: RunRecord | None,
        child_context: Callable[[int, Any], WorkflowContext],
        parent: ExecutionContext,
    ) -> Resumption:
        runner = self.runner
        if record is not None and runner.store is not None:
            stored = runner.store.load_run(record.run_id)
            state = rebuild(stored, self.plan)  # the worker puts the map's params beneath
            self.items[index] = _Item(stored, new=False)
        else:
            ctx = child_context(index, item)
            state = Resumption(ctx=ctx, position=0)
            row = runner.item_record(
                self.workflow, self.plan, ctx, parent, self.key, index, ctx.params
            )
            self.items[index] = _Item(StoredRun(row, []), new=True)
        state.block = True  # the map step waits for its items
        return state

    def _record(self, outcomes: list[Outcome], results: list[WorkflowResult | None]) -> None:
        """Store a chunk's items, then take their results (an item not stored counts as
        not come back)."""
        saved = []
        for index, steps, end in outcomes:
            item = self.items[index]
            start = item.stored.run
            run = replace(
                start,
                status=end.status,
                started_at=steps[0].started_at if item.new and steps else start.started_at,
                completed_at=end.completed_at,
                outputs=end.outputs,
                error=end.error,
                error_category=end.error_category,
                error_step=end.error_step,
                completed_steps=end.completed_steps,
                failed_steps=end.failed_steps,
                owner=None,
                heartbeat_at=None,
                wake_at=None,
            )
            saved.append(ItemRecord(run, steps, item.new))
        store = self.runner.store
        if store is not None:
            store.save_items(saved)
        for (index, _, _), record in zip(outcomes, saved, strict=True):
            stored = StoredRun(record.run, [*self.items[index].stored.steps, *record.steps])
            state = rebuild(stored, self.plan, self.base_params)
            results[index] = stored_result(record.run, state.ctx, state.executions)
