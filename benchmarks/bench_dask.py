"""Issue 5: a map of 10,000 items on a Dask LocalCluster, beside client.map + gather.

Run: ``.venv/bin/python benchmarks/bench_dask.py [--items 10000] [--repeat 3]``. Starts a
``LocalCluster`` of 2 worker processes (1 thread each) and times, in the same run:

- the plain Dask program: ``client.gather(client.map(square, items))``;
- ``Step.map`` over the same items with ``WorkflowRunner(executor=DaskExecutor(client))``,
  without history, with SQLite history, and with one Dask task per item (chunk_size=1).

Writes ``benchmarks/results/dask.json``; the ratios are spine / plain Dask (target ≤ 1.5).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from spine.execution import DaskExecutor
from spine.orchestration import Step, StepResult, Workflow, WorkflowContext, WorkflowRunner


def square(x: int) -> int:
    return x * x


def square_step(ctx: WorkflowContext, config: dict[str, Any]) -> StepResult:
    return StepResult.ok(output={"y": square(ctx.params["item"])})


def _best(times: list[float]) -> float:
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from distributed import Client, LocalCluster

    items = list(range(args.items))
    item = Workflow("bench.item", [Step.lambda_("square", square_step)])
    # max_concurrency bounds the chunks in flight; 8 keeps both workers fed.
    fan = Workflow("bench.fan", [Step.map("each", "items", item, max_concurrency=8)])
    times: dict[str, list[float]] = {}

    def timed(label: str, action: Any) -> None:
        start = time.perf_counter()
        action()
        times.setdefault(label, []).append(time.perf_counter() - start)

    with (
        LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0") as cluster,
        Client(cluster) as client,
        tempfile.TemporaryDirectory() as tmp,
    ):
        expected = [x * x for x in items]
        executor = DaskExecutor(client)
        per_item = DaskExecutor(client, chunk_size=1)
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"

        def plain() -> None:
            assert client.gather(client.map(square, items, pure=False)) == expected

        def spine(runner: WorkflowRunner) -> None:
            result = runner.execute(fan, params={"items": items})
            assert result.status == "COMPLETED", result.error
            outputs = result.context.outputs["each"]["results"]
            assert [o["square"]["y"] for o in outputs] == expected

        with (
            WorkflowRunner(executor=executor) as memory,
            WorkflowRunner(executor=executor, database_url=url) as durable,
            WorkflowRunner(executor=per_item) as one_task_each,
        ):
            plain()  # warm the workers (imports, connections)
            spine(memory)
            for _ in range(args.repeat):
                timed("client.map + gather", plain)
                timed("spine map, no history", lambda: spine(memory))
                timed("spine map, SQLite history", lambda: spine(durable))
                timed("spine map, one Dask task per item", lambda: spine(one_task_each))

    base = _best(times["client.map + gather"])
    report = {
        label: {
            "best_s": _best(samples),
            "median_s": statistics.median(samples),
            "ratio": _best(samples) / base,
        }
        for label, samples in times.items()
    }
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "dask.json").write_text(json.dumps({"items": args.items, **report}, indent=2))
    print(f"{args.items} items, LocalCluster of 2 worker processes x 1 thread")
    print("| program | best s | median s | ratio to client.map |\n|---|---|---|---|")
    for label, row in report.items():
        print(f"| {label} | {row['best_s']:.2f} | {row['median_s']:.2f} | {row['ratio']:.2f}x |")


if __name__ == "__main__":
    main()
