"""Parallel groups: real threads, at most ``max_concurrency`` at once, dependencies kept."""

from __future__ import annotations

import contextvars
import threading

import pytest
from group_recorder import Recorder

from spine.framework.groups import (
    ExecutionPolicy,
    GroupExecutionStatus,
    GroupRunner,
    PipelineGroup,
    PipelineStep,
)


@pytest.mark.parametrize("limit", [1, 2, 3])
def test_max_concurrency_is_reached_and_never_exceeded(recorder: Recorder, limit: int) -> None:
    recorder.add("work", seconds=0.15)
    group = PipelineGroup(
        "wide",
        [PipelineStep(f"s{i}", "work") for i in range(6)],
        policy=ExecutionPolicy.parallel(max_concurrency=limit),
    )

    result = GroupRunner().run(group)

    assert result.status is GroupExecutionStatus.COMPLETED
    assert len(recorder.calls) == 6
    assert recorder.peak == limit


def test_independent_steps_overlap(recorder: Recorder) -> None:
    # Each waits for the other: run one at a time, the barrier would time out.
    both = threading.Barrier(2, timeout=10)
    recorder.add("left", during=both.wait)
    recorder.add("right", during=both.wait)
    group = PipelineGroup(
        "pair",
        [PipelineStep("left", "left"), PipelineStep("right", "right")],
        policy=ExecutionPolicy.parallel(max_concurrency=2),
    )

    result = GroupRunner().run(group)

    assert result.status is GroupExecutionStatus.COMPLETED
    assert all(name.startswith("spine-group-pair") for name in recorder.threads.values())


def test_a_step_starts_only_after_its_dependencies_end(recorder: Recorder) -> None:
    for name in ("a", "b", "c", "d"):
        recorder.add(name, seconds=0.05)
    group = PipelineGroup(
        "diamond",
        [
            PipelineStep("a", "a"),
            PipelineStep("b", "b", depends_on="a"),
            PipelineStep("c", "c", depends_on="a"),
            PipelineStep("d", "d", depends_on=["b", "c"]),
        ],
        policy=ExecutionPolicy.parallel(max_concurrency=4),
    )

    result = GroupRunner().run(group)

    spans = recorder.spans
    assert result.status is GroupExecutionStatus.COMPLETED
    assert spans["b"][0] >= spans["a"][1]
    assert spans["c"][0] >= spans["a"][1]
    assert spans["d"][0] >= max(spans["b"][1], spans["c"][1])
    assert [s.step_name for s in result.step_executions] == ["a", "b", "c", "d"]


def test_steps_see_the_callers_context_variables(recorder: Recorder) -> None:
    tenant: contextvars.ContextVar[str] = contextvars.ContextVar("tenant", default="none")
    seen: list[str] = []
    recorder.add("read", during=lambda: seen.append(tenant.get()))
    group = PipelineGroup(
        "g",
        [PipelineStep("one", "read"), PipelineStep("two", "read")],
        policy=ExecutionPolicy.parallel(max_concurrency=2),
    )
    tenant.set("acme")

    GroupRunner().run(group)

    assert seen == ["acme", "acme"]
