"""W1-W3 and import time for the in-process engine (issue 2), beside plain Python.

Run: ``.venv/bin/python benchmarks/bench_engine.py`` (``--quick`` for a smoke run).
Prints a Markdown table and writes ``benchmarks/results/engine.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from harness import best_time, traced_bytes

from spine.orchestration import (
    Step,
    StepResult,
    Workflow,
    WorkflowContext,
    WorkflowRunner,
    WorkflowStatus,
)

# ---- W1: a linear chain, step k reads step k-1's output ----------------------


def chain_step(ctx: WorkflowContext, config: dict[str, Any]) -> dict[str, int]:
    return {"value": ctx.get_output(config["prev"], "value", 0) + 1}


def plain_chain(n: int) -> dict[str, dict[str, int]]:
    # The same work without the engine: call a function per step, keep each output.
    def step(prev: dict[str, int]) -> dict[str, int]:
        return {"value": prev.get("value", 0) + 1}

    outputs: dict[str, dict[str, int]] = {}
    prev: dict[str, int] = {}
    for k in range(n):
        prev = step(prev)
        outputs[f"s{k}"] = prev
    return outputs


def w1(n: int, repeats: int) -> dict[str, Any]:
    workflow = Workflow(
        "bench.w1",
        [Step.lambda_(f"s{k}", chain_step, config={"prev": f"s{k - 1}"}) for k in range(n)],
    )
    runner = WorkflowRunner(max_steps=n)
    result = runner.execute(workflow)
    assert result.status == WorkflowStatus.COMPLETED
    assert result.context.get_output(f"s{n - 1}", "value") == n
    del result  # a kept result would make every collection during the timing slower
    repeats = max(repeats, 100_000 // n)  # small N: enough runs for a stable minimum
    engine = best_time(lambda: runner.execute(workflow), repeats)
    plain = best_time(lambda: plain_chain(n), repeats)
    engine_nogc = best_time(lambda: runner.execute(workflow), repeats, collector=False)
    plain_nogc = best_time(lambda: plain_chain(n), repeats, collector=False)
    kept, peak = traced_bytes(lambda: runner.execute(workflow))
    plain_kept, _ = traced_bytes(lambda: plain_chain(n))
    return {
        "n": n,
        "engine_us_per_step": engine / n * 1e6,
        "plain_us_per_step": plain / n * 1e6,
        "overhead_us_per_step": (engine - plain) / n * 1e6,
        "ratio": engine / plain,
        "overhead_us_per_step_gc_off": (engine_nogc - plain_nogc) / n * 1e6,
        "bytes_per_step_kept": kept / n,
        "bytes_per_step_peak": peak / n,
        "plain_bytes_per_step": plain_kept / n,
    }


# ---- W2: validate -> choice -> process or reject, many short runs ------------


def validate(ctx: WorkflowContext, config: dict[str, Any]) -> StepResult:
    return StepResult.ok(output={"valid": ctx.get_param("value", 0) % 2 == 0})


def process(ctx: WorkflowContext, config: dict[str, Any]) -> dict[str, Any]:
    return {"processed": ctx.get_param("value")}


def reject(ctx: WorkflowContext, config: dict[str, Any]) -> dict[str, Any]:
    return {"rejected": ctx.get_param("value")}


W2_WORKFLOW = Workflow(
    "bench.w2",
    [
        Step.lambda_("validate", validate),
        Step.choice(
            "route",
            condition=lambda ctx: ctx.get_output("validate", "valid", False),
            then_step="process",
            else_step="reject",
        ),
        Step.lambda_("process", process),
        Step.lambda_("reject", reject),
    ],
)


def plain_w2(runs: int) -> None:
    for value in range(runs):
        valid = value % 2 == 0
        _ = {"processed": value} if valid else {"rejected": value}


def w2(runs: int, repeats: int) -> dict[str, Any]:
    runner = WorkflowRunner()

    def engine_runs() -> None:
        for value in range(runs):
            runner.execute(W2_WORKFLOW, params={"value": value})

    check = runner.execute(W2_WORKFLOW, params={"value": 3})
    assert check.completed_steps == ["validate", "route", "reject"], check.completed_steps
    engine = best_time(engine_runs, repeats)
    plain = best_time(lambda: plain_w2(runs), repeats)
    return {
        "runs": runs,
        "engine_us_per_run": engine / runs * 1e6,
        "plain_us_per_run": plain / runs * 1e6,
        "overhead_us_per_run": (engine - plain) / runs * 1e6,
    }


# ---- W3: map over items, max_concurrency=4, beside a plain thread pool --------


def square(ctx: WorkflowContext, config: dict[str, Any]) -> dict[str, int]:
    item: int = ctx.get_param("item")
    return {"square": item * item}


def w3(items: int, repeats: int) -> dict[str, Any]:
    item_workflow = Workflow("bench.w3.item", [Step.lambda_("square", square)])
    workflow = Workflow(
        "bench.w3",
        [
            Step.map(
                "fan_out", items_path="items", iterator_workflow=item_workflow, max_concurrency=4
            )
        ],
    )
    runner = WorkflowRunner()
    data = list(range(items))
    result = runner.execute(workflow, params={"items": data})
    output = result.context.get_output("fan_out")
    assert output["item_count"] == items and output["failed_count"] == 0
    assert output["results"][7]["square"] == {"square": 49}

    def plain() -> list[int]:
        def work(item: int) -> dict[str, int]:
            return {"square": item * item}

        with ThreadPoolExecutor(4) as pool:
            return [r["square"] for r in pool.map(work, data)]

    engine = best_time(lambda: runner.execute(workflow, params={"items": data}), repeats)
    baseline = best_time(plain, repeats)
    return {
        "items": items,
        "engine_us_per_item": engine / items * 1e6,
        "plain_pool_us_per_item": baseline / items * 1e6,
        "overhead_us_per_item": (engine - baseline) / items * 1e6,
    }


# ---- import time -----------------------------------------------------------

HEAVY = (
    "dask",
    "distributed",
    "click",
    "typer",
    "rich",
    "sqlalchemy",
    "psycopg",
    "starlette",
    "fastapi",
    "uvicorn",
    "jinja2",
    "httpx",
)


def import_time(repeats: int) -> dict[str, Any]:
    def run(code: str) -> float:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        return time.perf_counter() - start

    bare = [run("pass") for _ in range(repeats)]
    spine = [run("import spine.orchestration") for _ in range(repeats)]
    probe = (
        "import sys, spine.orchestration; "
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True
    ).stdout.strip()
    return {
        "import_ms": (statistics.median(spine) - statistics.median(bare)) * 1000,
        "interpreter_ms": statistics.median(bare) * 1000,
        "heavy_modules_imported": loaded.split(",") if loaded else [],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat")
    args = parser.parse_args()
    repeats = 1 if args.quick else 5
    sizes = (1_000, 10_000) if args.quick else (1_000, 10_000, 100_000)
    results: dict[str, Any] = {
        "python": sys.version.split()[0],
        "w1": [w1(n, repeats) for n in sizes],
        "w2": w2(1_000, repeats),
        "w3": w3(1_000 if args.quick else 10_000, repeats),
        "import": import_time(3 if args.quick else 15),
    }
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "engine.json").write_text(json.dumps(results, indent=2))
    print(render(results))


def render(r: dict[str, Any]) -> str:
    lines = [
        "| benchmark | engine | plain Python | engine overhead | target |",
        "|---|---|---|---|---|",
    ]
    for row in r["w1"]:
        lines.append(
            f"| W1 chain, N={row['n']:,} | {row['engine_us_per_step']:.2f} µs/step | "
            f"{row['plain_us_per_step']:.2f} µs/step | {row['overhead_us_per_step']:.2f} µs/step"
            f" ({row['bytes_per_step_kept']:.0f} B/step kept, "
            f"{row['bytes_per_step_peak']:.0f} B/step peak) | ≤ 10 µs, ≤ 2 KiB |"
        )
    first, last = r["w1"][0], r["w1"][-1]
    flat = last["overhead_us_per_step"] / first["overhead_us_per_step"]
    flat_nogc = last["overhead_us_per_step_gc_off"] / first["overhead_us_per_step_gc_off"]
    for row in r["w1"]:
        lines.append(
            f"| W1 chain, N={row['n']:,}, garbage collector off | | | "
            f"{row['overhead_us_per_step_gc_off']:.2f} µs/step | ≤ 10 µs |"
        )
    lines.append(
        f"| W1 flatness (N={last['n']:,} vs N={first['n']:,}) | | | {flat:.2f}x "
        f"(collector off: {flat_nogc:.2f}x) | ≤ 1.2x |"
    )
    w2r = r["w2"]
    lines.append(
        f"| W2 validate→choice→process, {w2r['runs']:,} runs | {w2r['engine_us_per_run']:.1f} "
        f"µs/run | {w2r['plain_us_per_run']:.2f} µs/run | {w2r['overhead_us_per_run']:.1f} µs/run"
        " | ≤ 50 µs |"
    )
    w3r = r["w3"]
    lines.append(
        f"| W3 map, {w3r['items']:,} items, max_concurrency=4 | {w3r['engine_us_per_item']:.1f} "
        f"µs/item | {w3r['plain_pool_us_per_item']:.1f} µs/item (ThreadPoolExecutor) | "
        f"{w3r['overhead_us_per_item']:.1f} µs/item | ≤ 50 µs |"
    )
    imp = r["import"]
    heavy = ", ".join(imp["heavy_modules_imported"]) or "none"
    lines.append(
        f"| `import spine.orchestration` | {imp['import_ms']:.0f} ms beyond a bare interpreter "
        f"({imp['interpreter_ms']:.0f} ms) | | heavy libraries imported: {heavy} | ≤ 100 ms |"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
