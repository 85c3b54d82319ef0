"""Durations and row counts past 32 bits (schema version 14): a step that loaded three
billion rows and a run that waited a month are recorded, on SQLite and PostgreSQL alike
(PostgreSQL's ``INTEGER`` stopped at 2³¹ - 1 and refused the run's end); a row count
past 64 bits is no count and is dropped, not made to fail the run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from spine.core.records import RunRecord, StepRecord
from spine.core.status import StepStatus, WorkflowStatus
from spine.orchestration import (
    Step,
    Workflow,
    WorkflowContext,
    WorkflowRunner,
    WorkflowValidationError,
)
from spine.store import open_store

from .helpers import run_row, step_rows, store_of

BILLIONS = 3_000_000_000
MONTH = 30 * 86_400.0
T0 = 1_736_143_200.0
MakeRunner = Callable[..., WorkflowRunner]


def _load(ctx: WorkflowContext, config: dict[str, Any]) -> dict[str, Any]:
    return {"row_count": ctx.params.get("count", BILLIONS) + ctx.params.get("item", 0)}


def test_a_step_that_counted_billions_of_rows_is_recorded(
    database_url: str, make_runner: MakeRunner
) -> None:
    runner = make_runner(database_url=database_url)
    store = store_of(runner)
    done = runner.execute(Workflow("big.count", [Step.lambda_("load", _load)]))
    assert done.status == WorkflowStatus.COMPLETED, done.error
    assert [row["row_count"] for row in step_rows(store.engine, done.run_id)] == [BILLIONS]

    item = Workflow("big.item", [Step.lambda_("load", _load)])
    mapped = runner.execute(
        Workflow("big.map", [Step.map("fan", "items", item)]), params={"items": [1, 2]}
    )
    assert mapped.status == WorkflowStatus.COMPLETED, mapped.error
    counts = [
        step_rows(store.engine, run.run_id)[0]["row_count"]
        for run in mapped.step_executions[0].child_runs
    ]
    assert counts == [BILLIONS + 1, BILLIONS + 2]

    # Past 64 bits: the run completes, its step's row without a count (an item's too).
    params = {"items": [1], "count": 10**20}
    mapped = runner.execute(Workflow("big.map", [Step.map("fan", "items", item)]), params=params)
    [child] = mapped.step_executions[0].child_runs
    assert [row["row_count"] for row in step_rows(store.engine, child.run_id)] == [None]
    huge = runner.execute(
        Workflow("big.huge", [Step.lambda_("load", _load)]), params={"count": 10**20}
    )
    assert huge.status == WorkflowStatus.COMPLETED, huge.error
    assert [row["row_count"] for row in step_rows(store.engine, huge.run_id)] == [None]


def test_a_run_that_waited_a_month_is_recorded_with_its_duration(database_url: str) -> None:
    store = open_store(database_url)
    try:
        run = RunRecord(run_id="r-month", workflow_name="monthly", status=WorkflowStatus.RUNNING,
                        started_at=T0, params={}, partition={})  # fmt: skip
        store.create_run(run)
        step = StepRecord(run_id="r-month", step_order=0, attempt=1, step_name="wait",
                          step_type="wait", status=StepStatus.COMPLETED, started_at=T0,
                          completed_at=T0 + MONTH, output_json="{}",
                          context_updates_json="{}", next_step=None)  # fmt: skip
        run.status, run.completed_at, run.outputs = WorkflowStatus.COMPLETED, T0 + MONTH, {}
        assert store.finish_run(run, step) is True
        assert run_row(store.engine, "r-month")["duration_ms"] == MONTH * 1000
        assert step_rows(store.engine, "r-month")[0]["duration_ms"] == MONTH * 1000
    finally:
        store.close()


def test_a_version_past_32_bits_is_refused_when_defined() -> None:
    with pytest.raises(
        WorkflowValidationError, match="version must fit in 32 bits, got 2147483648"
    ):
        Workflow("big.version", [Step.lambda_("load", _load)], version=2**31)
