"""Every step runs under a child ExecutionContext of its run (contract: lineage)."""

from __future__ import annotations

import uuid

import pytest

from spine.core.errors import ReadOnlyError
from spine.execution import ExecutionContext, current_execution
from spine.orchestration import (
    RetryPolicy,
    Step,
    StepResult,
    Workflow,
    WorkflowContext,
    WorkflowRunner,
)
from spine.testing import FakeClock


def test_each_step_sees_its_own_child_execution() -> None:
    seen: list[ExecutionContext | None] = []

    def record(ctx: WorkflowContext, config: dict) -> None:
        seen.append(current_execution())

    workflow = Workflow("lineage", [Step.lambda_("a", record), Step.lambda_("b", record)])
    result = WorkflowRunner().execute(workflow, partition={"tier": "T1"})

    a, b = seen
    assert a is not None
    assert b is not None
    assert [a.step_name, b.step_name] == ["a", "b"]
    assert a.execution_id != b.execution_id
    run_execution = result.context.execution
    assert a.parent_execution_id == b.parent_execution_id == run_execution.execution_id
    assert a.run_id == result.run_id
    assert a.workflow_name == "lineage"
    assert dict(a.partition) == {"tier": "T1"}
    assert current_execution() is None


def test_the_same_step_execution_is_returned_within_a_step() -> None:
    pairs: list[tuple[ExecutionContext | None, ExecutionContext | None]] = []

    def twice(ctx: WorkflowContext, config: dict) -> None:
        pairs.append((current_execution(), current_execution()))

    WorkflowRunner().execute(Workflow("same", [Step.lambda_("s", twice)]))
    first, second = pairs[0]
    assert first is second


def test_retried_attempts_get_their_attempt_number() -> None:
    attempts: list[int] = []

    def flaky(ctx: WorkflowContext, config: dict) -> StepResult:
        execution = current_execution()
        assert execution is not None
        attempts.append(execution.attempt)
        return StepResult.fail("again") if len(attempts) < 3 else StepResult.ok()

    retry = RetryPolicy(max_attempts=3, jitter=False)
    WorkflowRunner(clock=FakeClock()).execute(
        Workflow("attempts", [Step.lambda_("f", flaky, retry=retry)])
    )
    assert attempts == [1, 2, 3]


def test_run_ids_are_time_ordered_uuids() -> None:
    result = WorkflowRunner().execute(Workflow("ids", [Step.lambda_("s", lambda c, k: None)]))
    assert uuid.UUID(result.run_id).version == 7
    assert result.context.execution.execution_id == result.run_id


@pytest.mark.parametrize("name", ["params", "outputs", "run_id", "partition", "workflow_name"])
@pytest.mark.parametrize("expected", [TypeError, AttributeError, ReadOnlyError])
def test_context_attributes_cannot_be_reassigned(name: str, expected: type[Exception]) -> None:
    ctx = WorkflowContext.create("w", params={"a": 1})
    with pytest.raises(expected, match=name):
        setattr(ctx, name, {})
    assert ctx.params == {"a": 1}
