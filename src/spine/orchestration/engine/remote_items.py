"""Map items in a worker process: the remote map's other half.

A worker runs each item with the same step loop as the runner, journaling into a
capture instead of a database; the captures travel back to the runner's process,
which stores them (``kinds/remote_map.py``).
"""

from __future__ import annotations

import hashlib
import pickle
import threading
from collections import OrderedDict
from collections.abc import Sequence

from spine.core.clock import SYSTEM_CLOCK
from spine.core.records import Lease, NextClaim, Owner, RunRecord, StepRecord, StoredRun
from spine.execution.executors import InlineExecutor
from spine.execution.tracing import Carrier, attached
from spine.framework.dispatcher import Dispatcher
from spine.framework.registry import PipelineRegistry
from spine.orchestration.engine.journal import Journal
from spine.orchestration.engine.kinds.remote_map import ItemTask, Outcome, Shipment
from spine.orchestration.engine.runs import Runs
from spine.orchestration.engine.settings import RunSettings
from spine.orchestration.engine.state import RunState, replay
from spine.orchestration.flow import Plan, plan_for
from spine.orchestration.registry import WorkflowRegistry


class _Capture:
    """A journal sink that keeps one item's rows for the runner's process to store."""

    __slots__ = ("end", "steps")

    def __init__(self) -> None:
        self.steps: list[StepRecord] = []
        self.end: RunRecord | None = None

    def record_step(self, step: StepRecord, lease: Lease | None = None) -> bool:
        self.steps.append(step)
        return False  # a remote item is not told of a cancel; its map stops sending

    def finish_run(
        self,
        run: RunRecord,
        last_step: StepRecord | None = None,
        lease: Lease | None = None,
        then: NextClaim | None = None,
    ) -> bool:
        # (``then`` stays unmade: an item's journal is never given a claim to make.)
        if last_step is not None:
            self.steps.append(last_step)
        self.end = run
        return True

    def set_status(
        self,
        run_id: str,
        status: str,
        *,
        wake_at: float | None = None,
        lease: Lease | None = None,
        awaiting_signal: str | None = None,
    ) -> None:
        """Waiting is the runner's process's to record; an item sleeps through it."""

    def take_signal(
        self, run_id: str, signal_name: str, now: float, lease: Lease | None = None
    ) -> str | None:
        """Never asked: a map's iterator workflow may not await a signal."""
        return None

    def record_map_size(self, run_id: str, total: int, lease: Lease | None = None) -> None:
        """A nested map's size is shown only for runs of the runner's process."""

    def cancel_requested(self, run_id: str, lease: Lease | None = None) -> bool:
        return False

    def release(self, run_id: str, lease: Lease, status: str | None = None) -> None:
        """Nothing holds a lease on a captured item."""


_Loaded = tuple[Shipment, Plan, Runs]
_LOADED: OrderedDict[tuple[bytes, bool, int, int], _Loaded] = OrderedDict()
_LOADED_LOCK = threading.Lock()


def _loaded(blob: bytes, dry_run: bool, max_steps: int, log_limit: int) -> _Loaded:
    """The shipment in ``blob`` unpickled once per worker process, with what runs it."""
    key = (hashlib.blake2b(blob, digest_size=16).digest(), dry_run, max_steps, log_limit)
    with _LOADED_LOCK:
        hit = _LOADED.get(key)
        if hit is not None:
            _LOADED.move_to_end(key)
            return hit
    shipment: Shipment = pickle.loads(blob)
    registry = PipelineRegistry()
    for name, target in shipment.pipelines.items():
        registry.register(name, target)
    settings = RunSettings(
        clock=SYSTEM_CLOCK,
        dispatcher=Dispatcher(registry),
        executor=InlineExecutor(),
        workflows=WorkflowRegistry(),
        dry_run=dry_run,
        max_steps=max_steps,
        log_limit_bytes=log_limit,
        # Spans of items are the runner's process's to make, from the rows sent back.
        tracing=False,
    )
    runs = Runs(settings, None, Owner.for_this_process(), None, lambda: run_items)
    loaded = (shipment, plan_for(shipment.workflow), runs)
    with _LOADED_LOCK:
        _LOADED[key] = loaded
        while len(_LOADED) > 8:
            _LOADED.popitem(last=False)
    return loaded


def run_items(
    blob: bytes,
    dry_run: bool,
    max_steps: int,
    log_limit: int,
    tasks: Sequence[ItemTask],
    trace: Carrier | None = None,
) -> list[Outcome]:
    """Run items one after another (in a worker process), inside the map step's trace
    when it has one; what each wrote comes back (its step rows carry their attempts'
    logs, captured here: the runner's process records their spans from them)."""
    with attached(trace):
        return _run_items(blob, dry_run, max_steps, log_limit, tasks)


def _run_items(
    blob: bytes, dry_run: bool, max_steps: int, log_limit: int, tasks: Sequence[ItemTask]
) -> list[Outcome]:
    shipment, plan, runs = _loaded(blob, dry_run, max_steps, log_limit)
    workflow, base = shipment.workflow, shipment.base_params
    outcomes = []
    for index, start in tasks:
        if isinstance(start, StoredRun):
            state = replay(start, plan, base)
        else:
            state = RunState(plan, start.with_base_params(base))
        state.block = True  # the map step waits for its items
        capture = _Capture()
        runs.run(workflow, state, Journal(capture, state.ctx.run_id, workflow.name, plan))
        if capture.end is None:
            raise RuntimeError(f"item {index} of {workflow.name!r} ended without a result")
        outcomes.append((index, capture.steps, capture.end))
    return outcomes
