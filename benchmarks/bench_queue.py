"""Issues 5 and 16: ``spine worker`` processes idle, picking runs up, sharing them, and
at full speed, each beside a plain baseline from the same run where one makes sense.

Run: ``.venv/bin/python benchmarks/bench_queue.py`` (``--quick`` for a smoke run,
``--only idle,pickup,capacity,throughput`` for some). PostgreSQL is the server of
``SPINE_BENCH_POSTGRES`` (default: the local test server); each measurement uses a
database or schema of its own, dropped afterwards. Writes ``benchmarks/results/queue.json``.

- idle: two ``spine worker --concurrency 4`` processes, idle for ``--idle-seconds``:
  the CPU each uses (from ``/proc/PID/stat``), and on PostgreSQL the transactions
  each makes a second (``xact_commit + xact_rollback`` of ``pg_stat_database``, in a
  database of their own, read after they exit, which flushes their statistics, less
  what starting and stopping a worker costs, measured the same way).
- pickup: the same two workers; runs submitted 0.3 s apart, from ``submit()`` to the
  first step's start as stored. Baseline: a plain worker that is told the same way (a
  psycopg ``LISTEN``, or SQLite's ``PRAGMA data_version`` read every 20 ms), claims the
  run with one statement and writes a step row with its time.
- capacity: 14 runs of a 1 s step over two ``--concurrency 1`` workers: how many each
  executed, and the most ``RUNNING`` runs one worker owned at once (sampled).
- throughput: 600 one-step runs through two workers, and 4,000 three-step runs through
  four ``--concurrency 4`` workers (PostgreSQL), from the first claim to the last
  run's end, with the CPU time a run costs the workers and the server processes
  serving them (from ``/proc``, when the server runs on this machine). Baseline: the
  same number of plain psycopg worker processes and threads doing the least a durable
  queue does: one statement claims a run, one writes each step's row, the last one
  with the run's end (a data-modifying ``WITH``).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

APP = """
import time
from spine.orchestration import Step, Workflow, register_workflow
flow = register_workflow(Workflow("bench.queue", [
    Step.lambda_(name, lambda ctx, cfg: {"ok": True}) for name in ("a", "b", "c")
]))
one = register_workflow(Workflow("bench.one", [Step.lambda_("a", lambda ctx, cfg: {"ok": True})]))
second = register_workflow(Workflow("bench.second", [
    Step.lambda_("a", lambda ctx, cfg: time.sleep(1) or {"ok": True})
]))
"""
SERVER = os.environ.get("SPINE_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
SUBMIT_GAP = 0.3


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
    """The ``--app`` file defining the workflows ``bench.*``, imported here too."""
    with tempfile.TemporaryDirectory() as tmp:
        app = Path(tmp) / "queue_app.py"
        app.write_text(APP)
        sys.path.insert(0, tmp)
        try:
            __import__("queue_app")
            yield app
        finally:
            sys.path.remove(tmp)


@contextmanager
def postgres_schema() -> Iterator[str]:
    """The URL of a fresh schema on the server, dropped afterwards."""
    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(SERVER, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
        try:
            yield f"{SERVER}?options=-csearch_path%3D{schema}"
        finally:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


@contextmanager
def postgres_database() -> Iterator[tuple[str, Any]]:
    """A fresh database on the server (its URL) and a connection to the server's own
    database that counts the new one's transactions; dropped afterwards."""
    import psycopg

    name = f"spine_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(SERVER, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            base = SERVER.rsplit("/", 1)[0]
            yield f"{base}/{name}", lambda: transactions(admin, name)
        finally:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def transactions(admin: Any, database: str) -> int:
    """Transactions committed and rolled back in ``database`` as its statistics say now
    (each backend flushes them at most once a second, and when it exits)."""
    admin.execute("SELECT pg_stat_clear_snapshot()")
    row = admin.execute(
        "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s",
        (database,),
    ).fetchone()
    return int(row[0])


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of process ``pid`` so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def workers(url: str, app: Path, count: int, concurrency: int) -> Iterator[list[Any]]:
    """``count`` ``spine worker`` processes, ready (each printed its first line), stopped
    with SIGTERM at the end (their output kept in ``.output``)."""
    procs = [
        subprocess.Popen(
            [*spine_command(), "--db", url, "worker", "--app", str(app),
             "--concurrency", str(concurrency)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        for _ in range(count)
    ]  # fmt: skip
    outputs: list[list[str]] = [[] for _ in procs]

    def read(index: int) -> None:
        stream = procs[index].stdout
        assert stream is not None
        for line in stream:
            outputs[index].append(line)

    readers = [threading.Thread(target=read, args=(i,), daemon=True) for i in range(count)]
    for reader in readers:
        reader.start()
    try:
        deadline = time.monotonic() + 60
        while not all(outputs) and time.monotonic() < deadline:
            if any(proc.poll() is not None for proc in procs):
                raise RuntimeError(f"a worker exited: {spine_command()}")
            time.sleep(0.02)
        yield procs
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc, reader, lines in zip(procs, readers, outputs, strict=True):
            proc.wait(60)
            reader.join(10)
            proc.output = lines  # type: ignore[attr-defined]


# ---- idle ----------------------------------------------------------------------------


def idle(backend: str, app: Path, seconds: float) -> dict[str, Any]:
    """CPU (% of a core) and, on PostgreSQL, transactions a second of each of two idle
    ``--concurrency 4`` workers."""
    with _idle_target(backend) as (url, count):
        before = count() if count else 0
        launched = time.monotonic()
        with workers(url, app, 2, 4) as procs:
            time.sleep(1.0)  # past the start-up
            cpu = [cpu_seconds(p.pid) for p in procs]
            began = time.monotonic()
            time.sleep(seconds)
            elapsed = time.monotonic() - began
            cpu = [(cpu_seconds(p.pid) - c) / elapsed * 100
                   for p, c in zip(procs, cpu, strict=True)]  # fmt: skip
        lived = time.monotonic() - launched
        result: dict[str, Any] = {"cpu_percent": cpu, "seconds": round(elapsed, 1)}
        if count:
            time.sleep(0.5)  # the backends of the workers exit and flush their statistics
            idle_total = count() - before
            # What starting and stopping a worker costs, the same way, to take away.
            before = count()
            started = time.monotonic()
            with workers(url, app, 1, 4):
                pass
            lived_once = time.monotonic() - started
            time.sleep(0.5)
            once = count() - before
            result["transactions_per_second"] = (idle_total / 2 - once) / (lived - lived_once)
            result["start_stop_transactions"] = once
    return result


@contextmanager
def _idle_target(backend: str) -> Iterator[tuple[str, Any]]:
    if backend == "postgres":
        with postgres_database() as (url, count):
            _migrated(url)
            yield url, count
    else:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{tmp}/idle.db"
            _migrated(url)
            yield url, None


def _migrated(url: str) -> None:
    from spine.store import open_store

    open_store(url).close()


# ---- pickup ----------------------------------------------------------------------------


def pickup(backend: str, app: Path, samples: int) -> dict[str, Any]:
    """Seconds from ``submit()`` to the first step's start, runs submitted 0.3 s apart to
    two idle workers; beside a plain worker told the same way."""
    from spine.orchestration import WorkflowRunner, get_workflow

    with _pickup_target(backend) as url:
        submitted = {}
        with WorkflowRunner(database_url=url) as client, workers(url, app, 2, 4):
            time.sleep(1.0)
            for _ in range(samples):
                time.sleep(SUBMIT_GAP)
                at = time.time()
                submitted[client.submit(get_workflow("bench.one"))] = at
            time.sleep(1.0)
            store = client.store
            assert store is not None
            delays = []
            for run_id, at in submitted.items():
                steps = store.load_run(run_id).steps
                delays.append(steps[0].started_at - at if steps else float("inf"))
    plain = plain_pickup(backend, samples)
    return {"median_s": statistics.median(delays), "max_s": max(delays),
            "plain_median_s": statistics.median(plain), "plain_max_s": max(plain)}  # fmt: skip


@contextmanager
def _pickup_target(backend: str) -> Iterator[str]:
    if backend == "postgres":
        with postgres_schema() as url:
            yield url
    else:
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{tmp}/pickup.db"


def plain_pickup(backend: str, samples: int) -> list[float]:
    """The same submits to a plain worker process (see :func:`plain_worker`)."""
    with tempfile.TemporaryDirectory() as tmp, _plain_queue(backend, tmp) as (url, connect):
        worker = subprocess.Popen(
            [sys.executable, __file__, "--plain-worker", url, "1", "1", "listen"],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert worker.stdout is not None
            worker.stdout.readline()  # listening
            client = connect()
            submitted = []
            for _ in range(samples):
                time.sleep(SUBMIT_GAP)
                submitted.append(time.time())
                _plain_submit(client, backend)
            time.sleep(1.0)
            rows = client.execute("SELECT run_id, at FROM plain_steps ORDER BY run_id").fetchall()
            client.close()
        finally:
            worker.terminate()
            worker.wait(30)
    return [at - sent for sent, (_, at) in zip(submitted, rows, strict=True)]


def _plain_submit(client: Any, backend: str) -> None:
    if backend == "postgres":
        with client.transaction():
            client.execute("INSERT INTO plain_runs (status) VALUES ('PENDING')")
            client.execute("SELECT pg_notify('plain', 'pending')")
    else:
        client.execute("INSERT INTO plain_runs (status) VALUES ('PENDING')")


@contextmanager
def _plain_queue(backend: str, folder: str) -> Iterator[tuple[str, Any]]:
    """The plain queue's two tables: a URL for the plain workers, and a way to connect."""
    id_column = "id SERIAL PRIMARY KEY" if backend == "postgres" else "id INTEGER PRIMARY KEY"
    tables = (
        f"CREATE TABLE plain_runs ({id_column}, status TEXT, owner INTEGER, "
        "started DOUBLE PRECISION, completed DOUBLE PRECISION)",
        "CREATE TABLE plain_steps (run_id INTEGER, step INTEGER, at DOUBLE PRECISION, "
        "PRIMARY KEY (run_id, step))",
        "CREATE INDEX plain_pending ON plain_runs (status, id)",
    )
    if backend == "postgres":
        with postgres_schema() as url:
            plain_url = url.replace("?options=-csearch_path%3D", "#")

            def connect() -> Any:
                return _plain_connect(plain_url)

            with connect() as conn:
                for table in tables:
                    conn.execute(table)
            yield plain_url, connect
    else:
        path = f"{folder}/plain.db"
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("PRAGMA journal_mode = WAL")
        for table in tables:
            conn.execute(table)
        conn.close()
        yield path, lambda: _plain_connect(path)


def _plain_connect(url: str) -> Any:
    """A plain connection in autocommit mode: ``URL#schema`` for PostgreSQL, else a path."""
    if url.startswith("postgresql"):
        import psycopg

        server, _, schema = url.partition("#")
        return psycopg.connect(server, autocommit=True, options=f"-csearch_path={schema}")
    conn = sqlite3.connect(url, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA busy_timeout = 30000")
    return conn


def plain_worker(url: str, threads: int, steps: int, mode: str) -> None:
    """A plain queue worker process: ``threads`` threads claiming runs with one
    statement, writing a row per step (the last with the run's end); ``listen``: wait
    to be told of runs (``LISTEN``, or ``PRAGMA data_version`` every 20 ms) and never
    exit; ``drain``: exit when the queue is empty."""
    postgres = url.startswith("postgresql")
    mark = "%s" if postgres else "?"
    claim = (
        f"UPDATE plain_runs SET status = 'RUNNING', owner = {mark}, started = {mark} "
        "WHERE id = (SELECT id FROM plain_runs WHERE status = 'PENDING' ORDER BY id LIMIT 1"
        f"{' FOR UPDATE SKIP LOCKED' if postgres else ''}) RETURNING id"
    )
    step = f"INSERT INTO plain_steps (run_id, step, at) VALUES ({mark}, {mark}, {mark})"
    last = (
        f"WITH s AS ({step}) UPDATE plain_runs SET status = 'COMPLETED', completed = {mark} "
        f"WHERE id = {mark}"
    )

    def write(conn: Any, sql: str, params: tuple[Any, ...]) -> Any:
        if postgres:
            return conn.execute(sql, params)
        conn.execute("BEGIN IMMEDIATE")
        try:
            rows = conn.execute(sql, params).fetchall()
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return rows

    def drain(conn: Any) -> None:
        while True:
            found = list(write(conn, claim, (os.getpid(), time.time())))
            if not found:
                return
            run_id = found[0][0]
            for k in range(steps - 1):
                write(conn, step, (run_id, k, time.time()))
            if postgres:
                write(conn, last, (run_id, steps - 1, time.time(), time.time(), run_id))
            else:  # (SQLite has no data-modifying WITH: two statements, one transaction)
                conn.execute("BEGIN IMMEDIATE")
                conn.execute(step, (run_id, steps - 1, time.time()))
                conn.execute(
                    "UPDATE plain_runs SET status = 'COMPLETED', completed = ? WHERE id = ?",
                    (time.time(), run_id),
                )
                conn.execute("COMMIT")

    if mode == "drain":
        pool = [threading.Thread(target=lambda: drain(_plain_connect(url))) for _ in range(threads)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
        return
    conn = _plain_connect(url)
    if postgres:
        listener = _plain_connect(url)
        listener.execute("LISTEN plain")
        print("listening", flush=True)
        while True:
            for _ in listener.notifies(timeout=1.0, stop_after=1):
                drain(conn)
    watch = sqlite3.connect(url, isolation_level=None)
    seen = watch.execute("PRAGMA data_version").fetchone()[0]
    print("listening", flush=True)
    while True:
        time.sleep(0.02)
        version = watch.execute("PRAGMA data_version").fetchone()[0]
        if version != seen:
            seen = version
            drain(conn)


# ---- capacity ----------------------------------------------------------------------------


def capacity(app: Path, runs: int = 14, concurrency: int = 1) -> dict[str, Any]:
    """``runs`` runs of a 1 s step over two workers of ``concurrency`` threads: how many
    each executed, and the most ``RUNNING`` runs one of them owned at once."""
    from spine.orchestration import WorkflowRunner, get_workflow

    with postgres_schema() as url, WorkflowRunner(database_url=url) as client:
        store = client.store
        assert store is not None
        with workers(url, app, 2, concurrency):
            for _ in range(runs):
                client.submit(get_workflow("bench.second"))
            most = 0
            deadline = time.monotonic() + runs * 2 + 30
            while time.monotonic() < deadline:
                running = store.list_runs(status="RUNNING", limit=runs + 1)
                owned = Counter(run.owner.pid for run in running if run.owner)
                most = max(most, *owned.values(), 0)
                if not running and not store.list_runs(status="PENDING", limit=1):
                    break
                time.sleep(0.05)
        done = store.list_runs(status="COMPLETED", limit=runs + 1)
        spread = sorted(Counter(run.owner.pid for run in done if run.owner).values())
    return {"runs": runs, "concurrency": concurrency, "per_worker": spread, "most_owned": most}


# ---- throughput ----------------------------------------------------------------------------


def measure(
    workers_count: int,
    runs: int,
    app: Path,
    threads: int = 1,
    workflow: str = "bench.queue",
    cpu: dict[str, float] | None = None,
) -> tuple[float, float]:
    """Runs per second: from the first worker's launch, and from the first claim (the
    workers' start-up left out) to the last run's end. ``cpu``: filled with the CPU time
    per run, from the first claim on, of the workers (``worker_us``) and of the server
    processes serving them (``server_us``, when the server runs on this machine)."""
    from spine.orchestration import WorkflowRunner, get_workflow

    name = f"spine_bench_{uuid.uuid4().hex[:10]}"
    with postgres_schema() as url, WorkflowRunner(database_url=url) as client:
        flow = get_workflow(workflow)
        for _ in range(runs):
            client.submit(flow)
        store = client.store
        assert store is not None
        start = time.perf_counter()
        procs = [
            subprocess.Popen(
                [*spine_command(), "--db", f"{url}&application_name={name}", "worker",
                 "--app", str(app), "--concurrency", str(threads)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            for _ in range(workers_count)
        ]  # fmt: skip
        try:
            while not (store.list_runs(status="RUNNING", limit=1)
                       or store.list_runs(status="COMPLETED", limit=1)):  # fmt: skip
                time.sleep(0.002)  # until the first claim: the start-up is not counted
            began = _cpu_of(procs, name)
            while store.list_runs(status="PENDING", limit=1) or store.list_runs(
                status="RUNNING", limit=1
            ):
                if all(proc.poll() is not None for proc in procs):
                    raise RuntimeError(f"the workers exited: {spine_command()}")
                time.sleep(0.05)
            elapsed = time.perf_counter() - start
            ended = _cpu_of(procs, name)
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            for proc in procs:
                proc.wait(30)
        done = store.list_runs(status="COMPLETED", limit=runs + 1)
        assert len(done) == runs, len(done)
        first = min(run.started_at for run in done)
        last = max(run.completed_at or 0.0 for run in done)
    if cpu is not None:
        for key in ended:
            cpu[key] = (ended[key] - began.get(key, 0.0)) / runs * 1e6
    return runs / elapsed, runs / (last - first)


def _cpu_of(procs: list[Any], application: str) -> dict[str, float]:
    """CPU seconds so far of the worker processes, and of the server's processes that
    serve the connections named ``application`` (if they are on this machine)."""
    import psycopg

    found = {"worker_us": sum(cpu_seconds(proc.pid) for proc in procs)}
    with psycopg.connect(SERVER, autocommit=True) as admin:
        pids = [row[0] for row in admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (application,)
        )]  # fmt: skip
    with suppress(OSError):  # (a server elsewhere: none of its processes is here)
        found["server_us"] = sum(cpu_seconds(pid) for pid in pids)
    return found


def plain_throughput(workers_count: int, runs: int, threads: int, steps: int) -> float:
    """Runs per second of plain psycopg worker processes, first claim to last end."""
    with tempfile.TemporaryDirectory() as tmp, _plain_queue("postgres", tmp) as (url, connect):
        with connect() as conn:
            conn.execute(
                "INSERT INTO plain_runs (status) SELECT 'PENDING' FROM generate_series(1, %s)",
                (runs,),
            )
        procs = [
            subprocess.Popen([sys.executable, __file__, "--plain-worker", url, str(threads),
                              str(steps), "drain"])
            for _ in range(workers_count)
        ]  # fmt: skip
        for proc in procs:
            if proc.wait(600) != 0:
                raise RuntimeError("a plain worker failed")
        with connect() as conn:
            first, last, done = conn.execute(
                "SELECT min(started), max(completed), count(*) FROM plain_runs "
                "WHERE status = 'COMPLETED'"
            ).fetchone()
    assert done == runs, done
    return float(runs / (last - first))


def throughput(app: Path, quick: bool) -> list[dict[str, Any]]:
    cases = [(2, 600, 1, "bench.one", 1), (4, 4000, 4, "bench.queue", 3)]
    found = []
    for count, runs, threads, workflow, steps in cases:
        runs = runs // 4 if quick else runs
        # Alternately, so that a moment of load on a shared machine hits both alike.
        cpu: dict[str, float] = {}
        spine_rate = measure(count, runs, app, threads, workflow, cpu)[1]
        plain_rate = plain_throughput(count, runs, threads, steps)
        found.append({"workers": count, "concurrency": threads, "runs": runs, "steps": steps,
                      "runs_per_s": spine_rate, "plain_runs_per_s": plain_rate,
                      "cpu_us_per_run": cpu})  # fmt: skip
    return found


# ---- the report ----------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="short windows, fewer runs")
    parser.add_argument("--only", help="comma-separated: idle,pickup,capacity,throughput")
    parser.add_argument("--idle-seconds", type=float, default=20.0)
    parser.add_argument("--samples", type=int, default=20, help="submits for the pickup")
    parser.add_argument("--plain-worker", nargs=4, metavar=("URL", "THREADS", "STEPS", "MODE"))
    args = parser.parse_args()
    if args.plain_worker:
        url, threads, steps, mode = args.plain_worker
        plain_worker(url, int(threads), int(steps), mode)
        return
    chosen = set((args.only or "idle,pickup,capacity,throughput").split(","))
    idle_seconds = 5.0 if args.quick else args.idle_seconds
    samples = 8 if args.quick else args.samples
    results: dict[str, Any] = {}
    with queue_app() as app:
        if "idle" in chosen:
            results["idle"] = {b: idle(b, app, idle_seconds) for b in ("postgres", "sqlite")}
        if "pickup" in chosen:
            results["pickup"] = {b: pickup(b, app, samples) for b in ("postgres", "sqlite")}
        if "capacity" in chosen:
            results["capacity"] = capacity(app)
        if "throughput" in chosen:
            results["throughput"] = throughput(app, args.quick)
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "queue.json").write_text(json.dumps(results, indent=2))
    print(report(results))


def report(results: dict[str, Any]) -> str:
    lines = ["| figure | spine | plain baseline | target |", "|---|---|---|---|"]
    for backend, found in results.get("idle", {}).items():
        cpu = " / ".join(f"{c:.2f}%" for c in found["cpu_percent"])
        lines.append(f"| idle CPU, 2 workers --concurrency 4, {backend} | {cpu} | | ≤ 2% each |")
        if "transactions_per_second" in found:
            lines.append(f"| idle transactions/s per worker, {backend} | "
                         f"{found['transactions_per_second']:.2f} | | ≤ 5 |")  # fmt: skip
    for backend, found in results.get("pickup", {}).items():
        target = "median ≤ 50 ms, max ≤ 300 ms" if backend == "postgres" else "median ≤ 100 ms"
        lines.append(
            f"| pickup, {backend}: median / max | {found['median_s'] * 1000:.1f} / "
            f"{found['max_s'] * 1000:.1f} ms | {found['plain_median_s'] * 1000:.1f} / "
            f"{found['plain_max_s'] * 1000:.1f} ms | {target} |"
        )
    if "capacity" in results:
        found = results["capacity"]
        lines.append(
            f"| {found['runs']} runs of 1 s, 2 workers --concurrency {found['concurrency']}: "
            f"runs each, most owned at once | {found['per_worker']}, {found['most_owned']} | | "
            f"5..9 each, ≤ {found['concurrency']} |"
        )
    for found in results.get("throughput", []):
        target = "≥ 150" if found["steps"] == 1 else "≥ 1,000"
        cpu = found["cpu_us_per_run"]
        server = f", server {cpu['server_us']:,.0f} µs" if "server_us" in cpu else ""
        lines.append(
            f"| {found['runs']:,} {found['steps']}-step runs, {found['workers']} workers "
            f"--concurrency {found['concurrency']}, runs/s first claim to last end (CPU "
            f"a run: workers {cpu['worker_us']:,.0f} µs{server}) | "
            f"{found['runs_per_s']:,.0f} | {found['plain_runs_per_s']:,.0f} | {target} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
