"""Step functions for executor tests: importable by worker processes (and Dask workers).

Each item leaves a marker file per execution in ``params["marks"]`` so tests count
side effects across processes.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from spine.orchestration import StepResult, WorkflowContext


def mark(ctx: WorkflowContext, label: str) -> None:
    folder = Path(ctx.params["marks"])
    index = ctx.params["item_index"]
    with open(folder / f"{label}-{index}", "a") as handle:
        handle.write(f"{os.getpid()}\n")


def square(ctx: WorkflowContext, config: dict[str, Any]) -> StepResult:
    if ctx.params.get("marks"):
        mark(ctx, "square")
    delay = ctx.params.get("delay", 0)
    if delay:
        time.sleep(delay)
    item = ctx.params["item"]
    return StepResult.ok(output={"y": item * item, "pid": os.getpid(), "tag": ctx.params["tag"]})


def fail_odd_once(ctx: WorkflowContext, config: dict[str, Any]) -> StepResult:
    """Fails odd items while the file ``params["gate"]`` exists."""
    mark(ctx, "gate")
    item = ctx.params["item"]
    if item % 2 and Path(ctx.params["gate"]).exists():
        return StepResult.fail(f"item {item} is odd", "TRANSIENT")
    return StepResult.ok(output={"item": item})


def pid_pipeline(params: dict[str, Any]) -> dict[str, Any]:
    return {"pid": os.getpid(), "x": params["x"] * 2}


def die_once(ctx: WorkflowContext, config: dict[str, Any]) -> StepResult:
    """Kills its worker process the first time item 0 runs (``params["gate"]`` exists)."""
    gate = Path(ctx.params["gate"])
    if ctx.params["item"] == 0 and gate.exists():
        gate.unlink()
        os._exit(1)
    return StepResult.ok(output={"item": ctx.params["item"]})


def linger(ctx: WorkflowContext, config: dict[str, Any]) -> StepResult:
    mark(ctx, "linger")
    time.sleep(30)
    return StepResult.ok()


def chatty(ctx: WorkflowContext, config: dict[str, Any]) -> StepResult:
    """Writes to stdout (in two parts, a pause between: items on threads interleave),
    stderr and a logger, naming its item and process; item 1 raises."""
    item = ctx.params["item"]
    print(f"item {item} from", end="")
    time.sleep(0.01)
    print(f" {os.getpid()}")
    print(f"item {item} on stderr", file=sys.stderr)
    logging.getLogger("chatty").warning("item %s warned", item)
    if item == 1:
        raise ValueError("item 1 fails")
    return StepResult.ok(output={"item": item})


def chatty_pipeline(params: dict[str, Any]) -> dict[str, Any]:
    print(f"pipeline got {params['x']} in {os.getpid()}")
    logging.getLogger("chatty").error("pipeline error line")
    return {"x": params["x"]}


def stuck_pipeline(params: dict[str, Any]) -> dict[str, Any]:
    """Writes its process id to ``params["pidfile"]``, then sleeps far past any timeout."""
    Path(params["pidfile"]).write_text(str(os.getpid()))
    time.sleep(30)
    return {"pid": os.getpid()}


def nap_pipeline(params: dict[str, Any]) -> dict[str, Any]:
    time.sleep(params["s"])
    return {"slept": params["s"]}


def warm() -> int:
    """Imports what a shipped step needs, so a timed step measures the step, not imports."""
    import spine.framework.dispatcher
    import spine.orchestration.engine.remote_items  # noqa: F401

    time.sleep(0.2)  # held, so that each worker of a pool takes one call
    return os.getpid()


def _trace_seen() -> str:
    """The trace id current here (a worker process: the one its work was sent with)."""
    from opentelemetry import trace

    return f"{trace.get_current_span().get_span_context().trace_id:032x}"


def traced(ctx: WorkflowContext, config: dict[str, Any]) -> StepResult:
    print(f"item {ctx.params['item']} in {os.getpid()}")
    if ctx.params["item"] == 2:
        raise ValueError("item 2 fails")
    return StepResult.ok(output={"trace": _trace_seen(), "pid": os.getpid()})


def traced_pipeline(params: dict[str, Any]) -> dict[str, Any]:
    return {"trace": _trace_seen(), "pid": os.getpid()}
