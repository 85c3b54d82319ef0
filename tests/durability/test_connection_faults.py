"""`spine worker` processes on PostgreSQL while their connections fail: terminated in
bursts every 0.4 s, or gone with the server for seconds. The writes are tried again, so
every run completes, no step executes twice, and the workers carry on, saying so once
per outage rather than at every poll."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

import pytest
from sqlalchemy import make_url

from spine.orchestration import Step, Workflow, WorkflowRunner, register_workflow
from spine.store import SqlStore, open_store

pytestmark = pytest.mark.timeout(90)

STEPS = 5
APP = """
import os, time, uuid
from spine.orchestration import Step, Workflow, register_workflow

def marked(name):
    def step(ctx, config):
        # A file per execution, made before the step returns, as any side effect would be.
        marker = f"{ctx.run_id}.{name}.{uuid.uuid4().hex}"
        os.close(os.open(os.path.join(os.environ["SPINE_TEST_MARKERS"], marker), os.O_CREAT))
        time.sleep(0.06)
        return {"step": name}
    return step

register_workflow(Workflow("faults.flow", [Step.lambda_(f"s{i}", marked(f"s{i}"))
                                          for i in range(5)]))
"""


class Fleet:
    """Workers over runs submitted to one database, and the markers their steps leave."""

    def __init__(self, tmp_path: Path, postgres_url: str, runs: int) -> None:
        self.tmp_path = tmp_path
        self.app = tmp_path / "faults_app.py"
        self.app.write_text(textwrap.dedent(APP))
        self.markers = tmp_path / "markers"
        self.markers.mkdir()
        self.url = postgres_url
        # The same steps as the app's (a run's definition is checked by them), to submit.
        steps = [Step.lambda_(f"s{i}", lambda c, k: None) for i in range(STEPS)]
        flow = register_workflow(Workflow("faults.flow", steps))
        with WorkflowRunner(database_url=postgres_url) as client:
            self.ids = [client.submit(flow) for _ in range(runs)]
        self.workers: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []

    def start(self, url: str, *args: str, env: dict[str, str] | None = None) -> None:
        log = self.tmp_path / f"worker-{len(self.workers)}.err"
        environment = {**os.environ, "SPINE_TEST_MARKERS": str(self.markers),
                       "PYTHONUNBUFFERED": "1", **(env or {})}  # fmt: skip
        command = [sys.executable, "-m", "spine.cli.main", "--db", url, "worker",
                   "--app", str(self.app), "--poll", "0.05", *args]  # fmt: skip
        with log.open("w") as stderr:
            worker = subprocess.Popen(
                command, stdout=subprocess.DEVNULL, stderr=stderr, env=environment
            )
        self.workers.append(worker)
        self.logs.append(log)

    def executions(self) -> Counter[tuple[str, str]]:
        names = (path.name.split(".") for path in self.markers.iterdir())
        return Counter((run_id, step) for run_id, step, _ in names)

    def wait_until(self, condition: Callable[[], bool], seconds: float) -> None:
        deadline = time.time() + seconds
        while time.time() < deadline and not condition():
            time.sleep(0.1)

    def statuses(self) -> Counter[str]:
        with open_store(self.url) as store:
            return Counter(store.load_run(run_id).run.status for run_id in self.ids)

    def all_completed(self, seconds: float) -> Counter[str]:
        with open_store(self.url) as store:
            self.wait_until(lambda: _completed(store, self.ids), seconds)
        return self.statuses()

    def alive(self) -> list[bool]:
        return [worker.poll() is None for worker in self.workers]

    def stop(self) -> list[int]:
        for worker in self.workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        return [worker.wait(timeout=30) for worker in self.workers]

    def errors(self) -> str:
        return "\n".join(log.read_text() for log in self.logs)


def _completed(store: SqlStore, ids: list[str]) -> bool:
    done = store.list_runs(workflow="faults.flow", status="COMPLETED", limit=len(ids) + 1)
    return len(done) == len(ids)


# -- connections terminated in bursts ------------------------------------------------------


class Terminator:
    """Every ``interval`` seconds, terminates every server connection of one application
    name, in a burst of ``burst`` seconds, from a thread; counts what it terminated."""

    def __init__(self, server_url: str, application_name: str, interval: float, burst: float):
        import psycopg

        self._admin = psycopg.connect(server_url, autocommit=True, connect_timeout=3)
        self._name = application_name
        self._interval, self._burst = interval, burst
        self._stop = threading.Event()
        self.terminated = 0
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            # A burst, not one shot: the connections that replace the terminated ones go
            # too, as while a server restarts, so that reconnecting once is not enough.
            ends = time.monotonic() + self._burst
            while time.monotonic() < ends:
                rows = self._admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = %s AND pid <> pg_backend_pid()",
                    (self._name,),
                ).fetchall()
                self.terminated += sum(1 for (done,) in rows if done)
                time.sleep(0.005)

    def stop(self) -> None:
        if not self._stop.is_set():
            self._stop.set()
            self._thread.join()
            self._admin.close()


def test_workers_retry_through_terminated_connections(postgres_url: str, tmp_path: Path) -> None:
    fleet = Fleet(tmp_path, postgres_url, runs=40)
    name = f"spine_faults_{uuid.uuid4().hex[:10]}"
    # Only the workers' connections carry this name: the test's own are spared.
    for _ in range(2):
        fleet.start(f"{postgres_url}&application_name={name}")
    terminator = Terminator(postgres_url.split("?")[0], name, interval=0.4, burst=0.15)
    try:
        time.sleep(12)  # terminated every 0.4 s for 12 s
        terminator.stop()
        alive_after_faults = fleet.alive()
        statuses = fleet.all_completed(30)
        alive_at_end = fleet.alive()
    finally:
        terminator.stop()
        exits = fleet.stop()

    errors = fleet.errors()
    assert terminator.terminated >= 25, terminator.terminated  # the faults did hit
    assert statuses == {"COMPLETED": 40}, errors[-3000:]
    executions = fleet.executions()
    assert set(executions) == {(run_id, f"s{i}") for run_id in fleet.ids for i in range(STEPS)}
    assert {key: n for key, n in executions.items() if n > 1} == {}, errors[-3000:]
    assert alive_after_faults == alive_at_end == [True, True], errors[-3000:]
    assert exits == [0, 0], errors[-3000:]
    assert "Traceback" not in errors, errors[-3000:]


# -- the server gone for seconds ------------------------------------------------------------


class Proxy:
    """A TCP proxy to the PostgreSQL server that can go away: while down it refuses new
    connections and has cut every one it carried, as a server restarting does."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self._upstream = upstream
        self._carried: set[socket.socket] = set()
        self._lock = threading.Lock()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._listener: socket.socket | None = None
        self.up()

    def up(self) -> None:
        listener = socket.create_server(("127.0.0.1", self.port))
        listener.settimeout(0.05)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        with self._lock:
            carried, self._carried = self._carried, set()
        for sock in carried:
            _cut(sock)

    def _accept(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                server = socket.create_connection(self._upstream, timeout=3)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._carried.update((client, server))
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        with suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        _cut(source)
        _cut(sink)


def _cut(sock: socket.socket) -> None:
    with suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


@pytest.mark.parametrize("bound", ["60", "0.5"], ids=["outage-within-the-bound", "longer"])
def test_a_worker_waits_out_a_database_outage(
    postgres_url: str, tmp_path: Path, bound: str
) -> None:
    fleet = Fleet(tmp_path, postgres_url, runs=16)
    server = make_url(postgres_url)
    proxy = Proxy((server.host or "127.0.0.1", server.port or 5432))
    through_proxy = server.set(host="127.0.0.1", port=proxy.port)
    fleet.start(through_proxy.render_as_string(hide_password=False), "--concurrency", "2",
                env={"SPINE_DB_RETRY_SECONDS": bound})  # fmt: skip
    try:
        fleet.wait_until(lambda: sum(fleet.executions().values()) >= 10, 20)
        proxy.down()
        time.sleep(4)
        alive_in_outage = fleet.alive()
        proxy.up()
        statuses = fleet.all_completed(30)
        alive_at_end = fleet.alive()
    finally:
        exits = fleet.stop()
        proxy.down()

    errors = fleet.errors()
    lines = errors.splitlines()
    assert statuses == {"COMPLETED": 16}, errors[-3000:]
    assert alive_in_outage == alive_at_end == [True], errors[-3000:]
    assert exits == [0], errors[-3000:]
    assert "Traceback" not in errors, errors[-3000:]
    executions = fleet.executions()
    assert set(executions) == {(run_id, f"s{i}") for run_id in fleet.ids for i in range(STEPS)}
    twice = {key: n for key, n in executions.items() if n > 1}
    outage_lines = [line for line in lines if "does not answer" in line]
    assert 1 <= len(outage_lines) <= 2, errors[-3000:]
    if bound == "60":
        # Nothing reached the worker: every write waited the outage out, none was redone.
        assert twice == {}, (twice, errors[-3000:])
        assert lines == outage_lines, errors[-3000:]
    else:
        # Past the bound a write gives up: at most the step in flight on each of the two
        # threads runs again, and each part of the worker reports the outage once, and
        # once that it works again (not a line per poll).
        assert len(twice) <= 2, (twice, errors[-3000:])
        for part in ("worker: StoreError", "worker: schedules: StoreError"):
            assert sum(line.startswith(part) for line in lines) == 1, errors[-3000:]
        assert sum("working again" in line for line in lines) >= 2, errors[-3000:]
        # (Besides: a line per run taken back from the thread that gave it up.)
        reports = [line for line in lines if "owner died" not in line]
        assert len(reports) <= 8, errors[-3000:]
