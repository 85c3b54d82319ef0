"""Wait steps sleep through the runner's clock."""

from __future__ import annotations

import pytest

from spine.orchestration import Step, StepType, Workflow, WorkflowRunner, WorkflowStatus
from spine.testing import FakeClock


@pytest.mark.parametrize("duration", [0, 1.5, 300])
def test_wait_sleeps_its_duration(clock: FakeClock, duration: float) -> None:
    result = WorkflowRunner(clock=clock).execute(
        Workflow("wait.wf", [Step.wait("pause", duration_seconds=duration)])
    )
    assert result.status == WorkflowStatus.COMPLETED
    assert clock.sleeps == [duration]
    assert result.context.get_output("pause") == {"waited_seconds": duration}
    assert result.completed_steps == ["pause"]


def test_consecutive_waits_sleep_in_order(clock: FakeClock) -> None:
    ran: list[float] = []
    workflow = Workflow(
        "waits",
        [
            Step.wait("first", 5),
            Step.lambda_("between", lambda ctx, config: ran.append(clock.time())),
            Step.wait("second", 7.25),
        ],
    )
    start = clock.time()
    result = WorkflowRunner(clock=clock).execute(workflow)
    assert result.status == WorkflowStatus.COMPLETED
    assert clock.sleeps == [5, 7.25]
    # the step after the first wait sees the clock advanced by it
    assert ran == [start + 5]
    assert clock.time() == start + 12.25


def test_wait_step_attributes() -> None:
    step = Step.wait("cooldown", 300)
    assert step.name == "cooldown"
    assert step.step_type is StepType.WAIT
    assert step.duration_seconds == 300


def test_wait_with_next_jumps(clock: FakeClock) -> None:
    ran: list[str] = []
    workflow = Workflow(
        "wait.next",
        [
            Step.wait("pause", 1, next="end"),
            Step.lambda_("skipped", lambda ctx, config: ran.append("skipped")),
            Step.lambda_("end", lambda ctx, config: ran.append("end")),
        ],
    )
    WorkflowRunner(clock=clock).execute(workflow)
    assert ran == ["end"]
    assert clock.sleeps == [1]
