"""History at engine speed (issues 3 and 16): W4 beside its floors, a 100,000-item map.

Run: ``.venv/bin/python benchmarks/bench_history.py`` (``--quick`` for a smoke run).
PostgreSQL figures need the server of ``SPINE_BENCH_POSTGRES`` (default: the local
test server); each PostgreSQL measurement uses a fresh schema, dropped afterwards.
Prints Markdown tables and writes ``benchmarks/results/history.json``.

- **W4** is W1 with history on: a chain of N lambda steps, each step's row committed
  before the next starts. Its floors, measured in the same process, alternately with
  the engine (engine, floor, engine, floor...) so that both see the same machine:
  ``plain_sqlite`` (``sqlite3``, WAL, the same ``synchronous``: ``BEGIN IMMEDIATE``,
  one ``INSERT`` of the same row, ``COMMIT`` per step) and ``plain_postgres(...,
  autocommit=True)`` (``psycopg``, one autocommit ``INSERT`` per step: one round trip,
  the least any durable engine can do).
- **Map**: one map step over 100,000 integers, ``max_concurrency=4``, each item a
  one-step workflow (W3's shape), without history and with SQLite history, each run
  in a fresh subprocess (alternately): its time, and how much its peak resident
  memory (``ru_maxrss``) grew during the run, per item.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from bench_engine import chain_step, plain_chain
from harness import best_time

from spine.orchestration import (
    Step,
    StepResult,
    Workflow,
    WorkflowContext,
    WorkflowRunner,
    WorkflowStatus,
)

POSTGRES = os.environ.get("SPINE_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")

STEP_COLUMNS = (
    "step_id, run_id, step_name, step_type, step_order, status, started_at, completed_at, "
    "duration_ms, params, outputs, error, error_category, row_count, attempt, "
    "context_updates, next_step, will_retry, quality"
)


def chain(n: int) -> Workflow:
    return Workflow(
        "bench.w4",
        [Step.lambda_(f"s{k}", chain_step, config={"prev": f"s{k - 1}"}) for k in range(n)],
    )


def _row(run_id: str, k: int) -> tuple[Any, ...]:
    # The row spine writes for a W1 step, built the way a hand-written loop would.
    stamp = "2026-11-25T12:00:00.000000+00:00"
    return (
        f"{run_id}:{k}:1", run_id, f"s{k}", "lambda", k, "COMPLETED", stamp, stamp, 0,
        '{"prev": "s0"}', json.dumps({"value": k + 1}), None, None, None, 1, "{}",
        f"s{k + 1}", 0, None,
    )  # fmt: skip


def figures(
    backend: str,
    n: int,
    engine: list[float],
    plain: list[float],
    plain_python: float,
    bytes_per_step: float,
) -> dict[str, Any]:
    """One W4 row: the seconds of each N-step measurement turned into per-step figures
    (best and median) and ratios."""
    best, floor = min(engine), min(plain)
    return {
        "backend": backend,
        "n": n,
        "engine_us_per_step": best / n * 1e6,
        "engine_median_us_per_step": statistics.median(engine) / n * 1e6,
        "plain_driver_us_per_step": floor / n * 1e6,
        "plain_driver_median_us_per_step": statistics.median(plain) / n * 1e6,
        "plain_python_us_per_step": plain_python / n * 1e6,
        "overhead_us_per_step": (best - plain_python) / n * 1e6,
        "ratio_to_driver_loop": best / floor,
        "ratio_of_medians": statistics.median(engine) / statistics.median(plain),
        "bytes_per_step": bytes_per_step,
    }


# ---- SQLite --------------------------------------------------------------------


def plain_sqlite(path: Path, n: int, synchronous: str) -> None:
    """One committed row per step into the same table, with plain sqlite3."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute(f"PRAGMA synchronous = {synchronous}")
    run_id = str(uuid.uuid4())
    sql = f"INSERT INTO core_workflow_steps ({STEP_COLUMNS}) VALUES ({', '.join('?' * 19)})"
    outputs: dict[str, Any] = {}
    prev: dict[str, int] = {}
    for k in range(n):
        prev = {"value": prev.get("value", 0) + 1}
        outputs[f"s{k}"] = prev
        db.execute("BEGIN IMMEDIATE")
        db.execute(sql, _row(run_id, k))
        db.execute("COMMIT")
    db.close()


def alternately(
    engine: Callable[[], Any], floor: Callable[[], Any], repeats: int
) -> tuple[list[float], list[float]]:
    """Seconds of ``engine`` and of ``floor``, measured in turn ``repeats`` times each."""
    engine_times, floor_times = [], []
    gc.collect()
    for _ in range(repeats):
        for fn, times in ((engine, engine_times), (floor, floor_times)):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    return engine_times, floor_times


def sqlite_case(n: int, synchronous: str, repeats: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/spine.db?synchronous={synchronous.lower()}"
        with WorkflowRunner(database_url=url, max_steps=n) as runner:
            workflow = chain(n)
            result = runner.execute(workflow)
            assert result.status == WorkflowStatus.COMPLETED
            engine, plain = alternately(
                lambda: runner.execute(workflow),
                lambda: plain_sqlite(Path(tmp) / "spine.db", n, synchronous),
                repeats,
            )
        size = sum(p.stat().st_size for p in Path(tmp).glob("spine.db*"))
        plain_python = best_time(lambda: plain_chain(n), repeats)
        return figures(f"SQLite synchronous={synchronous}", n, engine, plain, plain_python,
                       size / (n * 2 * (1 + repeats)))  # fmt: skip


# ---- PostgreSQL -------------------------------------------------------------------


@contextmanager
def postgres_schema() -> Iterator[str]:
    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
        try:
            yield schema
        finally:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


def plain_postgres(schema: str, n: int, autocommit: bool = False) -> None:
    """One committed row per step: BEGIN, INSERT, COMMIT, as the engine's history writes
    it; or with ``autocommit``, each INSERT its own transaction in a single round trip."""
    import psycopg

    with psycopg.connect(POSTGRES, options=f"-csearch_path={schema}", autocommit=autocommit) as db:
        run_id = str(uuid.uuid4())
        marks = ", ".join(["%s"] * 19)
        sql = f"INSERT INTO core_workflow_steps ({STEP_COLUMNS}) VALUES ({marks})"
        prev: dict[str, int] = {}
        for k in range(n):
            prev = {"value": prev.get("value", 0) + 1}
            with db.cursor() as cursor:
                cursor.execute(sql, _row(run_id, k))
            db.commit()


def postgres_case(n: int, repeats: int, autocommit: bool = False) -> dict[str, Any] | None:
    try:
        import psycopg

        psycopg.connect(POSTGRES, connect_timeout=3).close()
    except Exception as exc:  # the table says why the row is missing
        print(f"PostgreSQL skipped: {exc}", file=sys.stderr)
        return None
    with postgres_schema() as schema:
        url = f"{POSTGRES}?options=-csearch_path%3D{schema}"
        with WorkflowRunner(database_url=url, max_steps=n) as runner:
            workflow = chain(n)
            assert runner.execute(workflow).status == WorkflowStatus.COMPLETED
            engine, plain = alternately(
                lambda: runner.execute(workflow),
                lambda: plain_postgres(schema, n, autocommit),
                repeats,
            )
        with psycopg.connect(POSTGRES, options=f"-csearch_path={schema}") as db:
            size = db.execute(
                "SELECT pg_total_relation_size('core_workflow_steps') "
                "+ pg_total_relation_size('core_workflow_runs')"
            ).fetchone()[0]  # type: ignore[index]
        plain_python = best_time(lambda: plain_chain(n), repeats)
    rows = n * 2 * (1 + repeats)
    return figures("PostgreSQL", n, engine, plain, plain_python, float(size or 0) / rows)


# ---- resume ------------------------------------------------------------------------


def resume_case(n: int) -> dict[str, Any]:
    failed_once: list[bool] = []

    def last_step(ctx: WorkflowContext, config: dict[str, Any]) -> StepResult:
        if not failed_once:
            failed_once.append(True)
            return StepResult.fail("first try fails")
        return StepResult.ok(output={"done": ctx.get_output(f"s{n - 2}", "value")})

    steps = [Step.lambda_(f"s{k}", chain_step, config={"prev": f"s{k - 1}"}) for k in range(n - 1)]
    workflow = Workflow("bench.resume", [*steps, Step.lambda_("last", last_step)])
    with (
        tempfile.TemporaryDirectory() as tmp,
        WorkflowRunner(database_url=f"sqlite:///{tmp}/r.db", max_steps=n) as runner,
    ):
        failed = runner.execute(workflow)
        assert failed.error_step == "last"
        start = time.perf_counter()
        resumed = runner.resume(failed.run_id, workflow)
        seconds = time.perf_counter() - start
        assert resumed.status == WorkflowStatus.COMPLETED
        assert resumed.context.get_output("last", "done") == n - 1
    return {"n": n, "resume_seconds": seconds}


# ---- a map of 100,000 items, with and without history --------------------------


def map_child(items: int, history: bool, traced: bool = False) -> dict[str, Any]:
    """In a fresh process: one map of ``items`` items (W3's shape); its seconds and how
    much the process's peak resident memory grew while it ran; ``traced``: instead, what
    ``tracemalloc`` saw of Python's heap, kept by the result and at the peak."""
    from bench_engine import square

    item = Workflow("bench.map.item", [Step.lambda_("square", square)])
    workflow = Workflow("bench.map", [Step.map("fan_out", "items", item, max_concurrency=4)])
    data = list(range(items))
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/spine.db" if history else None
        with WorkflowRunner(database_url=url) as runner:
            runner.execute(workflow, params={"items": data[:100]})  # (connections, caches)
            gc.collect()
            if traced:
                tracemalloc.start()
            base = tracemalloc.get_traced_memory()[0]
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            start = time.perf_counter()
            result = runner.execute(workflow, params={"items": data})
            seconds = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            gc.collect()
            kept, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            assert result.status == WorkflowStatus.COMPLETED, result.error
            output = result.context.get_output("fan_out")
            assert output["item_count"] == items and output["results"][7]["square"] == {
                "square": 49
            }
            if history:
                store = runner.store
                assert store is not None
                assert store.item_counts(result.run_id, "fan_out#0") == {"COMPLETED": items}
    if traced:
        return {"kept_bytes": kept - base, "peak_bytes": peak - base}
    return {"seconds": seconds, "peak_growth_bytes": (after - before) * 1024}


def map_case(items: int, repeats: int) -> dict[str, Any]:
    """The map without and with SQLite history, each in fresh subprocesses, alternately."""

    def child(*args: str) -> dict[str, Any]:
        command = [sys.executable, __file__, "--map-child", *args]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return found

    runs: dict[str, list[dict[str, Any]]] = {"without": [], "with": []}
    for _ in range(repeats):
        for name in runs:
            runs[name].append(child(str(items), name))
    # Python's heap, traced (slower: a fifth of the items).
    traced = {name: child(str(items // 5), name, "traced") for name in runs}

    def best(name: str, key: str) -> float:
        return min(float(r[key]) for r in runs[name])

    return {
        "items": items,
        "without_seconds": best("without", "seconds"),
        "with_seconds": best("with", "seconds"),
        "ratio": best("with", "seconds") / best("without", "seconds"),
        "ratios_per_round": [
            w["seconds"] / o["seconds"] for w, o in zip(runs["with"], runs["without"], strict=True)
        ],
        "without_peak_growth_bytes_per_item": best("without", "peak_growth_bytes") / items,
        "with_peak_growth_bytes_per_item": best("with", "peak_growth_bytes") / items,
        "traced_items": items // 5,
        "traced_bytes_per_item": {
            name: {key: value / (items // 5) for key, value in found.items()}
            for name, found in traced.items()
        },
        "runs": runs,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--map-child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.map_child:
        items, history, *traced = args.map_child
        print(json.dumps(map_child(int(items), history == "with", bool(traced))))
        return
    sizes = (1_000,) if args.quick else (1_000, 10_000)
    repeats = 2 if args.quick else 7
    rows: list[dict[str, Any]] = []
    for n in sizes:
        rows.append(sqlite_case(n, "NORMAL", repeats))
        rows.append(sqlite_case(n, "FULL", max(2, repeats // 2)))
        pg = postgres_case(n, repeats, autocommit=True)
        if pg is not None:
            rows.append(pg)
    resume = resume_case(1_000 if args.quick else 10_000)
    mapped = map_case(10_000 if args.quick else 100_000, 1 if args.quick else 3)
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "history.json").write_text(
        json.dumps({"w4": rows, "resume": resume, "map": mapped}, indent=2)
    )
    print(render(rows, resume, mapped))


def render(rows: list[dict[str, Any]], resume: dict[str, Any], mapped: dict[str, Any]) -> str:
    lines = [
        "| W4 backend | N | engine: best / median | floor: best / median "
        "| engine / floor: bests / medians | overhead beyond plain Python | DB bytes per step |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['backend']} | {r['n']:,} | {r['engine_us_per_step']:.1f} / "
            f"{r['engine_median_us_per_step']:.1f} µs | {r['plain_driver_us_per_step']:.1f} / "
            f"{r['plain_driver_median_us_per_step']:.1f} µs | {r['ratio_to_driver_loop']:.2f}x / "
            f"{r['ratio_of_medians']:.2f}x | {r['overhead_us_per_step']:.1f} µs | "
            f"{r['bytes_per_step']:.0f} |"
        )
    lines.append(
        f"\nResume of a {resume['n']:,}-step run at its last step: "
        f"{resume['resume_seconds'] * 1000:.0f} ms (target ≤ 1 s)"
    )
    m, t = mapped, mapped["traced_bytes_per_item"]
    rounds = ", ".join(f"{ratio:.2f}" for ratio in m["ratios_per_round"])
    lines += [
        "",
        "| map of N items, max_concurrency=4, inline | without history | with SQLite history "
        "| with / without (best; per round) | peak RSS growth per item, without / with |",
        "|---|---|---|---|---|",
        f"| N={m['items']:,} | {m['without_seconds']:.2f} s | {m['with_seconds']:.2f} s | "
        f"{m['ratio']:.2f}x; {rounds} | {m['without_peak_growth_bytes_per_item']:.0f} / "
        f"{m['with_peak_growth_bytes_per_item']:.0f} B |",
        "",
        f"Python's heap per item (tracemalloc, N={m['traced_items']:,}), without / with "
        f"history: kept {t['without']['kept_bytes']:.0f} / {t['with']['kept_bytes']:.0f} B, "
        f"peak {t['without']['peak_bytes']:.0f} / {t['with']['peak_bytes']:.0f} B",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
