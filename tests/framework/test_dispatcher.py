"""Dispatcher.run: how pipeline return values, failures and lineage are reported."""

from __future__ import annotations

from typing import Any

import pytest

from spine.core.errors import BadParamsError
from spine.execution import ExecutionContext, current_execution
from spine.execution.runnable import PipelineRunResult
from spine.framework import (
    Dispatcher,
    Pipeline,
    PipelineResult,
    PipelineStatus,
    pipeline,
    register_pipeline,
)


def test_function_dict_becomes_completed_metrics() -> None:
    @pipeline("count")
    def count(params: dict[str, Any]) -> dict[str, Any]:
        return {"rows": params["n"] * 2}

    result = Dispatcher().run("count", {"n": 21})

    assert result.status is PipelineStatus.COMPLETED
    assert result.succeeded
    assert result.metrics == {"rows": 42}
    assert result.error is None
    assert result.completed_at is not None


def test_none_means_empty_metrics() -> None:
    @pipeline("nothing")
    def nothing(params: dict[str, Any]) -> None:
        return None

    result = Dispatcher().run("nothing")

    assert result.status is PipelineStatus.COMPLETED
    assert result.metrics == {}


def test_pipeline_result_is_returned_as_is() -> None:
    own = PipelineResult(status=PipelineStatus.COMPLETED, metrics={"own": True})

    @pipeline("own")
    def returns_result(params: dict[str, Any]) -> PipelineResult:
        return own

    assert Dispatcher().run("own") is own


def test_pipeline_receives_a_copy_of_params() -> None:
    seen: list[dict[str, Any]] = []

    @pipeline("mutates")
    def mutates(params: dict[str, Any]) -> dict[str, Any]:
        seen.append(params)
        params["added"] = 1
        return {}

    original = {"x": 1}
    Dispatcher().run("mutates", original)

    assert seen == [{"x": 1, "added": 1}]
    assert original == {"x": 1}


def test_exception_in_pipeline_gives_failed_result_naming_it() -> None:
    @pipeline("boom")
    def boom(params: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("disk on fire")

    result = Dispatcher().run("boom")

    assert result.status is PipelineStatus.FAILED
    assert not result.succeeded
    assert result.error is not None
    assert "RuntimeError" in result.error
    assert "disk on fire" in result.error


def test_exception_in_class_run_gives_failed_result() -> None:
    @pipeline("class.boom")
    class Boom(Pipeline):
        def run(self) -> PipelineResult:
            raise ValueError("bad row 7")

    result = Dispatcher().run("class.boom")

    assert result.status is PipelineStatus.FAILED
    assert result.error is not None
    assert "ValueError" in result.error
    assert "bad row 7" in result.error


def test_bad_params_from_validate_params_propagates() -> None:
    @pipeline("strict")
    class Strict(Pipeline):
        def validate_params(self) -> None:
            if "week" not in self.params:
                raise BadParamsError("week is required", missing_params=["week"])

        def run(self) -> dict[str, Any]:
            return {"week": self.params["week"]}

    with pytest.raises(BadParamsError) as info:
        Dispatcher().run("strict", {})
    assert info.value.missing_params == ["week"]

    assert Dispatcher().run("strict", {"week": "w1"}).metrics == {"week": "w1"}


def test_non_dict_return_is_a_failed_result_naming_pipeline() -> None:
    @pipeline("listy")
    def listy(params: dict[str, Any]) -> list[int]:
        return [1, 2]

    result = Dispatcher().run("listy")
    assert result.status == PipelineStatus.FAILED
    assert result.error is not None
    assert "'listy'" in result.error
    assert "returned a list" in result.error


def test_async_function_pipeline_is_awaited() -> None:
    @pipeline("async.fn")
    async def async_fn(params: dict[str, Any]) -> dict[str, Any]:
        return {"async": params["v"]}

    result = Dispatcher().run("async.fn", {"v": 5})

    assert result.status is PipelineStatus.COMPLETED
    assert result.metrics == {"async": 5}


def test_async_run_method_is_awaited() -> None:
    @pipeline("async.cls")
    class AsyncPipe(Pipeline):
        async def run(self) -> PipelineResult:  # type: ignore[override]
            return PipelineResult(status=PipelineStatus.COMPLETED, metrics={"ok": 1})

    result = Dispatcher().run("async.cls")

    assert result.status is PipelineStatus.COMPLETED
    assert result.metrics == {"ok": 1}


def test_async_pipeline_exception_gives_failed_result() -> None:
    @pipeline("async.boom")
    async def async_boom(params: dict[str, Any]) -> dict[str, Any]:
        raise KeyError("gone")

    result = Dispatcher().run("async.boom")

    assert result.status is PipelineStatus.FAILED
    assert result.error is not None
    assert "KeyError" in result.error


def test_function_pipeline_sees_current_execution() -> None:
    seen: list[ExecutionContext | None] = []

    @pipeline("lineage.fn")
    def lineage(params: dict[str, Any]) -> dict[str, Any]:
        seen.append(current_execution())
        return {}

    execution = ExecutionContext(run_id="run-1", workflow_name="wf")
    assert current_execution() is None
    Dispatcher().run("lineage.fn", execution=execution)

    assert seen == [execution]
    assert seen[0] is execution
    assert current_execution() is None


def test_async_function_pipeline_sees_current_execution() -> None:
    seen: list[ExecutionContext | None] = []

    @pipeline("lineage.async")
    async def lineage(params: dict[str, Any]) -> dict[str, Any]:
        seen.append(current_execution())
        return {}

    execution = ExecutionContext(run_id="run-2")
    Dispatcher().run("lineage.async", execution=execution)

    assert seen == [execution]
    assert current_execution() is None


def test_class_pipeline_sees_execution_as_attribute() -> None:
    seen: list[tuple[ExecutionContext | None, ExecutionContext | None]] = []

    @pipeline("lineage.cls")
    class Lineage(Pipeline):
        def run(self) -> None:
            seen.append((self.execution, current_execution()))

    execution = ExecutionContext(run_id="run-3")
    Dispatcher().run("lineage.cls", execution=execution)

    assert seen == [(execution, execution)]
    assert current_execution() is None


def test_current_execution_is_reset_after_a_failing_pipeline() -> None:
    @pipeline("lineage.boom")
    def boom(params: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("x")

    Dispatcher().run("lineage.boom", execution=ExecutionContext())

    assert current_execution() is None


def test_submit_pipeline_sync_returns_run_result() -> None:
    seen: list[ExecutionContext | None] = []

    @pipeline("sync.submit")
    def submit(params: dict[str, Any]) -> dict[str, Any]:
        seen.append(current_execution())
        return {"total": params["a"] + params["b"]}

    outcome = Dispatcher().submit_pipeline_sync(
        "sync.submit", {"a": 1, "b": 2}, parent_run_id="parent-1", correlation_id="corr-1"
    )

    assert isinstance(outcome, PipelineRunResult)
    assert outcome.status == "completed"
    assert outcome.succeeded
    assert outcome.metrics == {"total": 3}
    assert outcome.error is None
    execution = seen[0]
    assert execution is not None
    assert execution.parent_execution_id == "parent-1"
    assert execution.run_id == "corr-1"
    assert outcome.run_id == execution.execution_id


def test_submit_pipeline_sync_reports_failure() -> None:
    def failing(params: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("nope")

    register_pipeline("sync.fail", failing)
    outcome = Dispatcher().submit_pipeline_sync("sync.fail")

    assert outcome.status == "failed"
    assert not outcome.succeeded
    assert outcome.error is not None
    assert "nope" in outcome.error
