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
from spine.core.records import Owner, StoredRun
from spine.execution.executors import InlineExecutor
from spine.execution.tracing import Carrier, attached
from spine.framework.dispatcher import Dispatcher
from spine.framework.registry import PipelineRegistry
from spine.orchestration.engine.journal import ItemCapture, Journal
from spine.orchestration.engine.kinds.remote_map import ItemTask, Outcome, Shipment
from spine.orchestration.engine.runs import Runs
from spine.orchestration.engine.settings import RunSettings
from spine.orchestration.engine.state import RunState, replay
from spine.orchestration.flow import Plan, plan_for
from spine.orchestration.registry import WorkflowRegistry

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
        capture = ItemCapture()
        runs.run(workflow, state, Journal(capture, state.ctx.run_id, workflow.name, plan))
        if capture.end is None:
            raise RuntimeError(f"item {index} of {workflow.name!r} ended without a result")
        outcomes.append((index, capture.steps, capture.end))
    return outcomes
