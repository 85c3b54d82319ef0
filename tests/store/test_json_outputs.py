"""Data JSON cannot hold, in a durable run: that step fails, naming the key; no half row."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from spine.core.errors import WorkflowError
from spine.orchestration import Step, StepResult, Workflow, WorkflowRunner, WorkflowStatus

from .helpers import all_rows, raw_engine, run_row, step_rows, store_of

MakeRunner = Callable[..., WorkflowRunner]


class Opaque:
    """An object of the user's own class."""


# value returned under the key "payload" -> the key path the error must name
UNSTORABLE: dict[str, tuple[Any, str]] = {
    "datetime": (datetime(2024, 1, 5, tzinfo=UTC), "['payload']"),
    "bytes": (b"\x00\x01", "['payload']"),
    "set": ({1, 2}, "['payload']"),
    "object": (Opaque(), "['payload']"),
    "decimal": (Decimal("1.5"), "['payload']"),
    "nested": ({"rows": [1, {"at": datetime(2024, 1, 5)}]}, "['payload']['rows'][1]['at']"),
    "tuple-key": ({("a", "b"): 1}, "['payload'] key ('a', 'b')"),
}


def _workflow(result: StepResult) -> Workflow:
    after_calls: list[int] = []

    def after(ctx: Any, config: dict[str, Any]) -> dict[str, Any]:
        after_calls.append(1)
        return {"ran": True}

    workflow = Workflow(
        "store.json",
        [
            Step.lambda_("extract", lambda ctx, config: {"rows": 2}),
            Step.lambda_("convert", lambda ctx, config: result),
            Step.lambda_("after", after),
        ],
    )
    workflow.after_calls = after_calls  # type: ignore[attr-defined]
    return workflow


def _check_failed_run(
    runner: WorkflowRunner, workflow: Workflow, field: str, path: str
) -> dict[str, Any]:
    result = runner.execute(workflow)

    assert result.status == WorkflowStatus.FAILED
    assert result.error_step == "convert"
    error = result.error or ""
    assert "'store.json'" in error
    assert "'convert'" in error
    assert f"{field}{path}" in error
    assert workflow.after_calls == []  # type: ignore[attr-defined]

    engine = store_of(runner).engine
    rows = step_rows(engine, result.run_id)
    assert [(r["step_name"], r["status"]) for r in rows] == [
        ("extract", "COMPLETED"),
        ("convert", "FAILED"),
    ]
    failed = rows[1]
    assert failed["error"] == error
    assert failed["outputs"] == "{}"
    assert failed["context_updates"] == "{}"
    assert failed["attempt"] == 1
    run = run_row(engine, result.run_id)
    assert run["status"] == "FAILED"
    assert run["error"] == error
    assert run["failed_steps"] == 1
    assert json.loads(run["outputs"]) == {"extract": {"rows": 2}}
    # What was stored reads back as it was written.
    stored = store_of(runner).load_run(result.run_id)
    assert [s.output for s in stored.steps] == [{"rows": 2}, {}]
    return failed


@pytest.mark.parametrize(("value", "path"), UNSTORABLE.values(), ids=UNSTORABLE.keys())
def test_an_output_json_cannot_hold_fails_that_step(
    database_url: str, make_runner: MakeRunner, value: Any, path: str
) -> None:
    runner = make_runner(database_url=database_url)
    workflow = _workflow(StepResult.ok(output={"fine": 1, "payload": value}))
    _check_failed_run(runner, workflow, "output", path)


@pytest.mark.parametrize(("value", "path"), UNSTORABLE.values(), ids=UNSTORABLE.keys())
def test_context_updates_json_cannot_hold_fail_that_step(
    database_url: str, make_runner: MakeRunner, value: Any, path: str
) -> None:
    runner = make_runner(database_url=database_url)
    workflow = _workflow(
        StepResult.ok(output={"fine": 1}, context_updates={"ok": 1, "payload": value})
    )
    # Neither the (storable) output nor the updates of the failed step are kept.
    _check_failed_run(runner, workflow, "context_updates", path)


def test_a_failed_step_with_unstorable_output_names_the_key(
    database_url: str, make_runner: MakeRunner
) -> None:
    """Even a failing step's output must be storable; the error says why it is not."""
    runner = make_runner(database_url=database_url)
    workflow = _workflow(StepResult.fail("upstream down", output={"payload": b"raw"}))
    _check_failed_run(runner, workflow, "output", "['payload']")


def test_resuming_after_an_unstorable_output_runs_the_step_again(
    database_url: str, make_runner: MakeRunner
) -> None:
    calls: list[int] = []

    def convert(ctx: Any, config: dict[str, Any]) -> dict[str, Any]:
        calls.append(1)
        return {"when": datetime(2024, 1, 5) if len(calls) == 1 else "2024-01-05"}

    workflow = Workflow(
        "store.json.resume",
        [
            Step.lambda_("extract", lambda ctx, config: {"rows": 2}),
            Step.lambda_("convert", convert),
        ],
    )
    runner = make_runner(database_url=database_url)
    failed = runner.execute(workflow)
    assert failed.status == WorkflowStatus.FAILED

    resumed = runner.resume(failed.run_id, workflow)

    assert resumed.status == WorkflowStatus.COMPLETED
    assert resumed.outputs == {"extract": {"rows": 2}, "convert": {"when": "2024-01-05"}}
    assert len(calls) == 2
    rows = step_rows(store_of(runner).engine, failed.run_id)
    assert [(r["step_name"], r["attempt"], r["status"]) for r in rows] == [
        ("extract", 1, "COMPLETED"),
        ("convert", 1, "FAILED"),
        ("convert", 2, "COMPLETED"),
    ]


def test_run_params_json_cannot_hold_are_refused_before_anything_is_written(
    database_url: str, make_runner: MakeRunner
) -> None:
    runner = make_runner(database_url=database_url)
    workflow = _workflow(StepResult.ok())
    before = all_rows(store_of(runner).engine)

    with pytest.raises(WorkflowError) as info:
        runner.execute(workflow, params={"day": datetime(2024, 1, 5)})

    message = str(info.value)
    assert "'store.json'" in message
    assert "params['day']" in message
    assert workflow.after_calls == []  # type: ignore[attr-defined]
    with raw_engine(database_url) as engine:
        assert all_rows(engine) == before
