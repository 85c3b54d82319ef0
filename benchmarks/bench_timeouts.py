"""W1 and W4 (SQLite) with ``timeout_seconds`` on every step, beside the same chain
without: what a step's time limit adds per step (issue 15).

Run: ``.venv/bin/python benchmarks/bench_timeouts.py`` (``--quick`` for a smoke run).
Both chains run in this process, alternately, best of several runs each: the difference
is the cost of the helper thread a timed step runs on.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_engine import chain_step
from harness import best_time

from spine.orchestration import Step, Workflow, WorkflowRunner, WorkflowStatus


def chain(n: int, timeout: float | None) -> Workflow:
    steps = [
        Step.lambda_(f"s{k}", chain_step, config={"prev": f"s{k - 1}"}, timeout_seconds=timeout)
        for k in range(n)
    ]
    return Workflow("bench.timeouts", steps)


def per_step(runner: WorkflowRunner, n: int, repeats: int) -> tuple[float, float]:
    """µs per step without and with a 60 s limit on every step, measured alternately."""
    plain, timed = chain(n, None), chain(n, 60.0)
    for workflow in (plain, timed):
        assert runner.execute(workflow).status == WorkflowStatus.COMPLETED
    without = min(best_time(lambda: runner.execute(plain), repeats) for _ in range(3))
    with_ = min(best_time(lambda: runner.execute(timed), repeats) for _ in range(3))
    return without / n * 1e6, with_ / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n, repeats = (200, 3) if args.quick else (1_000, 10)
    rows = [("W1, no history", *per_step(WorkflowRunner(max_steps=n), n, repeats))]
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/spine.db?synchronous=normal"
        with WorkflowRunner(database_url=url, max_steps=n) as runner:
            rows.append(("W4, SQLite NORMAL", *per_step(runner, n, repeats)))
    print(f"| chain of N={n:,} lambda steps, inline | without | timeout_seconds on every step "
          "| added per step |")  # fmt: skip
    print("|---|---|---|---|")
    for label, without, with_ in rows:
        print(
            f"| {label} | {without:.1f} µs/step | {with_:.1f} µs/step | {with_ - without:.1f} µs |"
        )


if __name__ == "__main__":
    main()
