"""W2 and W3 alone, best of 5: to compare two versions of the engine back to back.

Run against this checkout and an older commit alternately, e.g.::

    git worktree add /tmp/old 1a56eca
    PYTHONPATH=/tmp/old/src .venv/bin/python benchmarks/bench_ab.py   # before
    .venv/bin/python benchmarks/bench_ab.py                           # after

On a noisy machine only such alternating runs of the same short measurement compare.
"""

from __future__ import annotations

import time
from typing import Any

from spine.orchestration import Step, StepResult, Workflow, WorkflowContext, WorkflowRunner


def _square(ctx: WorkflowContext, config: dict[str, Any]) -> dict[str, Any]:
    return {"v": ctx.params["item"] ** 2}


def _validate(ctx: WorkflowContext, config: dict[str, Any]) -> StepResult:
    return StepResult.ok(output={"ok": ctx.params["i"] % 2 == 0})


def _done(ctx: WorkflowContext, config: dict[str, Any]) -> dict[str, Any]:
    return {"done": True}


def _best(action: Any, repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    item = Workflow("ab.item", [Step.lambda_("sq", _square)])
    fan = Workflow("ab.map", [Step.map("each", "items", item, max_concurrency=4)])
    w2 = Workflow("ab.w2", [
        Step.lambda_("validate", _validate),
        Step.choice("route", lambda ctx: ctx.get_output("validate", "ok"),
                    then_step="process", else_step="reject"),
        Step.lambda_("process", _done, next="end"),
        Step.lambda_("reject", _done),
        Step.lambda_("end", _done),
    ])  # fmt: skip
    items = list(range(10_000))
    with WorkflowRunner() as runner:
        w3_time = _best(lambda: runner.execute(fan, params={"items": items}))
        w2_time = _best(lambda: [runner.execute(w2, params={"i": i}) for i in range(2000)])
    print(f"W3 {w3_time / len(items) * 1e6:.1f} us/item   W2 {w2_time / 2000 * 1e6:.1f} us/run")


if __name__ == "__main__":
    main()
