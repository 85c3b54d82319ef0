"""The worker pool of `spine worker` in this process, on real databases: it never owns
more runs than its threads, and an idle pool is woken by what makes a run claimable
(a run handed back to the queue, a signal a waiting run awaits), not by its polls."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from spine.core.outage import Outage
from spine.orchestration import Step, Workflow, WorkflowRunner, register_workflow, workers
from spine.orchestration.results import WorkflowResult
from spine.orchestration.workers import WorkerPool

MakeRunner = Callable[..., WorkflowRunner]


@contextmanager
def _pool(runner: WorkflowRunner, threads: int, poll: float = 30.0) -> Iterator[list[str]]:
    """A pool over ``runner``; yields the ids of the runs it finished, as it goes."""
    done: list[str] = []
    failures: list[str] = []

    def finished(result: WorkflowResult) -> None:
        done.append(result.run_id)

    stop = threading.Event()
    pool = WorkerPool(
        runner, threads, stop, poll=poll, done=finished, outage=Outage(failures.append)
    )
    try:
        yield done
    finally:
        pool.close()
    assert failures == []


def _until(check: Callable[[], Any], seconds: float) -> Any:
    deadline = time.monotonic() + seconds
    while not (found := check()) and time.monotonic() < deadline:
        time.sleep(0.01)
    return found


def test_a_pool_runs_no_more_runs_at_once_than_its_threads(
    database_url: str, make_runner: MakeRunner
) -> None:
    lock = threading.Lock()
    running = [0]
    most = [0]

    def nap(ctx: Any, config: dict[str, Any]) -> dict[str, Any]:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.1)
        with lock:
            running[0] -= 1
        return {}

    flow = register_workflow(Workflow("pool.nap", [Step.lambda_("nap", nap)]))
    client = make_runner(database_url=database_url)
    store = client.store
    assert store is not None
    ids = [client.submit(flow) for _ in range(12)]
    owned = [0]
    worker = make_runner(database_url=database_url, block_on_waits=False)
    with _pool(worker, 3) as done:
        # What the database says this worker owns, sampled while it works.
        while len(done) < len(ids):
            claimed = store.list_runs(status="RUNNING", limit=20)
            owned[0] = max(owned[0], len(claimed))
            time.sleep(0.01)

    assert sorted(done) == sorted(ids)
    assert most[0] == 3  # its three threads at work at once...
    assert owned[0] <= 3  # ...and never a run claimed ahead of a free thread


def test_an_idle_pool_is_woken_by_a_run_handed_back_and_by_a_signal(
    postgres_url: str, make_runner: MakeRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    from spine.commands import resume_run

    attempts = [0]

    def flaky(ctx: Any, config: dict[str, Any]) -> dict[str, Any]:
        attempts[0] += 1
        if attempts[0] == 1:
            raise RuntimeError("warehouse offline")
        return {"attempt": attempts[0]}

    fails_once = register_workflow(Workflow("pool.flaky", [Step.lambda_("load", flaky)]))
    approval = register_workflow(
        Workflow("pool.approval", [Step.await_signal("approval", "approved")])
    )
    client = make_runner(database_url=postgres_url)
    store = client.store
    assert store is not None
    failed = client.submit(fails_once)
    waiting = client.submit(approval)
    worker = make_runner(database_url=postgres_url, block_on_waits=False)
    # Polls and recovery looks far apart: only an announcement explains a prompt start.
    monkeypatch.setattr(workers, "RECOVERY_SECONDS", 30.0)
    with _pool(worker, 2):
        assert _until(lambda: store.load_run(failed).run.status == "FAILED", 10)
        assert _until(lambda: store.load_run(waiting).run.status == "WAITING", 10)
        time.sleep(0.3)  # idle now

        began = time.monotonic()
        assert resume_run(store, failed).queued  # (`spine resume --queue`)
        assert _until(lambda: store.load_run(failed).run.status == "COMPLETED", 5)
        handed_back = time.monotonic() - began

        began = time.monotonic()
        client.signal(waiting, "approved", {"ok": True})
        assert _until(lambda: store.load_run(waiting).run.status == "COMPLETED", 5)
        signalled = time.monotonic() - began

    assert handed_back < 2.0
    assert signalled < 2.0
    assert store.load_run(waiting).run.outputs == {"approval": {"ok": True}}
