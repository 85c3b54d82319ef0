"""spine.testing: helpers users test their own workflows with."""

from __future__ import annotations

from pathlib import Path

from spine.orchestration import RetryPolicy, Step, StepResult, Workflow
from spine.testing import FakeClock, temporary_runner


def test_temporary_runner_keeps_history_and_cleans_up() -> None:
    attempts: list[int] = []

    def flaky(ctx: object, config: object) -> StepResult:
        attempts.append(1)
        return StepResult.fail("not yet") if len(attempts) < 3 else StepResult.ok()

    retry = RetryPolicy(max_attempts=3, initial_delay_seconds=10, jitter=False)
    workflow = Workflow("testing.flaky", [Step.lambda_("f", flaky, retry=retry)])
    clock = FakeClock()
    with temporary_runner(clock=clock) as runner:
        result = runner.execute(workflow)
        assert runner.store is not None
        rows = runner.store.load_run(result.run_id).steps
        url = runner.store.url
    assert result.status == "COMPLETED"
    assert clock.sleeps == [10.0, 20.0]
    assert [r.attempt for r in rows] == [1, 2, 3]
    assert not Path(url.removeprefix("sqlite:///")).exists()
