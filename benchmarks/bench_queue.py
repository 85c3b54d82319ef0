"""Issue 5: queue throughput of ``spine worker`` processes on PostgreSQL.

Run: ``.venv/bin/python benchmarks/bench_queue.py [--runs 2000]``. Submits 3-step runs,
starts 1, 2 and 4 worker processes, and measures runs completed per second (from the
first worker start to the last run's end). Writes ``benchmarks/results/queue.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

APP = """
from spine.orchestration import Step, Workflow, register_workflow
flow = register_workflow(Workflow("bench.queue", [
    Step.lambda_(name, lambda ctx, cfg: {"ok": True}) for name in ("a", "b", "c")
]))
"""
POSTGRES = os.environ.get("SPINE_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def spine_command() -> list[str]:
    """The ``spine`` command of the spine package this process imports (PYTHONPATH's when
    set): the console script its checkout's pyproject.toml declares, run by this Python.
    Workers so run the same version as this process, wherever that version keeps its CLI."""
    import spine

    pyproject = Path(spine.__file__).resolve().parents[2] / "pyproject.toml"
    target = tomllib.loads(pyproject.read_text())["project"]["scripts"]["spine"]
    module, _, function = target.partition(":")
    return [
        sys.executable,
        "-c",
        f"import sys; from {module} import {function}; sys.exit({function}())",
    ]


@contextmanager
def queue_app() -> Iterator[Path]:
    """The ``--app`` file defining the workflow ``bench.queue``, imported here too."""
    with tempfile.TemporaryDirectory() as tmp:
        app = Path(tmp) / "queue_app.py"
        app.write_text(APP)
        sys.path.insert(0, tmp)
        try:
            __import__("queue_app")
            yield app
        finally:
            sys.path.remove(tmp)


def measure(workers: int, runs: int, app: Path, threads: int = 1) -> tuple[float, float]:
    """Runs per second: from the first worker's launch, and from the first claim (the
    workers' start-up left out) to the last run's end."""
    import psycopg

    from spine.orchestration import WorkflowRunner, get_workflow

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
        try:
            url = f"{POSTGRES}?options=-csearch_path%3D{schema}"
            with WorkflowRunner(database_url=url) as client:
                flow = get_workflow("bench.queue")
                for _ in range(runs):
                    client.submit(flow)
                store = client.store
                assert store is not None
                start = time.perf_counter()
                procs = [
                    subprocess.Popen(
                        [*spine_command(), "--db", url, "worker", "--app", str(app),
                         "--poll", "0.05", "--concurrency", str(threads)],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                    )
                    for _ in range(workers)
                ]  # fmt: skip
                try:
                    while store.list_runs(status="PENDING", limit=1) or store.list_runs(
                        status="RUNNING", limit=1
                    ):
                        if all(proc.poll() is not None for proc in procs):
                            raise RuntimeError(f"the workers exited: {spine_command()}")
                        time.sleep(0.05)
                    elapsed = time.perf_counter() - start
                finally:
                    for proc in procs:
                        proc.send_signal(signal.SIGTERM)
                    for proc in procs:
                        proc.wait(30)
                done = store.list_runs(status="COMPLETED", limit=runs + 1)
                assert len(done) == runs, len(done)
                first = min(run.started_at for run in done)
                last = max(run.completed_at or 0.0 for run in done)
        finally:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
    return runs / elapsed, runs / (last - first)


def latency(app: Path, samples: int = 20) -> float:
    """Median seconds from submit() to the first step starting, on an idle worker."""
    import psycopg

    from spine.orchestration import WorkflowRunner, get_workflow

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
        url = f"{POSTGRES}?options=-csearch_path%3D{schema}"
        worker = None
        try:
            with WorkflowRunner(database_url=url) as client:
                worker = subprocess.Popen(
                    [*spine_command(), "--db", url, "worker", "--app", str(app)],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )  # fmt: skip
                store = client.store
                assert store is not None
                delays = []
                pause = random.Random(7)
                for _ in range(samples):
                    # Let the worker go idle, at a random phase of its polling.
                    time.sleep(pause.uniform(0.2, 0.45))
                    submitted = time.time()
                    run_id = client.submit(get_workflow("bench.queue"))
                    while not store.load_run(run_id).steps:
                        time.sleep(0.002)
                    delays.append(store.load_run(run_id).steps[0].started_at - submitted)
        finally:
            if worker is not None:
                worker.send_signal(signal.SIGTERM)
                worker.wait(30)
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
    return statistics.median(delays)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=1, help="--concurrency of each worker")
    args = parser.parse_args()
    with queue_app() as app:
        rates = {n: measure(n, args.runs, app, args.threads) for n in (1, 2, 4)}
        delay = latency(app)
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "queue.json").write_text(json.dumps({"rates": rates, "latency_s": delay}, indent=2))
    print(f"worker threads each: {args.threads}")
    print("| worker processes | runs/s from launch | runs/s first claim to last end |")
    print("|---|---|---|")
    for n, (from_launch, steady) in rates.items():
        print(f"| {n} | {from_launch:.0f} | {steady:.0f} |")
    print(f"\nsubmit-to-start latency on an idle worker (default --poll): {delay * 1000:.0f} ms")


if __name__ == "__main__":
    main()
