"""spine.framework.dispatcher: spine-core's submit, Execution records, lanes and triggers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from spine.core.errors import BadParamsError, PipelineNotFoundError
from spine.execution import current_execution
from spine.framework.dispatcher import (
    Dispatcher,
    Execution,
    Lane,
    TriggerSource,
    get_dispatcher,
    reset_dispatcher,
)
from spine.framework.pipelines import Pipeline, PipelineResult, PipelineStatus
from spine.framework.registry import register_pipeline


@pytest.fixture
def mock_pipeline() -> type[Pipeline]:
    @register_pipeline("test.mock")
    class MockPipeline(Pipeline):
        def run(self) -> PipelineResult:
            execution = current_execution()
            assert execution is not None
            return PipelineResult(
                status=PipelineStatus.COMPLETED,
                started_at=datetime.now(UTC),
                completed_at=datetime.now(UTC),
                metrics={"execution_id": execution.execution_id, **self.params},
            )

    return MockPipeline


def test_trigger_sources_and_lanes_have_spine_cores_values() -> None:
    assert [t.value for t in TriggerSource] == ["cli", "api", "scheduler", "retry", "manual"]
    assert [lane.value for lane in Lane] == ["normal", "backfill", "slow"]


def test_an_execution_record_has_spine_cores_fields() -> None:
    now = datetime.now(UTC)
    execution = Execution(
        id="exec-123",
        pipeline="test.pipeline",
        params={"key": "value"},
        lane=Lane.NORMAL,
        trigger_source=TriggerSource.CLI,
        logical_key="test-key",
        status=PipelineStatus.PENDING,
        created_at=now,
    )

    assert (execution.id, execution.pipeline, execution.logical_key) == (
        "exec-123",
        "test.pipeline",
        "test-key",
    )
    assert execution.created_at == now
    assert (execution.started_at, execution.completed_at, execution.error, execution.result) == (
        None,
        None,
        None,
        None,
    )


@pytest.mark.usefixtures("mock_pipeline")
def test_submit_runs_the_pipeline_and_records_its_execution() -> None:
    dispatcher = Dispatcher()
    before = datetime.now(UTC)

    execution = dispatcher.submit(pipeline="test.mock", params={"week_ending": "2026-01-03"})

    assert before <= execution.created_at <= datetime.now(UTC)
    assert execution.pipeline == "test.mock"
    assert execution.params == {"week_ending": "2026-01-03"}
    assert execution.status == PipelineStatus.COMPLETED
    assert execution.result is not None
    # The record's id is the pipeline's lineage: the execution it saw as current.
    assert execution.result.metrics["execution_id"] == execution.id
    assert execution.completed_at is not None
    assert execution.error is None
    assert (execution.lane, execution.trigger_source, execution.logical_key) == (
        Lane.NORMAL,
        TriggerSource.CLI,
        None,
    )
    assert dispatcher.get_execution(execution.id) is execution
    assert dispatcher.get_execution("nonexistent") is None


@pytest.mark.usefixtures("mock_pipeline")
def test_submit_keeps_the_lane_trigger_and_logical_key_given() -> None:
    execution = Dispatcher().submit(
        "test.mock",
        lane=Lane.BACKFILL,
        trigger_source=TriggerSource.SCHEDULER,
        logical_key="week_2026-01-03_tier_NMS",
    )

    assert execution.lane == Lane.BACKFILL
    assert execution.trigger_source == TriggerSource.SCHEDULER
    assert execution.logical_key == "week_2026-01-03_tier_NMS"
    assert execution.params == {}


def test_a_failing_pipeline_is_a_failed_execution() -> None:
    @register_pipeline("test.crash")
    def crash(params: dict[str, object]) -> None:
        raise RuntimeError("unexpected crash")

    execution = Dispatcher().submit("test.crash")

    assert execution.status == PipelineStatus.FAILED
    assert execution.error is not None
    assert "unexpected crash" in execution.error


def test_an_unknown_pipeline_or_bad_params_raise_and_are_recorded_failed() -> None:
    @register_pipeline("test.strict")
    class Strict(Pipeline):
        def validate_params(self) -> None:
            raise BadParamsError("bad params", missing_params=["ticker"])

        def run(self) -> None:
            return None

    dispatcher = Dispatcher()
    with pytest.raises(PipelineNotFoundError):
        dispatcher.submit("no_pipe")
    with pytest.raises(BadParamsError):
        dispatcher.submit("test.strict", {"wrong": "param"})

    failed = dispatcher.list_executions(status=PipelineStatus.FAILED)
    assert [e.pipeline for e in failed] == ["test.strict", "no_pipe"]
    assert failed[0].error == "bad params"
    assert failed[0].result is None


@pytest.mark.usefixtures("mock_pipeline")
def test_executions_are_listed_newest_first_filtered_and_limited() -> None:
    dispatcher = Dispatcher()
    submitted = [dispatcher.submit("test.mock", {"n": n}) for n in range(5)]
    register_pipeline("test.other", lambda params: {})
    other = dispatcher.submit("test.other")

    assert len({e.id for e in submitted}) == 5
    assert dispatcher.list_executions(pipeline="test.other") == [other]
    assert [e.params for e in dispatcher.list_executions(pipeline="test.mock", limit=3)] == [
        {"n": 4},
        {"n": 3},
        {"n": 2},
    ]
    assert dispatcher.list_executions(status=PipelineStatus.PENDING) == []
    assert Dispatcher().list_executions() == []


def test_the_shared_dispatcher_lasts_until_reset() -> None:
    reset_dispatcher()
    shared = get_dispatcher()

    assert get_dispatcher() is shared
    reset_dispatcher()
    assert get_dispatcher() is not shared
    reset_dispatcher()
