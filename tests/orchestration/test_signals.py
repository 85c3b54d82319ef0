"""``Step.await_signal``: a run waits, durably, for a signal sent to it; the signal's
payload is the step's output, a signal sent early is kept, a timeout fails TIMEOUT."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from spine.core.errors import RunEndedError, RunNotFoundError, WorkflowValidationError
from spine.orchestration import (
    Step,
    Workflow,
    WorkflowContext,
    WorkflowResult,
    WorkflowRunner,
    WorkflowStatus,
    register_workflow,
)
from spine.testing import FakeClock

MakeRunner = Callable[..., WorkflowRunner]
T0 = 1_700_000_000.0


def _flow(timeout: float | None = None) -> Workflow:
    return register_workflow(Workflow("signals.approve", [
        Step.lambda_("prepare", lambda ctx, config: {"ready": True}),
        Step.await_signal("approval", "approved", timeout_seconds=timeout),
        Step.lambda_("after", lambda ctx, config: {"by": ctx.get_output("approval")["by"]}),
    ]))  # fmt: skip


def test_a_waiting_run_is_due_once_signalled_and_recover_completes_it(
    database_url: str, make_runner: MakeRunner
) -> None:
    runner = make_runner(database_url=database_url, block_on_waits=False)
    first = runner.execute(_flow())
    assert first.status == WorkflowStatus.WAITING
    assert runner.store is not None
    assert runner.recover() == []  # not due: nothing was sent
    assert runner.store.load_run(first.run_id).run.awaiting_signal == "approved"
    runner.signal(first.run_id, "approved", {"by": "ada"})
    assert runner.store.load_run(first.run_id).run.status == "WAITING"
    [done] = runner.recover()
    assert done.status == WorkflowStatus.COMPLETED
    assert done.context.get_output("approval") == {"by": "ada"}
    assert done.context.get_output("after") == {"by": "ada"}
    [sent] = runner.store.signals(first.run_id)
    assert (sent.signal_name, sent.payload) == ("approved", {"by": "ada"})
    assert sent.consumed_at is not None


def test_a_signal_sent_before_the_step_is_kept_for_it(
    database_url: str, make_runner: MakeRunner
) -> None:
    runner = make_runner(database_url=database_url, block_on_waits=False)
    gate = register_workflow(Workflow("signals.early", [
        Step.wait("first", duration_seconds=3600),
        Step.await_signal("approval", "approved"),
    ]))  # fmt: skip
    waiting = runner.execute(gate)
    assert waiting.status == WorkflowStatus.WAITING
    runner.signal(waiting.run_id, "approved", {"by": "early"})
    assert runner.store is not None
    # Not the signal's wait: the duration wait keeps its own deadline.
    assert runner.recover() == []
    assert runner.store.signals(waiting.run_id)[0].consumed_at is None
    clock_past = runner.store.load_run(waiting.run_id).run
    assert clock_past.wake_at is not None
    assert clock_past.wake_at > clock_past.started_at + 3000
    runner_later = make_runner(
        database_url=database_url, block_on_waits=False, clock=FakeClock(clock_past.wake_at)
    )
    [done] = runner_later.recover()
    assert done.status == WorkflowStatus.COMPLETED
    assert done.context.get_output("approval") == {"by": "early"}


def test_a_blocking_execute_completes_when_another_thread_signals(
    sqlite_url: str, make_runner: MakeRunner
) -> None:
    runner = make_runner(database_url=sqlite_url)
    started = threading.Event()
    run_ids: list[str] = []

    def note(ctx: WorkflowContext, config: dict[str, Any]) -> None:
        run_ids.append(ctx.run_id)
        started.set()

    flow = Workflow("signals.blocking", [
        Step.lambda_("note", note), Step.await_signal("approval", "approved"),
    ])  # fmt: skip
    results: list[WorkflowResult] = []
    worker = threading.Thread(target=lambda: results.append(runner.execute(flow)))
    worker.start()
    assert started.wait(10)
    sender = make_runner(database_url=sqlite_url)
    sender.signal(run_ids[0], "approved", {"by": "thread"})
    worker.join(timeout=10)
    assert not worker.is_alive()
    [result] = results
    assert result.status == WorkflowStatus.COMPLETED
    assert result.context.get_output("approval") == {"by": "thread"}


def test_no_signal_within_the_timeout_fails_the_step_timeout(
    database_url: str, make_runner: MakeRunner
) -> None:
    clock = FakeClock(T0)
    runner = make_runner(database_url=database_url, block_on_waits=False, clock=clock)
    first = runner.execute(_flow(timeout=60))
    assert first.status == WorkflowStatus.WAITING
    assert runner.store is not None
    assert runner.store.load_run(first.run_id).run.wake_at == pytest.approx(T0 + 60)
    clock.advance(61)
    [failed] = runner.recover()
    assert failed.status == WorkflowStatus.FAILED
    assert failed.error_category == "TIMEOUT"
    assert "'signals.approve'" in (failed.error or "")
    assert "'approval'" in (failed.error or "")
    assert "'approved'" in (failed.error or "")


def test_a_timeout_on_the_first_step_is_kept_across_a_resume(
    sqlite_url: str, make_runner: MakeRunner
) -> None:
    clock = FakeClock(T0)
    runner = make_runner(database_url=sqlite_url, block_on_waits=False, clock=clock)
    flow = Workflow("signals.first", [Step.await_signal("approval", "approved", 60)])
    first = runner.execute(flow)
    clock.advance(30)
    assert runner.resume(first.run_id, flow).status == WorkflowStatus.WAITING
    assert runner.store is not None
    assert runner.store.load_run(first.run_id).run.wake_at == pytest.approx(T0 + 60)


def test_signals_to_unknown_or_ended_runs_are_refused(
    sqlite_url: str, make_runner: MakeRunner
) -> None:
    runner = make_runner(database_url=sqlite_url)
    done = runner.execute(Workflow("signals.done", [Step.lambda_("a", lambda c, k: None)]))
    with pytest.raises(RunEndedError, match="has ended \\(COMPLETED\\)"):
        runner.signal(done.run_id, "approved", {})
    with pytest.raises(RunNotFoundError):
        runner.signal("no-such-run", "approved", {})
    with pytest.raises(WorkflowValidationError, match="payload must be a JSON object"):
        runner.signal(done.run_id, "approved", ["x"])  # type: ignore[arg-type]
    assert runner.store is not None
    assert runner.store.signals(done.run_id) == []


def test_without_history_the_step_fails_configuration() -> None:
    result = WorkflowRunner().execute(_flow())
    assert result.status == WorkflowStatus.FAILED
    assert result.error_category == "CONFIGURATION"
    assert "'approval'" in (result.error or "")
    assert "history" in (result.error or "")


def test_timeout_seconds_is_allowed_on_signal_waits_only() -> None:
    Workflow("signals.ok", [Step.await_signal("a", "go", timeout_seconds=5)]).validate()
    bad = Step.wait("pause", duration_seconds=1)
    bad.timeout_seconds = 5
    with pytest.raises(WorkflowValidationError, match="does not apply to a wait step"):
        Workflow("signals.bad", [bad]).validate()
    with pytest.raises(WorkflowValidationError, match="signal_name must be a non-empty"):
        Workflow("signals.empty", [Step.await_signal("a", " ")]).validate()


def test_kept_signals_are_consumed_oldest_first_one_per_step(
    sqlite_url: str, make_runner: MakeRunner
) -> None:
    clock = FakeClock(T0)
    runner = make_runner(database_url=sqlite_url, block_on_waits=False, clock=clock)
    flow = register_workflow(Workflow("signals.twice", [
        Step.await_signal("first", "next"), Step.await_signal("second", "next"),
    ]))  # fmt: skip
    waiting = runner.execute(flow)
    runner.signal(waiting.run_id, "next", {"n": 1})
    clock.advance(1)
    runner.signal(waiting.run_id, "next", {"n": 2})
    [done] = runner.recover()
    assert done.status == WorkflowStatus.COMPLETED
    assert done.context.get_output("first") == {"n": 1}
    assert done.context.get_output("second") == {"n": 2}


def test_a_map_whose_items_would_await_a_signal_is_refused() -> None:
    items = Workflow("signals.item", [Step.await_signal("gate", "go")])
    with pytest.raises(WorkflowValidationError, match="map items take no signals"):
        Workflow("signals.map", [Step.map("each", "params.rows", items)])


def test_a_dry_run_does_not_wait_for_the_signal(sqlite_url: str, make_runner: MakeRunner) -> None:
    runner = make_runner(database_url=sqlite_url, dry_run=True)
    result = runner.execute(Workflow("signals.dry", [Step.await_signal("approval", "go", 60)]))
    assert result.status == WorkflowStatus.COMPLETED  # (waiting, it would fail TIMEOUT)
