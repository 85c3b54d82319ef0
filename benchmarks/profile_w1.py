"""Where W1's time goes at large N: garbage-collector passes, and instructions per step.

Collector time by generation:
    .venv/bin/python benchmarks/profile_w1.py --gc-stats
Instructions (run once with --reps 0 and subtract the setup):
    valgrind --tool=callgrind --callgrind-out-file=/dev/null \\
        .venv/bin/python benchmarks/profile_w1.py --n 100000 --reps 1
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from bench_engine import chain_step

from spine.orchestration import Step, Workflow, WorkflowRunner


def build(n: int) -> tuple[Workflow, WorkflowRunner]:
    steps = [Step.lambda_(f"s{k}", chain_step, config={"prev": f"s{k - 1}"}) for k in range(n)]
    return Workflow("profile.w1", steps), WorkflowRunner(max_steps=n)


def gc_stats(n: int) -> None:
    workflow, runner = build(n)
    spent: dict[int, list[float]] = {0: [0, 0.0], 1: [0, 0.0], 2: [0, 0.0]}
    started = [0.0]

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            entry = spent[info["generation"]]
            entry[0] += 1
            entry[1] += time.perf_counter() - started[0]

    gc.collect()
    before = len(gc.get_objects())
    gc.callbacks.append(on_gc)
    start = time.perf_counter()
    result = runner.execute(workflow)
    total = time.perf_counter() - start
    gc.callbacks.remove(on_gc)
    after = len(gc.get_objects())
    print(f"N={n:,}: {total / n * 1e6:.2f} µs/step, {len(result.step_executions):,} steps")
    for generation, (count, seconds) in spent.items():
        print(
            f"  generation {generation}: {int(count)} collections, {seconds / n * 1e6:.2f} µs/step"
        )
    per_step = (after - before) / n
    print(f"  GC-tracked objects: {before:,} before, {after:,} after ({per_step:.1f}/step)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--gc-stats", action="store_true")
    args = parser.parse_args()
    if args.gc_stats:
        gc_stats(1_000)
        gc_stats(args.n)
        return
    gc.disable()
    workflow, runner = build(args.n)
    for _ in range(args.reps):
        runner.execute(workflow)


if __name__ == "__main__":
    main()
