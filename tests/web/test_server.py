"""``spine ui`` as a real process: its embedded worker executes what the API starts and
resumes, ``--no-worker`` leaves runs to workers, and a huge body sent by a stranger
costs it no memory."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

psutil = pytest.importorskip("psutil")
pytest.importorskip("uvicorn")

TOKEN = "server-token-0123456789"
FLOWS = """
import os
from spine.orchestration import Step, StepResult, Workflow, register_workflow


def check(ctx, config):
    if os.path.exists(ctx.get_param("fail_if", "/nonexistent")):
        return StepResult.fail("the marker file is there")
    return {"double": ctx.get_param("n", 0) * 2}


register_workflow(Workflow("ui/flow", [Step.lambda_("check", check)]))
"""
BODY_MB = 200
RSS_LIMIT_MB = 150


@dataclass
class Server:
    base: str
    process: subprocess.Popen[str]

    def call(self, method: str, path: str, body: Any = None, token: str | None = TOKEN
             ) -> tuple[int, Any]:  # fmt: skip
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status, json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def wait_for(self, run_id: str, status: str, seconds: float = 15) -> dict[str, Any]:
        deadline = time.monotonic() + seconds
        while True:
            code, run = self.call("GET", f"/api/runs/{run_id}")
            assert code == 200
            if run["status"] == status or time.monotonic() > deadline:
                return dict(run)
            time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve(directory: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[Server]:
    flows = directory / "ui_flows.py"
    flows.write_text(textwrap.dedent(FLOWS))
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "spine.cli.main", "--db", f"sqlite:///{directory / 'h.db'}",
         "ui", "--port", str(port), "--app", str(flows), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "SPINE_API_TOKEN": TOKEN, "PYTHONUNBUFFERED": "1", **(env or {})},
    )  # fmt: skip
    server = Server(f"http://127.0.0.1:{port}", process)
    deadline = time.monotonic() + 30
    while True:
        try:
            if server.call("GET", "/api/runs")[0] == 200:
                break
        except OSError:
            pass
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "spine ui did not start"
        time.sleep(0.05)
    try:
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    # SIGTERM stops the server, then its worker: a clean exit.
    assert process.returncode == 0, err


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # (--allowed-host given on the command line would replace the variable.)
    env = {"SPINE_ALLOWED_HOSTS": "spine.test,a.test b.test"}
    yield from serve(tmp_path_factory.mktemp("ui"), env=env)


def test_the_embedded_worker_executes_started_and_resumed_runs(
    server: Server, tmp_path: Path
) -> None:
    marker = tmp_path / "fail"
    marker.touch()
    code, answer = server.call("POST", "/api/workflows/ui/flow/runs",
                               {"params": {"n": 21, "fail_if": str(marker)}})  # fmt: skip
    assert code == 202
    run_id = answer["run_id"]
    failed = server.wait_for(run_id, "FAILED")
    assert (failed["status"], failed["triggered_by"]) == ("FAILED", "api")
    marker.unlink()
    assert server.call("POST", f"/api/runs/{run_id}/resume")[0] == 202
    done = server.wait_for(run_id, "COMPLETED")
    assert done["status"] == "COMPLETED"
    assert done["steps"][-1]["output"] == {"double": 42}
    assert server.call("POST", f"/api/runs/{run_id}/cancel")[0] == 409
    assert server.call("GET", "/api/runs", token="wrong")[0] == 401


@pytest.mark.parametrize(
    ("host", "status"),
    [("spine.test", 200), ("a.test:80", 200), ("b.test", 200), ("localhost", 200),
     ("evil.test", 400), ("127.0.0.1.evil.test", 400)],
)  # fmt: skip
def test_the_host_header_is_checked(server: Server, host: str, status: int) -> None:
    port = int(server.base.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(
            "GET", "/api/runs", headers={"Host": host, "Authorization": f"Bearer {TOKEN}"}
        )
        assert connection.getresponse().status == status
    finally:
        connection.close()


def test_with_no_worker_started_runs_wait_for_a_worker(tmp_path: Path) -> None:
    for server in serve(tmp_path, "--no-worker"):
        code, answer = server.call("POST", "/api/workflows/ui/flow/runs", {})
        assert code == 202
        time.sleep(0.5)  # an embedded worker would have run it in a few milliseconds
        assert server.wait_for(answer["run_id"], "PENDING", 0)["status"] == "PENDING"


class PeakRss:
    """The largest resident set size of a process, sampled every 10 ms meanwhile."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = self.process.memory_info().rss
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.sample, daemon=True)

    def sample(self) -> None:
        while not self.done.wait(0.01):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __enter__(self) -> PeakRss:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.done.set()
        self.thread.join()


def send_huge_body(server: Server, headers: str, chunked: bool) -> tuple[str, int]:
    """Send a 200 MB body as fast as the server takes it; its status line, and how many
    bytes went out before it stopped reading."""
    port = int(server.base.rsplit(":", 1)[1])
    piece = b"a" * (1 << 20)
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(headers.encode())
        try:
            for _ in range(BODY_MB):
                sock.sendall(b"%x\r\n%b\r\n" % (len(piece), piece) if chunked else piece)
                sent += len(piece)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass  # the server answered and closed: the point
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except (ConnectionResetError, TimeoutError):
            pass
    return answer.split(b"\r\n", 1)[0].decode(), sent


@pytest.mark.parametrize(
    ("token", "chunked", "status"),
    [(None, False, "401"), (None, True, "401"), (TOKEN, False, "413"), (TOKEN, True, "413")],
)
def test_a_200_mb_body_costs_the_server_no_memory(
    server: Server, token: str | None, chunked: bool, status: str
) -> None:
    length = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {BODY_MB << 20}"
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    headers = (f"POST /api/workflows/ui/flow/runs HTTP/1.1\r\nHost: {server.base[7:]}\r\n"
               f"Content-Type: application/json\r\n{auth}{length}\r\n\r\n")  # fmt: skip
    with PeakRss(server.process.pid) as rss:
        status_line, sent = send_huge_body(server, headers, chunked)
    peak_mb = rss.peak / (1 << 20)
    print(f"token={bool(token)} chunked={chunked}: {status_line!r}, {sent >> 20} MB "
          f"accepted, peak RSS {peak_mb:.1f} MB")  # fmt: skip
    assert status_line.split()[1:2] == [status]
    assert peak_mb < RSS_LIMIT_MB
    assert sent < BODY_MB << 20  # it stopped reading: the body was never taken whole
    assert server.call("GET", "/api/runs")[0] == 200  # and it serves on
