"""A/B benchmark of two versions of the engine, measured alternately: is B slower than A?

Usage (``--a`` and ``--b`` are the ``src`` directories of two checkouts; A is the
reference, B the candidate)::

    git worktree add /tmp/spine-base <old commit>
    .venv/bin/python benchmarks/bench_ab.py --a /tmp/spine-base/src --b /work/main/src \\
        [--rounds 3] [--quick] [--only W1,W4-pg,Q] [--json ab.json]

Every measurement runs in a fresh subprocess with ``PYTHONPATH=<src dir>``, which wins over
the editable install (the child reports which ``spine`` it imported, and the run stops if
it is not the one asked for). Each round measures every figure three times, A, B, then A
again (A'), so both versions see the same machine noise, and A' against A shows how far
the same code moves on its own (the A/A spread). The figures come from the functions of
``bench_engine``, ``bench_history`` and ``bench_queue``, with the plain baseline each has
measured in the same subprocess:

========== =====================================================================
W1-1k      W1 chain of lambda steps, no history, N=1,000: overhead per step beyond
           plain Python (best of 100 runs)
W1-10k     the same, N=10,000 (best of 10)
W2         W2 validate -> choice -> process or reject, 1,000 runs: time per run
W3         W3 map of 10,000 items inline, max_concurrency=4: time per item;
           baseline: a ThreadPoolExecutor(4)
W4-sqlite  W1 with SQLite history (WAL, synchronous=NORMAL), N=1,000: time per
           step; floor: a plain ``sqlite3`` loop committing one row per step
W4-pg      W1 with PostgreSQL history, N=1,000, in a fresh schema dropped after:
           time per step; floor: a plain psycopg loop, one autocommit INSERT a step
Q-2w       queue: N three-step runs submitted to PostgreSQL (fresh schema), run by
           2 ``spine worker`` processes: runs/s from the first claim to the last
           run's end, best of 2 (N=2,000; 1,000 with --quick)
Q-4w       the same with 4 workers
Q-4x4      the same with 4 workers of 4 threads each (``--concurrency 4``)
========== =====================================================================

``--only`` takes keys or their prefixes, case-insensitive (``W1``, ``W4``, ``Q``).
PostgreSQL is ``SPINE_BENCH_POSTGRES`` (default ``postgresql://postgres@127.0.0.1:5432/test``);
without a server its figures are "skipped". Measurements run one at a time.

The report is a Markdown table, one row per figure: A and B best and median over the
rounds (A' serves only the spread), B/A of the medians, the A/A spread (the largest
``|A' - A| / A`` of a round), the medians of the plain baselines (if they moved between A
and B, so did the machine), and the verdict: "ok" when B is no worse than A by more than
max(A/A spread, 5%), "ok (noisy)" when that allowance exceeds 20% (rerun on a quieter
machine before concluding), else "B worse by N%". The exit status is 1 if a figure is
worse or a measurement failed. ``--json`` also writes every sample and the summary.

``--quick`` (fewer repeats, smaller queue runs) takes about 2.5 minutes on an idle 2-core
machine, the default about 3.5 minutes (3 rounds each), both longer when it is busy. Use
3 rounds or more: the median of two is their mean, which one disturbed sample moves.
Only public API is used (``spine.orchestration``, the ``spine`` command, found in each
checkout's pyproject.toml), so the two versions may lay out their internal modules differently.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TOLERANCE = 0.05  # B may be this much worse than A, or A's own spread if larger
NOISY = 0.20  # an A/A spread beyond this says little can be concluded: "ok (noisy)"


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    unit: str
    higher_is_better: bool = False


def sizes(quick: bool) -> dict[str, int]:
    """Work per measurement: each takes 0.2-3 s (a few more repeats without --quick)."""
    return {
        "w1_repeats": 3 if quick else 5,  # bench_engine.w1 raises it to 100 (10) at N=1k (10k)
        "w2_runs": 1_000,
        "w2_repeats": 10 if quick else 20,
        "w3_items": 10_000,
        "w3_repeats": 2 if quick else 5,
        "w4_steps": 1_000,
        "w4_sqlite_repeats": 5 if quick else 10,
        "w4_pg_repeats": 2 if quick else 5,
        "queue_runs": 1_000 if quick else 2_000,
        "queue_tries": 2,  # the best of these measurements
    }


def figures(quick: bool) -> list[Figure]:
    s = sizes(quick)
    return [
        Figure("W1-1k", "W1 chain N=1,000, overhead", "µs/step"),
        Figure("W1-10k", "W1 chain N=10,000, overhead", "µs/step"),
        Figure("W2", f"W2 choice, {s['w2_runs']:,} runs", "µs/run"),
        Figure("W3", f"W3 map, {s['w3_items']:,} items", "µs/item"),
        Figure("W4-sqlite", f"W4 SQLite NORMAL N={s['w4_steps']:,}", "µs/step"),
        Figure("W4-pg", f"W4 PostgreSQL N={s['w4_steps']:,}", "µs/step"),
        Figure("Q-2w", f"queue {s['queue_runs']:,} runs, 2 workers", "runs/s", True),
        Figure("Q-4w", f"queue {s['queue_runs']:,} runs, 4 workers", "runs/s", True),
        Figure("Q-4x4", f"queue {s['queue_runs']:,} runs, 4x4 threads", "runs/s", True),
    ]


def selected(key: str, only: list[str] | None) -> bool:
    if not only:
        return True
    key = key.lower()
    return any(key == token or key.startswith(token + "-") for token in only)


# ---- one measurement (in the child process) ----------------------------------


def measure(key: str, quick: bool) -> tuple[float | None, float | None]:
    """(the figure, its plain baseline) for the ``spine`` on sys.path; None if skipped."""
    sys.path.insert(0, str(HERE))
    import bench_engine
    import bench_history
    import bench_queue

    s = sizes(quick)

    def w1(n: int) -> tuple[float, float]:
        r = bench_engine.w1(n, s["w1_repeats"])
        return r["overhead_us_per_step"], r["plain_us_per_step"]

    def w2() -> tuple[float, float]:
        r = bench_engine.w2(s["w2_runs"], s["w2_repeats"])
        return r["engine_us_per_run"], r["plain_us_per_run"]

    def w3() -> tuple[float, float]:
        r = bench_engine.w3(s["w3_items"], s["w3_repeats"])
        return r["engine_us_per_item"], r["plain_pool_us_per_item"]

    def w4_sqlite() -> tuple[float, float]:
        r = bench_history.sqlite_case(s["w4_steps"], "NORMAL", s["w4_sqlite_repeats"])
        return r["engine_us_per_step"], r["plain_driver_us_per_step"]

    def w4_pg() -> tuple[float | None, float | None]:
        r = bench_history.postgres_case(s["w4_steps"], s["w4_pg_repeats"], autocommit=True)
        if r is None:
            return None, None
        return r["engine_us_per_step"], r["plain_driver_us_per_step"]

    def queue(workers: int, threads: int = 1) -> tuple[float, None]:
        with bench_queue.queue_app() as app:
            rates = [
                bench_queue.measure(workers, s["queue_runs"], app, threads)[1]
                for _ in range(s["queue_tries"])
            ]
        return max(rates), None

    cases: dict[str, Callable[[], tuple[float | None, float | None]]] = {
        "W1-1k": lambda: w1(1_000),
        "W1-10k": lambda: w1(10_000),
        "W2": w2,
        "W3": w3,
        "W4-sqlite": w4_sqlite,
        "W4-pg": w4_pg,
        "Q-2w": lambda: queue(2),
        "Q-4w": lambda: queue(4),
        "Q-4x4": lambda: queue(4, 4),
    }
    return cases[key]()


def child(key: str, quick: bool) -> None:
    import spine

    value, baseline = measure(key, quick)
    print(json.dumps({"value": value, "baseline": baseline, "spine": spine.__file__}))


# ---- the parent: alternate the versions, then compare --------------------------


def run_one(src: Path, key: str, quick: bool) -> dict[str, Any]:
    """One measurement in a fresh interpreter importing spine from ``src``."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", key]
    if quick:
        command.append("--quick")
    env = {**os.environ, "PYTHONPATH": str(src)}
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=900, check=False
        )
    except subprocess.TimeoutExpired:
        return {"error": "timed out after 900 s"}
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
        return {"error": tail[0], "seconds": seconds}
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    if not Path(result["spine"]).resolve().is_relative_to(src):
        sys.exit(f"{src}: the child imported {result['spine']} (is {src} a src directory?)")
    result["seconds"] = seconds
    return result


def describe(src: Path) -> str:
    """The checkout's commit, and whether its files differ from it."""
    git = ["git", "-C", str(src)]
    try:
        commit = subprocess.run(
            [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            [*git, "status", "--porcelain", "--untracked-files=no", "."],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return str(src)
    return f"{src} ({commit}{', with uncommitted changes' if dirty else ''})"


def summarize(figure: Figure, samples: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    def values(version: str, field: str = "value") -> list[float | None]:
        return [s.get(field) for s in samples[version]]

    a, b, a2 = values("A"), values("B"), values("A'")
    row: dict[str, Any] = {**figure.__dict__, "samples": samples}
    errors = [s["error"] for v in samples.values() for s in v if "error" in s]
    if errors:
        row["verdict"] = f"error: {errors[0]}"
    a_ok = [x for x in a if x is not None]
    b_ok = [x for x in b if x is not None]
    if not a_ok or not b_ok:
        row.setdefault("verdict", "skipped")
        return row
    best = max if figure.higher_is_better else min
    row["a_best"], row["a_median"] = best(a_ok), statistics.median(a_ok)
    row["b_best"], row["b_median"] = best(b_ok), statistics.median(b_ok)
    row["ratio"] = row["b_median"] / row["a_median"]
    pairs = [(x, y) for x, y in zip(a, a2, strict=True) if x is not None and y is not None]
    row["aa_spread"] = max((abs(y - x) / x for x, y in pairs), default=None)
    baselines = {v: [x for x in values(v, "baseline") if x is not None] for v in ("A", "B")}
    if baselines["A"] and baselines["B"]:
        row["baseline_a_median"] = statistics.median(baselines["A"])
        row["baseline_b_median"] = statistics.median(baselines["B"])
    worse = 1 - row["ratio"] if figure.higher_is_better else row["ratio"] - 1
    allowed = max(row["aa_spread"] or 0.0, TOLERANCE)
    noisy = " (noisy)" if allowed > NOISY else ""
    row.setdefault("verdict", f"ok{noisy}" if worse <= allowed else f"B worse by {worse:.0%}")
    return row


def number(x: float | None) -> str:
    if x is None:
        return "n/a"
    if abs(x) >= 99.95:
        return f"{x:,.0f}"
    return f"{x:.1f}" if abs(x) >= 9.995 else f"{x:.2f}"


def render(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| figure | A best / median | B best / median | B/A (medians) | A/A spread "
        "| baseline A / B (medians) | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        unit = r["unit"]
        if "a_median" not in r:
            lines.append(f"| {r['label']} ({unit}) | | | | | | {r['verdict']} |")
            continue
        spread = "n/a" if r["aa_spread"] is None else f"{r['aa_spread']:.1%}"
        base = (
            f"{number(r['baseline_a_median'])} / {number(r['baseline_b_median'])}"
            if "baseline_a_median" in r
            else ""
        )
        lines.append(
            f"| {r['label']} ({unit}{', higher is better' if r['higher_is_better'] else ''}) "
            f"| {number(r['a_best'])} / {number(r['a_median'])} "
            f"| {number(r['b_best'])} / {number(r['b_median'])} | {r['ratio']:.3f} "
            f"| {spread} | {base} | {r['verdict']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--a", type=Path, help="src directory of version A (the reference)")
    parser.add_argument("--b", type=Path, help="src directory of version B (the candidate)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of A, B, A' (default 3)")
    parser.add_argument("--quick", action="store_true", help="fewer repeats, smaller runs")
    parser.add_argument("--only", help="comma-separated figure keys or prefixes: W1,W4-pg,Q")
    parser.add_argument("--json", type=Path, help="also write the samples and summary here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.quick)
        return
    if args.a is None or args.b is None:
        parser.error("--a and --b are required")
    versions = {"A": args.a.resolve(), "B": args.b.resolve()}
    for name, src in versions.items():
        if not (src / "spine" / "__init__.py").is_file():
            parser.error(f"--{name.lower()} {src}: no spine package there")
    versions["A'"] = versions["A"]
    rounds = args.rounds
    if rounds < 1:
        parser.error("--rounds must be at least 1")
    only = [t.strip().lower() for t in args.only.split(",")] if args.only else None
    chosen = [f for f in figures(args.quick) if selected(f.key, only)]
    if not chosen:
        parser.error(f"--only {args.only}: no figure matches")

    print(f"A: {describe(versions['A'])}\nB: {describe(versions['B'])}", file=sys.stderr)
    samples = {f.key: {v: [] for v in versions} for f in chosen}
    start = time.perf_counter()
    for round_ in range(1, rounds + 1):
        for figure in chosen:
            for version, src in versions.items():
                result = run_one(src, figure.key, args.quick)
                samples[figure.key][version].append(result)
                shown = result.get("error") or number(result.get("value"))
                print(
                    f"round {round_}/{rounds} {figure.key:9} {version:2} {shown} "
                    f"({result.get('seconds', 0):.1f} s)",
                    file=sys.stderr,
                )
    elapsed = time.perf_counter() - start
    rows = [summarize(f, samples[f.key]) for f in chosen]
    print(f"\nA = {describe(versions['A'])}, B = {describe(versions['B'])}")
    plural = "s" if rounds > 1 else ""
    print(
        f"{rounds} round{plural} of A, B, A'{' (--quick)' if args.quick else ''}, {elapsed:.0f} s\n"
    )
    print(render(rows))
    if args.json:
        report = {
            "a": str(versions["A"]),
            "b": str(versions["B"]),
            "rounds": rounds,
            "quick": args.quick,
            "python": sys.version.split()[0],
            "seconds": elapsed,
            "figures": rows,
        }
        args.json.write_text(json.dumps(report, indent=2))
    if any(not r["verdict"].startswith(("ok", "skipped")) for r in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
