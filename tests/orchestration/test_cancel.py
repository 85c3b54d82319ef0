"""Cancelling runs: at once when nothing executes them, else at the next step boundary,
after which no step of the run starts (nor map item, once its map's next look is due)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from click.testing import CliRunner

from spine.cli.main import cli
from spine.core.errors import RunIsMapItemError
from spine.core.records import Lease, Owner
from spine.orchestration import (
    RetryPolicy,
    Step,
    StepResult,
    Workflow,
    WorkflowContext,
    WorkflowResult,
    WorkflowRunner,
    WorkflowStatus,
    register_workflow,
)
from spine.testing import FakeClock

MakeRunner = Callable[..., WorkflowRunner]


def noop(ctx: WorkflowContext, config: dict[str, Any]) -> None:
    return None


class Blocked:
    """A step that blocks until released, and a thread executing the run it is in."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.results: list[WorkflowResult] = []
        self.run_id = ""

    def step(self, ctx: WorkflowContext, config: dict[str, Any]) -> dict[str, Any]:
        self.run_id = ctx.run_id
        self.entered.set()
        assert self.release.wait(10)
        return {"released": True}

    def start(self, runner: WorkflowRunner, workflow: Workflow) -> str:
        """Execute ``workflow`` in a thread; returns its run id once the step blocks."""
        self.thread = threading.Thread(target=lambda: self.results.append(runner.execute(workflow)))
        self.thread.start()
        assert self.entered.wait(10)
        return self.run_id

    def result(self) -> WorkflowResult:
        self.release.set()
        self.thread.join(10)
        [result] = self.results
        return result


def test_a_pending_run_is_cancelled_at_once(database_url: str, make_runner: MakeRunner) -> None:
    workflow = register_workflow(Workflow("cancel.pending", [Step.lambda_("s", noop)]))
    runner = make_runner(database_url=database_url)
    run_id = runner.submit(workflow)
    assert runner.cancel(run_id) == "cancelled"
    assert runner.recover() == []
    stored = runner.store.load_run(run_id).run  # type: ignore[union-attr]
    assert (stored.status, stored.error_category) == ("CANCELLED", "CANCELLED")
    assert stored.completed_at is not None


def test_an_idle_waiting_run_is_cancelled_at_once(
    database_url: str, make_runner: MakeRunner
) -> None:
    workflow = Workflow("cancel.idle", [Step.wait("pause", 3600), Step.lambda_("after", noop)])
    runner = make_runner(database_url=database_url, block_on_waits=False)
    waiting = runner.execute(workflow)
    assert waiting.status == WorkflowStatus.WAITING

    assert runner.cancel(waiting.run_id) == "cancelled"
    stored = runner.store.load_run(waiting.run_id).run  # type: ignore[union-attr]
    assert (stored.status, stored.wake_at, stored.owner) == ("CANCELLED", None, None)


def test_an_executing_run_stops_at_its_next_step_boundary(
    database_url: str, make_runner: MakeRunner
) -> None:
    ran: list[str] = []
    blocked = Blocked()
    workflow = Workflow(
        "cancel.running",
        [Step.lambda_("slow", blocked.step), Step.lambda_("later", lambda c, k: ran.append("x"))],
    )
    runner = make_runner(database_url=database_url)
    run_id = blocked.start(runner, workflow)

    # Released at once: the flag is read at the very next boundary, not every 0.2 s.
    assert runner.cancel(run_id) == "requested"
    result = blocked.result()

    assert result.status == WorkflowStatus.CANCELLED
    assert (result.completed_steps, ran) == (["slow"], [])
    assert result.error == "cancelled by request before step 'later'"
    assert runner.store.load_run(run_id).run.status == "CANCELLED"  # type: ignore[union-attr]


def test_a_run_cancelled_during_its_last_step_ends_cancelled_and_resumes_to_completed(
    database_url: str, make_runner: MakeRunner
) -> None:
    blocked = Blocked()
    workflow = Workflow(
        "cancel.last", [Step.lambda_("first", noop), Step.lambda_("last", blocked.step)]
    )
    runner = make_runner(database_url=database_url)
    run_id = blocked.start(runner, workflow)

    assert runner.cancel(run_id) == "requested"
    result = blocked.result()

    assert result.status == WorkflowStatus.CANCELLED
    assert result.error == "cancelled by request during step 'last'"
    assert result.completed_steps == ["first", "last"]  # the step in flight finished
    store = runner.store
    assert store is not None
    stored = store.load_run(run_id)
    assert (stored.run.status, stored.run.error_step) == ("CANCELLED", "last")
    assert [(s.step_name, s.status) for s in stored.steps] == [
        ("first", "COMPLETED"),
        ("last", "COMPLETED"),
    ]
    # Nothing was left to do: resuming ends it without running a step again.
    resumed = runner.resume(run_id, workflow)
    assert resumed.status == WorkflowStatus.COMPLETED
    assert len(store.load_run(run_id).steps) == 2


def test_a_cancel_during_a_failed_attempt_skips_its_retries(
    sqlite_url: str, clock: FakeClock, make_runner: MakeRunner
) -> None:
    runner = make_runner(database_url=sqlite_url, clock=clock)
    attempts: list[str] = []

    def flaky(ctx: WorkflowContext, config: dict[str, Any]) -> StepResult:
        attempts.append(runner.cancel(ctx.run_id))
        return StepResult.fail("not yet", category="TRANSIENT")

    retry = RetryPolicy(max_attempts=3, initial_delay_seconds=30, jitter=False)
    result = runner.execute(Workflow("cancel.retry", [Step.lambda_("f", flaky, retry=retry)]))

    assert result.status == WorkflowStatus.CANCELLED
    assert attempts == ["requested"]
    assert clock.sleeps == []  # not even the delay before the retry


def test_a_cancelled_map_starts_no_item_after_the_cancel_returned(
    database_url: str, make_runner: MakeRunner
) -> None:
    starts: list[tuple[int, float]] = []
    two_started, resuming = threading.Event(), threading.Event()
    lock = threading.Lock()

    def slow_item(ctx: WorkflowContext, config: dict[str, Any]) -> dict[str, Any]:
        with lock:
            starts.append((ctx.params["item_index"], time.monotonic()))
            if len(starts) == 2:
                two_started.set()
        if not resuming.is_set():
            time.sleep(0.1)
        return {"n": ctx.params["item"]}

    item = Workflow("cancel.item", [Step.lambda_("work", slow_item)])
    workflow = Workflow(
        "cancel.map",
        [Step.map("each", "items", item, max_concurrency=2), Step.lambda_("after", noop)],
    )
    runner = make_runner(database_url=database_url)
    results: list[WorkflowResult] = []
    thread = threading.Thread(
        target=lambda: results.append(runner.execute(workflow, params={"items": list(range(20))}))
    )
    thread.start()
    assert two_started.wait(10)
    [run] = runner.store.list_runs(workflow="cancel.map")  # type: ignore[union-attr]

    assert runner.cancel(run.run_id) == "requested"
    returned = time.monotonic()
    thread.join(10)

    [result] = results
    assert result.status == WorkflowStatus.CANCELLED
    assert all(started < returned for _, started in starts), (starts, returned)
    assert len(starts) == 2  # the two in flight finished; no third started
    each = result.step_executions[-1]
    assert (each.step_name, each.status) == ("each", "FAILED")
    assert each.result is not None
    assert each.result.error_category == "CANCELLED"
    assert "18 of 20 items did not start" in (each.error or "")

    # Resumed, the map keeps the two items that ran and starts the other eighteen.
    resuming.set()
    resumed = runner.resume(run.run_id, workflow)
    assert resumed.status == WorkflowStatus.COMPLETED
    assert sorted(index for index, _ in starts) == list(range(20))
    assert [r["work"]["n"] for r in resumed.context.get_output("each")["results"]] == list(
        range(20)
    )


def test_a_run_sleeping_through_a_long_wait_ends_cancelled_within_a_second(
    database_url: str, make_runner: MakeRunner
) -> None:
    workflow = Workflow("cancel.wait", [Step.wait("pause", 3600), Step.lambda_("after", noop)])
    runner = make_runner(database_url=database_url)  # blocks through its waits
    store = runner.store
    assert store is not None
    results: list[WorkflowResult] = []
    thread = threading.Thread(target=lambda: results.append(runner.execute(workflow)))
    thread.start()
    deadline = time.monotonic() + 10
    while not (runs := store.list_runs(workflow="cancel.wait", status="WAITING")):
        assert time.monotonic() < deadline
        time.sleep(0.01)

    assert runner.cancel(runs[0].run_id) == "requested"
    asked = time.monotonic()
    thread.join(5)
    took = time.monotonic() - asked

    [result] = results
    assert result.status == WorkflowStatus.CANCELLED
    assert result.error == "cancelled by request during step 'pause'"
    assert took < 1.0
    stored = store.load_run(result.run_id).run
    assert (stored.status, stored.wake_at) == ("CANCELLED", None)


def test_a_run_asked_to_stop_as_it_suspends_in_a_wait_is_cancelled(
    sqlite_url: str, make_runner: MakeRunner
) -> None:
    runner = make_runner(database_url=sqlite_url, block_on_waits=False)
    store = runner.store
    assert store is not None
    answers: list[str] = []
    set_status = store.set_status

    def asked_first(
        run_id: str, status: str, *, wake_at: float | None = None, lease: Lease | None = None
    ) -> None:
        if status == WorkflowStatus.WAITING:
            answers.append(store.cancel(run_id, time.time()))  # still ours: "requested"
        set_status(run_id, status, wake_at=wake_at, lease=lease)

    store.set_status = asked_first  # type: ignore[method-assign]
    result = runner.execute(Workflow("cancel.suspend", [Step.wait("pause", 3600)]))

    assert answers == ["requested"]
    assert result.status == WorkflowStatus.CANCELLED
    assert store.load_run(result.run_id).run.status == "CANCELLED"


def test_resuming_a_cancelled_run_continues_where_it_stopped(
    database_url: str, make_runner: MakeRunner
) -> None:
    runner = make_runner(database_url=database_url)
    ran: list[str] = []

    def step(name: str) -> Callable[[WorkflowContext, dict[str, Any]], None]:
        def run(ctx: WorkflowContext, config: dict[str, Any]) -> None:
            ran.append(name)
            if name == "one" and ran.count("one") == 1:
                assert runner.cancel(ctx.run_id) == "requested"

        return run

    workflow = Workflow(
        "cancel.resume", [Step.lambda_(n, step(n)) for n in ("one", "two", "three")]
    )
    cancelled = runner.execute(workflow)
    assert (cancelled.status, ran) == (WorkflowStatus.CANCELLED, ["one"])

    resumed = runner.resume(cancelled.run_id, workflow)

    assert resumed.status == WorkflowStatus.COMPLETED
    assert resumed.note is None
    assert ran == ["one", "two", "three"]
    assert resumed.completed_steps == ["one", "two", "three"]
    store = runner.store
    assert store is not None
    assert not store.cancel_requested(cancelled.run_id)  # the claim cleared the request
    assert store.load_run(cancelled.run_id).run.status == "COMPLETED"


def test_spine_cancel_reports_what_it_did_and_exits_1_for_an_ended_run(
    sqlite_url: str, make_runner: MakeRunner
) -> None:
    workflow = register_workflow(Workflow("cancel.cli", [Step.lambda_("s", noop)]))
    runner = make_runner(database_url=sqlite_url)

    def spine_cancel(run_id: str) -> tuple[int, str]:
        done = CliRunner().invoke(cli, ["--db", sqlite_url, "cancel", run_id])
        return done.exit_code, done.stdout

    code, out = spine_cancel(runner.submit(workflow))
    assert (code, out.split(":", 1)[1].strip()) == (0, "CANCELLED now (nothing was executing it)")

    blocked = Blocked()
    code, out = spine_cancel(
        blocked.start(runner, Workflow("cancel.cli2", [Step.lambda_("b", blocked.step)]))
    )
    assert code == 0
    assert "it is executing; it stops as CANCELLED at its next step boundary" in out
    assert blocked.result().status == WorkflowStatus.CANCELLED

    completed = runner.execute(workflow).run_id
    code, out = spine_cancel(completed)
    assert (code, out.strip()) == (
        1,
        f"run {completed} had already ended (COMPLETED); nothing to cancel",
    )


def test_a_cancel_racing_a_workers_claim_never_lets_a_cancelled_run_complete(
    postgres_url: str, make_runner: MakeRunner
) -> None:
    started: list[str] = []
    flow = register_workflow(
        Workflow(
            "cancel.race",
            [Step.lambda_(name, lambda ctx, cfg: started.append(ctx.run_id)) for name in "ab"],
        )
    )
    client = make_runner(database_url=postgres_url)
    worker = make_runner(database_url=postgres_url)
    store = client.store
    assert store is not None
    answers: Counter[str] = Counter()
    for _ in range(100):
        run_id = client.submit(flow)
        gate = threading.Barrier(2)
        thread = threading.Thread(target=lambda gate=gate: (gate.wait(), worker.run_pending()))
        thread.start()
        gate.wait()
        answer = client.cancel(run_id)
        thread.join(10)
        stored = store.load_run(run_id)
        answers[answer] += 1
        if answer == "COMPLETED":
            assert [s.step_name for s in stored.steps] == ["a", "b"]
            continue
        assert answer in ("cancelled", "requested")
        assert stored.run.status == WorkflowStatus.CANCELLED, (answer, dict(answers))
        if answer == "cancelled":
            assert stored.steps == []
            assert run_id not in started


def test_a_run_given_back_after_it_was_asked_to_stop_ends_cancelled_at_its_next_claim(
    database_url: str, make_runner: MakeRunner
) -> None:
    ran: list[str] = []
    flow = register_workflow(
        Workflow("cancel.back", [Step.lambda_("s", lambda c, k: ran.append("s"))])
    )
    runner = make_runner(database_url=database_url)
    store = runner.store
    assert store is not None
    run_id = runner.submit(flow)
    other = Owner.for_this_process()
    assert [r.run_id for r in store.claim_pending(other, time.time(), ["cancel.back"])] == [run_id]
    assert runner.cancel(run_id) == "requested"
    # What a runner that cannot run the workflow does with a run it claimed.
    store.set_status(run_id, WorkflowStatus.PENDING)
    store.release(run_id, Lease(other.owner_id, 0))

    assert runner.run_pending() == []
    assert ran == []
    stored = store.load_run(run_id).run
    assert (stored.status, stored.owner) == ("CANCELLED", None)


def test_a_map_items_run_is_not_cancelled_by_itself(
    database_url: str, make_runner: MakeRunner
) -> None:
    """Nothing reads an item's own request (its map's run stops it): cancelling an item
    is refused, naming the run to cancel, and changes nothing stored."""
    release = threading.Event()

    def work(ctx: WorkflowContext, config: dict[str, Any]) -> dict[str, Any]:
        if ctx.params["item"] == 0:
            assert release.wait(10)
        return {"n": ctx.params["item"]}

    item = Workflow("cancel.item.one", [Step.lambda_("work", work)])
    flow = Workflow("cancel.items", [Step.map("each", "items", item, max_concurrency=2)])
    runner = make_runner(database_url=database_url)
    store = runner.store
    assert store is not None
    results: list[WorkflowResult] = []
    thread = threading.Thread(
        target=lambda: results.append(runner.execute(flow, params={"items": [0, 1]}))
    )
    thread.start()
    try:
        deadline, running = time.monotonic() + 10, []
        while not running and time.monotonic() < deadline:  # its row, RUNNING (after 0.1 s)
            [parent] = store.list_runs(workflow="cancel.items") or [None]
            if parent is not None:
                running = [
                    r
                    for r in store.child_runs(parent.run_id, "each#0")
                    if r.status == WorkflowStatus.RUNNING and r.item_index == 0
                ]
            time.sleep(0.02)
        [one] = running
        assert parent is not None
        with pytest.raises(RunIsMapItemError) as refused:
            runner.cancel(one.run_id)
        assert f"cancel run {parent.run_id!r}" in str(refused.value)
        assert "map step 'each'" in str(refused.value)
        done = CliRunner().invoke(cli, ["--db", database_url, "cancel", one.run_id])
        assert done.exit_code == 2
        assert f"cancel run {parent.run_id!r}" in done.stderr
        stored = store.load_run(one.run_id).run
        assert stored.status == WorkflowStatus.RUNNING
        assert not store.cancel_requested(one.run_id)
    finally:
        release.set()
        thread.join(10)
    [result] = results
    assert result.status == WorkflowStatus.COMPLETED
    with pytest.raises(RunIsMapItemError):  # an item that ended: refused all the same
        runner.cancel(one.run_id)
