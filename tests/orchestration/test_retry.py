"""RetryPolicy and retries in the runner, timed by a FakeClock."""

from __future__ import annotations

import pytest

from spine.framework import pipeline
from spine.orchestration import (
    ErrorCategory,
    ErrorPolicy,
    RetryPolicy,
    Step,
    StepResult,
    Workflow,
    WorkflowRunner,
    WorkflowStatus,
)
from spine.testing import FakeClock


def flaky(failures: int, category: str = "TRANSIENT"):
    """A step function that fails ``failures`` times, then succeeds; it counts its calls."""
    calls: list[int] = []

    def fn(ctx, config) -> StepResult:
        calls.append(len(calls) + 1)
        if len(calls) <= failures:
            return StepResult.fail(f"attempt {len(calls)} failed", category=category)
        return StepResult.ok(output={"attempts": len(calls)})

    fn.calls = calls  # type: ignore[attr-defined]
    return fn


def test_retry_policy_defaults() -> None:
    policy = RetryPolicy()
    assert policy.max_attempts == 3
    assert policy.initial_delay_seconds == 1.0
    assert policy.backoff_multiplier == 2.0
    assert policy.max_delay_seconds == 60.0
    assert policy.jitter is True
    assert policy.retry_on is None


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_attempts": 0}, "max_attempts"),
        ({"max_attempts": -2}, "max_attempts"),
        ({"initial_delay_seconds": -1.0}, "initial_delay_seconds"),
        ({"max_delay_seconds": -5}, "max_delay_seconds"),
        ({"initial_delay_seconds": float("inf")}, "initial_delay_seconds"),
        ({"initial_delay_seconds": float("nan")}, "initial_delay_seconds"),
        ({"max_delay_seconds": float("inf")}, "max_delay_seconds"),
        ({"max_delay_seconds": 366 * 86400 + 1}, "max_delay_seconds"),
        ({"max_delay_seconds": 10**30}, "max_delay_seconds"),
        ({"initial_delay_seconds": True}, "initial_delay_seconds"),
        ({"backoff_multiplier": float("inf")}, "backoff_multiplier"),
        ({"backoff_multiplier": float("nan")}, "backoff_multiplier"),
        ({"max_attempts": True}, "max_attempts"),
    ],
)
def test_retry_policy_rejects_invalid_values(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        RetryPolicy(**kwargs)


def test_retry_delays_may_reach_366_days() -> None:
    longest = RetryPolicy(initial_delay_seconds=366 * 86400, max_delay_seconds=366 * 86400)
    assert longest.delay_seconds(1) <= 366 * 86400


def test_retry_on_accepts_categories_and_strings() -> None:
    policy = RetryPolicy(retry_on=[ErrorCategory.TRANSIENT, "CUSTOM"])
    assert policy.retry_on is not None
    assert set(policy.retry_on) == {"TRANSIENT", "CUSTOM"}


def test_fails_twice_then_succeeds(clock: FakeClock) -> None:
    fn = flaky(2)
    workflow = Workflow(
        "retry.wf",
        [Step.lambda_("fetch", fn, retry=RetryPolicy(max_attempts=3, jitter=False))],
    )
    result = WorkflowRunner(clock=clock).execute(workflow)

    assert result.status == WorkflowStatus.COMPLETED
    assert fn.calls == [1, 2, 3]
    executions = result.step_executions
    assert [e.step_name for e in executions] == ["fetch"] * 3
    assert [e.attempt for e in executions] == [1, 2, 3]
    assert [e.will_retry for e in executions] == [True, True, False]
    assert [e.status for e in executions] == ["FAILED", "FAILED", "COMPLETED"]
    assert executions[0].error == "attempt 1 failed"
    assert executions[1].error == "attempt 2 failed"
    assert clock.sleeps == [1.0, 2.0]
    assert result.context.get_output("fetch") == {"attempts": 3}


def test_retried_then_succeeded_step_is_not_in_failed_steps(clock: FakeClock) -> None:
    workflow = Workflow(
        "retry.lists",
        [
            Step.lambda_("fetch", flaky(1), retry=RetryPolicy(jitter=False)),
            Step.lambda_("after", lambda ctx, config: None),
        ],
    )
    result = WorkflowRunner(clock=clock).execute(workflow)
    assert result.status == WorkflowStatus.COMPLETED
    assert result.failed_steps == []
    assert result.completed_steps == ["fetch", "after"]
    assert result.error is None
    assert result.error_step is None


def test_gives_up_after_max_attempts(clock: FakeClock) -> None:
    fn = flaky(10)
    ran: list[str] = []
    workflow = Workflow(
        "retry.exhausted",
        [
            Step.lambda_("fetch", fn, retry=RetryPolicy(max_attempts=4, jitter=False)),
            Step.lambda_("after", lambda ctx, config: ran.append("after")),
        ],
    )
    result = WorkflowRunner(clock=clock).execute(workflow)
    assert result.status == WorkflowStatus.FAILED
    assert fn.calls == [1, 2, 3, 4]
    assert [e.attempt for e in result.step_executions] == [1, 2, 3, 4]
    assert [e.will_retry for e in result.step_executions] == [True, True, True, False]
    assert result.failed_steps == ["fetch"]
    assert result.error == "attempt 4 failed"
    assert clock.sleeps == [1.0, 2.0, 4.0]
    assert ran == []


def test_backoff_is_exponential_and_capped(clock: FakeClock) -> None:
    policy = RetryPolicy(
        max_attempts=7,
        initial_delay_seconds=0.5,
        backoff_multiplier=3.0,
        max_delay_seconds=10.0,
        jitter=False,
    )
    workflow = Workflow("backoff", [Step.lambda_("s", flaky(100), retry=policy)])
    WorkflowRunner(clock=clock).execute(workflow)
    assert clock.sleeps == pytest.approx([0.5, 1.5, 4.5, 10.0, 10.0, 10.0])


def test_jitter_stays_within_upper_half_of_the_delay(clock: FakeClock) -> None:
    policy = RetryPolicy(
        max_attempts=8, initial_delay_seconds=1.0, backoff_multiplier=2.0, max_delay_seconds=20.0
    )
    workflow = Workflow("jitter", [Step.lambda_("s", flaky(100), retry=policy)])
    WorkflowRunner(clock=clock).execute(workflow)
    expected = [1.0, 2.0, 4.0, 8.0, 16.0, 20.0, 20.0]
    assert len(clock.sleeps) == len(expected)
    for slept, delay in zip(clock.sleeps, expected, strict=True):
        assert delay / 2 <= slept <= delay


def test_non_matching_category_is_not_retried(clock: FakeClock) -> None:
    fn = flaky(1, category="DATA_QUALITY")
    policy = RetryPolicy(max_attempts=5, jitter=False, retry_on={"TRANSIENT"})
    workflow = Workflow("retry.on", [Step.lambda_("s", fn, retry=policy)])
    result = WorkflowRunner(clock=clock).execute(workflow)
    assert result.status == WorkflowStatus.FAILED
    assert fn.calls == [1]
    assert clock.sleeps == []
    assert len(result.step_executions) == 1
    assert result.step_executions[0].will_retry is False


def test_matching_category_is_retried(clock: FakeClock) -> None:
    fn = flaky(2, category="TRANSIENT")
    policy = RetryPolicy(
        max_attempts=5, jitter=False, retry_on=[ErrorCategory.TRANSIENT, ErrorCategory.TIMEOUT]
    )
    workflow = Workflow("retry.on", [Step.lambda_("s", fn, retry=policy)])
    result = WorkflowRunner(clock=clock).execute(workflow)
    assert result.status == WorkflowStatus.COMPLETED
    assert fn.calls == [1, 2, 3]
    assert clock.sleeps == [1.0, 2.0]


def test_error_policy_retry_uses_the_step_retry_policy(clock: FakeClock) -> None:
    fn = flaky(10)
    workflow = Workflow(
        "policy.retry",
        [
            Step.lambda_(
                "s",
                fn,
                on_error=ErrorPolicy.RETRY,
                retry=RetryPolicy(max_attempts=2, initial_delay_seconds=3.0, jitter=False),
            )
        ],
    )
    result = WorkflowRunner(clock=clock).execute(workflow)
    assert result.status == WorkflowStatus.FAILED
    assert fn.calls == [1, 2]
    assert clock.sleeps == [3.0]


def test_error_policy_retry_without_a_policy_retries_with_defaults(clock: FakeClock) -> None:
    fn = flaky(1)
    workflow = Workflow("policy.retry", [Step.lambda_("s", fn, on_error=ErrorPolicy.RETRY)])
    result = WorkflowRunner(clock=clock).execute(workflow)
    assert result.status == WorkflowStatus.COMPLETED
    assert fn.calls == [1, 2]
    assert len(clock.sleeps) == 1
    assert 0.5 <= clock.sleeps[0] <= 1.0


def test_no_retry_policy_means_one_attempt(clock: FakeClock) -> None:
    fn = flaky(1)
    result = WorkflowRunner(clock=clock).execute(Workflow("once", [Step.lambda_("s", fn)]))
    assert result.status == WorkflowStatus.FAILED
    assert fn.calls == [1]
    assert clock.sleeps == []


def test_retry_with_continue_ends_partial(clock: FakeClock) -> None:
    workflow = Workflow(
        "retry.continue",
        [
            Step.lambda_(
                "s",
                flaky(10),
                on_error=ErrorPolicy.CONTINUE,
                retry=RetryPolicy(max_attempts=2, jitter=False),
            ),
            Step.lambda_("after", lambda ctx, config: None),
        ],
    )
    result = WorkflowRunner(clock=clock).execute(workflow)
    assert result.status == WorkflowStatus.PARTIAL
    assert result.failed_steps == ["s"]
    assert result.completed_steps == ["after"]
    assert len(clock.sleeps) == 1


def test_exceptions_are_retried(clock: FakeClock) -> None:
    calls: list[int] = []

    def fn(ctx, config) -> dict:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("reset by peer")
        return {"ok": True}

    workflow = Workflow("raise.retry", [Step.lambda_("s", fn, retry=RetryPolicy(jitter=False))])
    result = WorkflowRunner(clock=clock).execute(workflow)
    assert result.status == WorkflowStatus.COMPLETED
    assert len(calls) == 3
    assert "reset by peer" in (result.step_executions[0].error or "")


def test_pipeline_step_retry(clock: FakeClock) -> None:
    calls: list[dict] = []

    @pipeline("flaky.pipe")
    def flaky_pipe(params: dict) -> dict:
        calls.append(params)
        if len(calls) == 1:
            raise RuntimeError("temporary")
        return {"rows": 1}

    workflow = Workflow(
        "pipe.retry",
        [Step.pipeline("p", "flaky.pipe", retry=RetryPolicy(jitter=False, retry_on={"PIPELINE"}))],
    )
    result = WorkflowRunner(clock=clock).execute(workflow)
    assert result.status == WorkflowStatus.COMPLETED
    assert len(calls) == 2
    assert [e.attempt for e in result.step_executions] == [1, 2]
    assert clock.sleeps == [1.0]


def test_the_delay_of_a_very_late_attempt_is_the_cap() -> None:
    policy = RetryPolicy(max_attempts=5000, initial_delay_seconds=1.0, max_delay_seconds=30.0,
                         backoff_multiplier=2.0, jitter=False)  # fmt: skip
    assert policy.delay_seconds(3000) == 30.0
