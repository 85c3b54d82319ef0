"""STOP starts nothing after a failure; CONTINUE skips only what depends on it."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from group_recorder import Recorder

from spine.framework.groups import (
    ExecutionMode,
    ExecutionPolicy,
    FailurePolicy,
    GroupExecutionStatus,
    GroupRunner,
    PipelineGroup,
    PipelineStep,
    StepStatus,
)

MODES: list[Callable[[FailurePolicy], ExecutionPolicy]] = [
    ExecutionPolicy.sequential,
    lambda on_failure: ExecutionPolicy.parallel(max_concurrency=2, on_failure=on_failure),
]


def _statuses(group: PipelineGroup) -> dict[str, str]:
    result = GroupRunner().run(group)
    return {s.step_name: s.status.value for s in result.step_executions}


def test_stop_starts_no_step_after_a_failure(recorder: Recorder) -> None:
    recorder.add("ok")
    recorder.add("bad", fail=True)
    group = PipelineGroup(
        "g",
        [
            PipelineStep("first", "ok"),
            PipelineStep("broken", "bad"),
            PipelineStep("independent", "ok"),
            PipelineStep("dependent", "ok", depends_on="broken"),
        ],
    )

    result = GroupRunner().run(group)

    assert recorder.calls == ["ok", "bad"]
    assert result.status is GroupExecutionStatus.FAILED
    skipped = [s for s in result.step_executions if s.status is StepStatus.SKIPPED]
    assert [s.step_name for s in skipped] == ["independent", "dependent"]
    assert {s.skip_reason for s in skipped} == {"the group stopped after step 'broken' failed"}
    assert result.error == (
        "pipeline group 'g': step 'broken' (pipeline 'bad') failed: RuntimeError: bad broke; "
        "not run: independent, dependent"
    )


def test_stop_in_parallel_lets_running_steps_finish_and_queues_nothing(
    recorder: Recorder,
) -> None:
    recorder.add("slow", seconds=0.3)
    recorder.add("bad", fail=True)
    recorder.add("later")
    group = PipelineGroup(
        "g",
        [PipelineStep("slow", "slow"), PipelineStep("broken", "bad"), PipelineStep("x", "later")],
        policy=ExecutionPolicy.parallel(max_concurrency=2),
    )

    result = GroupRunner().run(group)

    assert "later" not in recorder.calls
    # "slow" was still running when "broken" failed, and was left to finish.
    assert recorder.spans["slow"][1] > recorder.spans["bad"][1]
    assert [s.status for s in result.step_executions] == [
        StepStatus.COMPLETED,
        StepStatus.FAILED,
        StepStatus.SKIPPED,
    ]
    assert result.status is GroupExecutionStatus.FAILED


@pytest.mark.parametrize("policy", MODES, ids=["sequential", "parallel"])
def test_continue_skips_only_the_dependents_of_a_failure(
    recorder: Recorder, policy: Callable[[FailurePolicy], ExecutionPolicy]
) -> None:
    recorder.add("ok")
    recorder.add("bad", fail=True)
    group = PipelineGroup(
        "g",
        [
            PipelineStep("ingest", "bad"),
            PipelineStep("normalize", "ok", depends_on="ingest"),
            PipelineStep("aggregate", "ok", depends_on="normalize"),
            PipelineStep("reference", "ok"),
            PipelineStep("publish", "ok", depends_on="reference"),
        ],
        policy=policy(FailurePolicy.CONTINUE),
    )

    result = GroupRunner().run(group)

    assert result.status is GroupExecutionStatus.PARTIAL
    assert {s.step_name: s.status.value for s in result.step_executions} == {
        "ingest": "FAILED",
        "normalize": "SKIPPED",
        "aggregate": "SKIPPED",
        "reference": "COMPLETED",
        "publish": "COMPLETED",
    }
    assert result.get_step_execution("aggregate").skip_reason == (  # type: ignore[union-attr]
        "upstream step 'ingest' failed"
    )
    assert sorted(recorder.calls) == ["bad", "ok", "ok"]
    assert (result.successful_steps, result.failed_steps, result.skipped_steps) == (2, 1, 2)


def test_continue_with_nothing_completed_is_a_failure(recorder: Recorder) -> None:
    recorder.add("bad", fail=True)
    group = PipelineGroup(
        "g",
        [PipelineStep("a", "bad"), PipelineStep("b", "bad")],
        policy=ExecutionPolicy.sequential(FailurePolicy.CONTINUE),
    )

    result = GroupRunner().run(group)

    assert result.status is GroupExecutionStatus.FAILED
    assert result.failed_steps == 2
    assert result.error is not None
    assert "step 'a' (pipeline 'bad') failed: RuntimeError: bad broke; also failed: b" in (
        result.error
    )


@pytest.mark.parametrize("mode", list(ExecutionMode))
def test_a_failure_under_stop_fails_the_group_even_after_successes(
    recorder: Recorder, mode: ExecutionMode
) -> None:
    recorder.add("ok")
    recorder.add("bad", fail=True)
    group = PipelineGroup(
        "g",
        [PipelineStep("a", "ok"), PipelineStep("b", "bad", depends_on="a")],
        policy=ExecutionPolicy(mode=mode),
    )

    assert _statuses(group) == {"a": "COMPLETED", "b": "FAILED"}
    assert GroupRunner().run(group).status is GroupExecutionStatus.FAILED
