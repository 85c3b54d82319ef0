"""Step functions for executor tests: importable by worker processes (and Dask workers).

Each item leaves a marker file per execution in ``params["marks"]`` so tests count
side effects across processes.
"""

from __future__ import annotations

import os
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
