"""Sequential groups: one step at a time on the calling thread, in plan order."""

from __future__ import annotations

import json
import threading
from typing import Any

from group_recorder import Recorder

from spine.core.errors import BadParamsError
from spine.execution import ExecutionContext
from spine.framework import Pipeline, pipeline
from spine.framework.groups import (
    ExecutionPolicy,
    FailurePolicy,
    GroupExecutionStatus,
    GroupRunner,
    PipelineGroup,
    PipelineStep,
    StepStatus,
)
from spine.testing import FakeClock


def test_steps_run_in_plan_order_on_the_calling_thread(recorder: Recorder) -> None:
    for name in ("extract", "load", "report"):
        recorder.add(name)
    group = PipelineGroup(
        "g",
        [
            PipelineStep("report", "report", depends_on="load"),
            PipelineStep("load", "load", depends_on="extract"),
            PipelineStep("extract", "extract"),
        ],
        defaults={"tier": "T1"},
    )

    result = GroupRunner().run(group, {"week": "2026-01-03"})

    assert result.status is GroupExecutionStatus.COMPLETED
    assert result.succeeded
    assert result.error is None
    assert recorder.calls == ["extract", "load", "report"]
    assert set(recorder.threads.values()) == {threading.current_thread().name}
    assert recorder.params["load"] == {"tier": "T1", "week": "2026-01-03"}
    assert [s.step_name for s in result.step_executions] == ["extract", "load", "report"]
    assert result.successful_steps == result.total_steps == 3
    assert result.get_step_execution("load").metrics == {"ran": "load"}  # type: ignore[union-attr]


def test_members_are_children_of_the_given_execution(recorder: Recorder) -> None:
    recorder.add("a")
    recorder.add("b")
    group = PipelineGroup("g", [PipelineStep("first", "a"), PipelineStep("second", "b")])
    parent = ExecutionContext(run_id="run-1", workflow_name="wf")

    result = GroupRunner().run(group, execution=parent)

    first, second = recorder.lineage["a"], recorder.lineage["b"]
    assert first is not None
    assert second is not None
    assert first.step_name == "first"
    assert second.step_name == "second"
    assert first.parent_execution_id == second.parent_execution_id == parent.execution_id
    assert first.batch_id == second.batch_id == result.batch_id
    assert first.run_id == "run-1"
    assert first.execution_id != second.execution_id


def test_the_result_is_plain_json_data(recorder: Recorder) -> None:
    recorder.add("ok")
    recorder.add("bad", fail=True)
    group = PipelineGroup(
        "g",
        [PipelineStep("one", "ok"), PipelineStep("two", "bad"), PipelineStep("three", "ok")],
        policy=ExecutionPolicy.sequential(FailurePolicy.CONTINUE),
    )

    data = GroupRunner().run(group).to_dict()

    assert json.loads(json.dumps(data)) == data
    assert data["status"] == "partial"
    assert (data["successful_steps"], data["failed_steps"], data["skipped_steps"]) == (2, 1, 0)
    assert list(data["steps"]) == ["one", "two", "three"]
    assert data["steps"]["one"]["metrics"] == {"ran": "ok"}
    assert data["steps"]["two"]["status"] == "FAILED"
    assert data["steps"]["two"]["error"] == "RuntimeError: bad broke"


def test_a_pipeline_rejecting_its_params_fails_its_step() -> None:
    @pipeline("strict")
    class Strict(Pipeline):
        def validate_params(self) -> None:
            if "tier" not in self.params:
                raise BadParamsError("tier is required", missing_params=["tier"])

        def run(self) -> dict[str, Any]:
            return {}

    group = PipelineGroup("g", [PipelineStep("check", "strict")])

    result = GroupRunner().run(group)

    step = result.step_executions[0]
    assert result.status is GroupExecutionStatus.FAILED
    assert step.status is StepStatus.FAILED
    assert step.error == "BadParamsError: tier is required"
    assert step.result is None
    assert result.error == (
        "pipeline group 'g': step 'check' (pipeline 'strict') failed: "
        "BadParamsError: tier is required"
    )


def test_no_step_starts_after_the_timeout(recorder: Recorder) -> None:
    clock = FakeClock()
    recorder.add("slow", during=lambda: clock.advance(90))
    recorder.add("next")
    group = PipelineGroup(
        "g",
        [PipelineStep("slow", "slow"), PipelineStep("after", "next"), PipelineStep("last", "next")],
        policy=ExecutionPolicy(timeout_minutes=1),
    )

    result = GroupRunner(clock=clock).run(group)

    assert recorder.calls == ["slow"]
    assert result.status is GroupExecutionStatus.FAILED
    assert [s.status for s in result.step_executions] == [
        StepStatus.COMPLETED,
        StepStatus.SKIPPED,
        StepStatus.SKIPPED,
    ]
    assert result.step_executions[1].skip_reason == "the group timed out after 1 minute"
    assert result.error == (
        "pipeline group 'g': the group timed out after 1 minute; not run: after, last"
    )
    assert result.duration_seconds == 90


def test_a_group_within_its_timeout_completes(recorder: Recorder) -> None:
    clock = FakeClock()
    recorder.add("quick", during=lambda: clock.advance(30))
    group = PipelineGroup(
        "g",
        [PipelineStep("a", "quick"), PipelineStep("b", "quick")],
        policy=ExecutionPolicy(timeout_minutes=1.5),
    )

    result = GroupRunner(clock=clock).run(group)

    assert result.status is GroupExecutionStatus.COMPLETED
    assert recorder.calls == ["quick", "quick"]
