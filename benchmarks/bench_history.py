"""W4: W1 with durable history, beside plain Python and a plain driver loop (issue 3).

Run: ``.venv/bin/python benchmarks/bench_history.py`` (``--quick`` for a smoke run).
PostgreSQL figures need the server of ``SPINE_BENCH_POSTGRES`` (default: the local
test server); each PostgreSQL measurement uses a fresh schema, dropped afterwards.
Prints a Markdown table and writes ``benchmarks/results/history.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
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
    backend: str, n: int, engine: float, plain: float, plain_python: float, bytes_per_step: float
) -> dict[str, Any]:
    """One W4 row: seconds for N steps turned into per-step figures and ratios."""
    return {
        "backend": backend,
        "n": n,
        "engine_us_per_step": engine / n * 1e6,
        "plain_driver_us_per_step": plain / n * 1e6,
        "plain_python_us_per_step": plain_python / n * 1e6,
        "overhead_us_per_step": (engine - plain_python) / n * 1e6,
        "ratio_to_driver_loop": engine / plain,
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


def sqlite_case(n: int, synchronous: str, repeats: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/spine.db?synchronous={synchronous.lower()}"
        with WorkflowRunner(database_url=url, max_steps=n) as runner:
            workflow = chain(n)
            result = runner.execute(workflow)
            assert result.status == WorkflowStatus.COMPLETED
            engine = best_time(lambda: runner.execute(workflow), repeats)
            runs = 1 + repeats
        size = sum(p.stat().st_size for p in Path(tmp).glob("spine.db*"))
        plain = best_time(lambda: plain_sqlite(Path(tmp) / "spine.db", n, synchronous), repeats)
        plain_python = best_time(lambda: plain_chain(n), repeats)
        return figures(f"SQLite synchronous={synchronous}", n, engine, plain, plain_python,
                       size / (n * runs))  # fmt: skip


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
            engine = best_time(lambda: runner.execute(workflow), repeats)
            runs = 1 + repeats
        with psycopg.connect(POSTGRES, options=f"-csearch_path={schema}") as db:
            size = db.execute(
                "SELECT pg_total_relation_size('core_workflow_steps') "
                "+ pg_total_relation_size('core_workflow_runs')"
            ).fetchone()[0]  # type: ignore[index]
        plain = best_time(lambda: plain_postgres(schema, n, autocommit), repeats)
        plain_python = best_time(lambda: plain_chain(n), repeats)
    return figures("PostgreSQL", n, engine, plain, plain_python, float(size or 0) / (n * runs))


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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    sizes = (1_000,) if args.quick else (1_000, 10_000)
    repeats = 1 if args.quick else 3
    rows: list[dict[str, Any]] = []
    for n in sizes:
        rows.append(sqlite_case(n, "NORMAL", repeats))
        rows.append(sqlite_case(n, "FULL", repeats))
        pg = postgres_case(n, repeats)
        if pg is not None:
            rows.append(pg)
    resume = resume_case(1_000 if args.quick else 10_000)
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "history.json").write_text(json.dumps({"w4": rows, "resume": resume}, indent=2))
    print(render(rows, resume))


def render(rows: list[dict[str, Any]], resume: dict[str, Any]) -> str:
    lines = [
        "| W4 backend | N | engine | plain driver loop | engine / driver loop "
        "| overhead beyond plain Python | DB bytes per step |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['backend']} | {r['n']:,} | {r['engine_us_per_step']:.1f} µs/step | "
            f"{r['plain_driver_us_per_step']:.1f} µs/step | {r['ratio_to_driver_loop']:.2f}x | "
            f"{r['overhead_us_per_step']:.1f} µs/step | {r['bytes_per_step']:.0f} |"
        )
    lines.append(
        f"\nResume of a {resume['n']:,}-step run at its last step: "
        f"{resume['resume_seconds'] * 1000:.0f} ms (target ≤ 1 s)"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
