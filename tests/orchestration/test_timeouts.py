"""``timeout_seconds`` on steps and whole runs, on the inline executor: a step over its
time fails ``TIMEOUT`` at once (retried by its policy), its late result is dropped."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from spine.core.errors import WorkflowValidationError
from spine.execution.timeouts import abandoned_calls
from spine.framework.registry import register_pipeline
from spine.orchestration import (
    ErrorPolicy,
    RetryPolicy,
    Step,
    StepResult,
    Workflow,
    WorkflowContext,
    WorkflowRunner,
)


def nap(ctx: WorkflowContext, config: dict[str, Any]) -> dict[str, Any]:
    time.sleep(config["s"])
    return {"slept": config["s"]}


def test_a_step_over_its_time_fails_timeout_at_once_and_its_late_result_is_dropped() -> None:
    returned = threading.Event()

    def slow(ctx: WorkflowContext, config: dict[str, Any]) -> StepResult:
        time.sleep(0.3)
        returned.set()
        return StepResult.ok(output={"late": True}, context_updates={"late": True})

    workflow = Workflow("w", [Step.lambda_("s", slow, timeout_seconds=0.05)])
    before = abandoned_calls()
    started = time.monotonic()
    result = WorkflowRunner().execute(workflow)
    assert time.monotonic() - started < 0.25
    assert result.status == "FAILED"
    assert result.error_category == "TIMEOUT"
    assert result.error == "workflow 'w', step 's': exceeded timeout_seconds=0.05"
    assert abandoned_calls() == before + 1
    assert returned.wait(2)
    assert "s" not in result.context.outputs
    assert "late" not in result.context.params


def test_a_step_within_its_time_completes_with_its_output() -> None:
    workflow = Workflow("w", [Step.lambda_("s", nap, config={"s": 0.01}, timeout_seconds=5)])
    result = WorkflowRunner().execute(workflow)
    assert result.status == "COMPLETED", result.error
    assert result.context.outputs["s"] == {"slept": 0.01}


def test_its_retry_policy_retries_a_timed_out_step() -> None:
    calls: list[float] = []

    def faster_each_time(ctx: WorkflowContext, config: dict[str, Any]) -> dict[str, int]:
        calls.append(time.monotonic())
        time.sleep(0.3 if len(calls) < 3 else 0)
        return {"attempts": len(calls)}

    step = Step.lambda_(
        "s", faster_each_time, timeout_seconds=0.05,
        retry=RetryPolicy(max_attempts=3, initial_delay_seconds=0.01, retry_on=["TIMEOUT"]),
    )  # fmt: skip
    result = WorkflowRunner().execute(Workflow("w", [step]))
    assert result.status == "COMPLETED", result.error
    assert [e.error_category for e in result.step_executions[:2]] == ["TIMEOUT", "TIMEOUT"]
    assert result.context.outputs["s"] == {"attempts": 3}


def test_an_async_step_over_its_time_is_cancelled_not_abandoned() -> None:
    cancelled = threading.Event()

    async def waits(ctx: WorkflowContext, config: dict[str, Any]) -> None:
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    before = abandoned_calls()
    result = WorkflowRunner().execute(
        Workflow("w", [Step.lambda_("s", waits, timeout_seconds=0.05)])
    )
    assert result.error_category == "TIMEOUT"
    assert cancelled.wait(2)
    assert abandoned_calls() == before


def test_choice_and_pipeline_steps_time_out_too() -> None:
    register_pipeline("sleepy", lambda params: time.sleep(0.3))
    workflow = Workflow(
        "w",
        [
            Step.choice(
                "route", lambda ctx: time.sleep(0.3), then_step="p", timeout_seconds=0.05,
                on_error=ErrorPolicy.CONTINUE,
            ),
            Step.pipeline("p", "sleepy", timeout_seconds=0.05),
        ],
    )  # fmt: skip
    result = WorkflowRunner().execute(workflow)
    assert [(e.step_name, e.error_category) for e in result.step_executions] == [
        ("route", "TIMEOUT"),
        ("p", "TIMEOUT"),
    ]


def test_a_map_step_over_its_time_starts_no_more_items() -> None:
    started: list[int] = []

    def item_step(ctx: WorkflowContext, config: dict[str, Any]) -> None:
        started.append(ctx.params["item"])
        time.sleep(0.05)

    item = Workflow("item", [Step.lambda_("i", item_step)])
    workflow = Workflow(
        "fan", [Step.map("each", "items", item, max_concurrency=1, timeout_seconds=0.12)]
    )
    result = WorkflowRunner().execute(workflow, params={"items": list(range(40))})
    assert result.error_category == "TIMEOUT"
    time.sleep(0.2)  # the abandoned map finishes its item in flight, then starts none
    assert 1 <= len(started) <= 5, started


def test_the_run_ends_failed_timeout_naming_the_workflow_when_its_time_is_up() -> None:
    workflow = Workflow(
        "w",
        [
            Step.lambda_("a", nap, config={"s": 0.03}),
            Step.lambda_("b", nap, config={"s": 0.03}, on_error=ErrorPolicy.CONTINUE),
            Step.lambda_("c", nap, config={"s": 0.03}),
        ],
        timeout_seconds=0.05,
    )
    result = WorkflowRunner().execute(workflow)
    assert result.status == "FAILED"
    assert result.error_category == "TIMEOUT"
    assert result.error == "workflow 'w' exceeded timeout_seconds=0.05 before step 'c'"
    assert result.step_executions[1].error == (
        "workflow 'w', step 'b': the run exceeded the workflow's timeout_seconds=0.05"
    )
    assert [e.step_name for e in result.step_executions] == ["a", "b"]


def test_a_retry_that_would_start_after_the_runs_deadline_does_not_wait_for_it() -> None:
    step = Step.lambda_(
        "s", lambda ctx, config: StepResult.fail("no", "TRANSIENT"),
        retry=RetryPolicy(max_attempts=3, initial_delay_seconds=10),
    )  # fmt: skip
    started = time.monotonic()
    result = WorkflowRunner().execute(Workflow("w", [step], timeout_seconds=1))
    assert time.monotonic() - started < 0.5
    assert result.error == "workflow 'w' exceeded timeout_seconds=1 before step 's'"


def test_timed_runs_are_recorded_with_their_category(sqlite_url: str) -> None:
    workflow = Workflow("w", [Step.lambda_("s", nap, config={"s": 0.3}, timeout_seconds=0.05)])
    with WorkflowRunner(database_url=sqlite_url) as runner:
        result = runner.execute(workflow)
        assert runner.store is not None
        stored = runner.store.load_run(result.run_id)
    assert stored is not None
    assert stored.run.error_category == "TIMEOUT"
    assert [(s.step_name, s.error_category) for s in stored.steps] == [("s", "TIMEOUT")]


@pytest.mark.parametrize("bad", [0, -1.5, float("inf"), float("nan"), True, "1"])
def test_timeout_seconds_must_be_a_positive_finite_number(bad: object) -> None:
    with pytest.raises(WorkflowValidationError) as step_error:
        Workflow("w", [Step.lambda_("s", nap, timeout_seconds=bad)])  # type: ignore[arg-type]
    assert str(step_error.value) == (
        f"workflow 'w', step 's': timeout_seconds must be a positive finite number of "
        f"seconds, got {bad!r}"
    )
    with pytest.raises(WorkflowValidationError, match=r"^workflow 'w': timeout_seconds must"):
        Workflow("w", [Step.lambda_("s", nap)], timeout_seconds=bad)  # type: ignore[arg-type]


def test_a_wait_step_takes_no_timeout_and_definitions_keep_theirs() -> None:
    wait = Step("pause", "wait", duration_seconds=1, timeout_seconds=2)  # type: ignore[arg-type]
    with pytest.raises(WorkflowValidationError, match="does not apply to a wait step"):
        Workflow("w", [wait])
    workflow = Workflow("w", [Step.lambda_("s", nap, timeout_seconds=2.5)], timeout_seconds=60)
    assert workflow.to_dict()["timeout_seconds"] == 60
    assert workflow.to_dict()["steps"][0]["timeout_seconds"] == 2.5
    assert "timeout_seconds" not in Step.lambda_("s", nap).to_dict()


def test_a_timeout_too_long_to_wait_for_is_refused() -> None:
    with pytest.raises(WorkflowValidationError, match="timeout_seconds must be at most"):
        Workflow("w", [Step.lambda_("s", nap, timeout_seconds=1e10)])
    with pytest.raises(WorkflowValidationError, match="timeout_seconds must be at most"):
        Workflow("w", [Step.lambda_("s", nap)], timeout_seconds=1e10)


def test_a_map_retried_after_its_timeout_reuses_the_items_it_left_running(
    sqlite_url: str,
) -> None:
    """With history, items of a timed-out map attempt still run here: a retry that comes
    while they do fails them (it does not wait for them, nor claim them), and a later one
    reuses them once they completed; none runs twice."""
    ran: list[int] = []
    lock = threading.Lock()

    def item(ctx: WorkflowContext, config: dict[str, Any]) -> dict[str, Any]:
        index = ctx.params["item_index"]
        with lock:
            first = index not in ran
            ran.append(index)
        if first and index < 2:
            time.sleep(0.6)  # the first two outlast the map's time limit
        return {"i": index}

    each = Workflow("timeouts.item", [Step.lambda_("work", item)])
    flow = Workflow("timeouts.map_retry", [
        Step.map("m", "items", each, max_concurrency=2, timeout_seconds=0.3,
                 retry=RetryPolicy(max_attempts=5, initial_delay_seconds=0.1)),
    ])  # fmt: skip
    with WorkflowRunner(database_url=sqlite_url) as runner:
        result = runner.execute(flow, params={"items": [0, 1, 2, 3]})
    attempts = [(e.attempt, e.status, e.error_category) for e in result.step_executions]
    assert result.status == "COMPLETED", attempts
    assert attempts[0] == (1, "FAILED", "TIMEOUT")
    errors = str([e.error for e in result.step_executions])
    assert "RunOwnedError" not in errors
    assert "still running in this process" in errors  # a retry came while they ran
    assert sorted(ran) == [0, 1, 2, 3]  # each item executed once
    assert [r["work"]["i"] for r in result.context.get_output("m")["results"]] == [0, 1, 2, 3]


def test_a_run_resumed_after_it_failed_has_what_its_execution_left_of_its_limit(
    sqlite_url: str,
) -> None:
    """The whole-run limit counts execution as its duration does, on either resume:
    the time a run lay failed does not count, by hand or through the queue."""
    from spine.commands import resume_run
    from spine.orchestration import register_workflow

    broken = threading.Event()
    broken.set()

    def flaky(ctx: WorkflowContext, config: dict[str, Any]) -> StepResult:
        return StepResult.fail("source offline") if broken.is_set() else StepResult.ok()

    flow = register_workflow(
        Workflow("timeouts.resumed", [Step.lambda_("a", flaky)], timeout_seconds=1)
    )
    with WorkflowRunner(database_url=sqlite_url) as runner:
        by_hand = runner.execute(flow)
        queued = runner.execute(flow)
        time.sleep(1.2)  # longer than the limit, while they lie failed
        broken.clear()
        assert runner.resume(by_hand.run_id, flow).status == "COMPLETED"
        assert runner.store is not None
        assert resume_run(runner.store, queued.run_id).queued  # type: ignore[arg-type]
        [done] = runner.run_pending()
    assert (done.run_id, done.status) == (queued.run_id, "COMPLETED")


def test_what_a_timed_out_attempt_wrote_before_its_time_was_up_is_kept(sqlite_url: str) -> None:
    released = threading.Event()

    def hang(ctx: WorkflowContext, config: dict[str, Any]) -> StepResult:
        print("fetching page 1")
        print("waiting for", end=" ")
        released.wait(5)
        print("page 2")  # after the limit: not kept
        return StepResult.ok()

    workflow = Workflow("w", [Step.lambda_("fetch", hang, timeout_seconds=0.2)])
    with WorkflowRunner(database_url=sqlite_url) as runner:
        result = runner.execute(workflow)
        released.set()
        stored = runner.store.load_run(result.run_id).steps  # type: ignore[union-attr]
    assert result.error_category == "TIMEOUT"
    lines = [(level, text) for _, level, text in stored[0].log]
    assert lines == [
        ("stdout", "fetching page 1"),
        ("stdout", "waiting for "),
        ("spine", "[timed out after 0.2 s: later lines are not kept]"),
    ]
    assert result.step_executions[0].log is not None


def test_a_timed_out_log_past_its_limit_keeps_the_mark_of_its_cut() -> None:
    released = threading.Event()

    def chatty(ctx: WorkflowContext, config: dict[str, Any]) -> StepResult:
        for n in range(50):
            print(f"line {n:02d}")
        released.wait(5)
        return StepResult.ok()

    workflow = Workflow("w", [Step.lambda_("talk", chatty, timeout_seconds=0.2)])
    result = WorkflowRunner(log_limit_bytes=40).execute(workflow)
    released.set()
    log = result.step_executions[0].log or []
    assert [text for _, level, text in log if level == "stdout"] == [
        f"line {n:02d}" for n in range(5)
    ]
    assert log[-2][2].startswith("[45 lines (315 bytes) cut")
    assert log[-1][2] == "[timed out after 0.2 s: later lines are not kept]"
