"""Map steps: fan-out over a list, fan-in of the item outputs in input order."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from spine.framework import pipeline
from spine.orchestration import (
    ErrorPolicy,
    Step,
    StepResult,
    Workflow,
    WorkflowContext,
    WorkflowRunner,
    WorkflowStatus,
)


def echo_workflow() -> Workflow:
    def echo(ctx: WorkflowContext, config: dict) -> dict:
        return {"item": ctx.get_param("item"), "index": ctx.get_param("item_index")}

    return Workflow("echo", [Step.lambda_("echo", echo)])


def map_output(result: Any, step: str = "fan") -> dict:
    output = result.context.get_output(step)
    assert output is not None
    return output


def test_map_over_params_list() -> None:
    items = ["a", "b", "c"]
    workflow = Workflow("m", [Step.map("fan", "items", echo_workflow())])
    result = WorkflowRunner().execute(workflow, params={"items": items})
    assert result.status == WorkflowStatus.COMPLETED
    assert map_output(result) == {
        "results": [{"echo": {"item": x, "index": i}} for i, x in enumerate(items)],
        "item_count": 3,
        "failed_count": 0,
    }


def test_map_over_an_earlier_step_output() -> None:
    workflow = Workflow(
        "m",
        [
            Step.lambda_("list_files", lambda ctx, config: {"files": ["f1", "f2"]}),
            Step.map("fan", "outputs.list_files.files", echo_workflow()),
        ],
    )
    result = WorkflowRunner().execute(workflow)
    assert result.status == WorkflowStatus.COMPLETED
    assert [r["echo"]["item"] for r in map_output(result)["results"]] == ["f1", "f2"]


def test_map_over_a_dotted_params_path() -> None:
    workflow = Workflow("m", [Step.map("fan", "batch.items", echo_workflow())])
    result = WorkflowRunner().execute(workflow, params={"batch": {"items": [10, 20, 30, 40]}})
    assert result.status == WorkflowStatus.COMPLETED
    output = map_output(result)
    assert [r["echo"]["item"] for r in output["results"]] == [10, 20, 30, 40]
    assert output["item_count"] == 4


def test_item_params_extend_the_parent_params() -> None:
    seen: list[dict] = []
    lock = threading.Lock()

    def capture(ctx: WorkflowContext, config: dict) -> None:
        with lock:
            seen.append(dict(ctx.params))

    item_wf = Workflow("item", [Step.lambda_("capture", capture)])
    workflow = Workflow("m", [Step.map("fan", "items", item_wf, max_concurrency=2)])
    WorkflowRunner().execute(workflow, params={"items": ["x", "y"], "week": "2026-01-10"})
    assert sorted(seen, key=lambda p: p["item_index"]) == [
        {"items": ["x", "y"], "week": "2026-01-10", "item": "x", "item_index": 0},
        {"items": ["x", "y"], "week": "2026-01-10", "item": "y", "item_index": 1},
    ]


def test_results_keep_input_order_when_items_finish_out_of_order() -> None:
    def slow_first(ctx: WorkflowContext, config: dict) -> dict:
        index = ctx.get_param("item_index")
        time.sleep(0.002 * (8 - index))
        return {"index": index}

    item_wf = Workflow("item", [Step.lambda_("work", slow_first)])
    workflow = Workflow("m", [Step.map("fan", "items", item_wf, max_concurrency=8)])
    result = WorkflowRunner().execute(workflow, params={"items": list(range(8))})
    assert [r["work"]["index"] for r in map_output(result)["results"]] == list(range(8))


def test_results_are_the_outputs_of_each_item_run() -> None:
    item_wf = Workflow(
        "item",
        [
            Step.lambda_("square", lambda ctx, config: {"v": ctx.get_param("item") ** 2}),
            Step.lambda_("label", lambda ctx, config: {"s": f"#{ctx.get_param('item_index')}"}),
        ],
    )
    workflow = Workflow("m", [Step.map("fan", "items", item_wf)])
    result = WorkflowRunner().execute(workflow, params={"items": [2, 3]})
    assert map_output(result)["results"] == [
        {"square": {"v": 4}, "label": {"s": "#0"}},
        {"square": {"v": 9}, "label": {"s": "#1"}},
    ]


def test_empty_list() -> None:
    workflow = Workflow("m", [Step.map("fan", "items", echo_workflow())])
    result = WorkflowRunner().execute(workflow, params={"items": []})
    assert result.status == WorkflowStatus.COMPLETED
    assert map_output(result) == {"results": [], "item_count": 0, "failed_count": 0}


def concurrency_probe(max_concurrency: int, items: int = 20) -> int:
    active = 0
    peak = 0
    lock = threading.Lock()

    def work(ctx: WorkflowContext, config: dict) -> None:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.01)
        with lock:
            active -= 1

    item_wf = Workflow("item", [Step.lambda_("work", work)])
    workflow = Workflow("m", [Step.map("fan", "items", item_wf, max_concurrency=max_concurrency)])
    result = WorkflowRunner().execute(workflow, params={"items": list(range(items))})
    assert result.status == WorkflowStatus.COMPLETED
    assert map_output(result)["item_count"] == items
    return peak


def test_max_concurrency_is_respected() -> None:
    peak = concurrency_probe(3)
    assert 1 < peak <= 3


def test_max_concurrency_one_runs_items_one_at_a_time() -> None:
    assert concurrency_probe(1, items=5) == 1


def test_default_max_concurrency_is_four() -> None:
    step = Step.map("fan", "items", echo_workflow())
    assert step.max_concurrency == 4
    assert concurrency_probe(4) <= 4


def failing_item_workflow(bad: set[int]) -> Workflow:
    def work(ctx: WorkflowContext, config: dict) -> StepResult:
        index = ctx.get_param("item_index")
        if index in bad:
            return StepResult.fail(f"item {index} is bad", category="DATA_QUALITY")
        return StepResult.ok(output={"index": index})

    return Workflow("item", [Step.lambda_("work", work)])


def test_a_failing_item_fails_the_map_step() -> None:
    ran: list[str] = []
    workflow = Workflow(
        "m",
        [
            Step.map("fan", "items", failing_item_workflow({2, 4})),
            Step.lambda_("after", lambda ctx, config: ran.append("after")),
        ],
    )
    result = WorkflowRunner().execute(workflow, params={"items": list(range(5))})
    assert result.status == WorkflowStatus.FAILED
    assert result.error_step == "fan"
    assert "item 2 is bad" in (result.error or "")
    assert ran == []
    execution = result.step_executions[0]
    assert execution.result is not None
    assert execution.result.output["item_count"] == 5
    assert execution.result.output["failed_count"] == 2
    assert execution.child_runs is not None
    assert [r.status for r in execution.child_runs] == [
        WorkflowStatus.COMPLETED,
        WorkflowStatus.COMPLETED,
        WorkflowStatus.FAILED,
        WorkflowStatus.COMPLETED,
        WorkflowStatus.FAILED,
    ]


def test_a_failing_item_under_continue_makes_the_run_partial() -> None:
    workflow = Workflow(
        "m",
        [
            Step.map("fan", "items", failing_item_workflow({1}), on_error=ErrorPolicy.CONTINUE),
            Step.lambda_("after", lambda ctx, config: {"ran": True}),
        ],
    )
    result = WorkflowRunner().execute(workflow, params={"items": [0, 1, 2]})
    assert result.status == WorkflowStatus.PARTIAL
    assert result.failed_steps == ["fan"]
    assert result.completed_steps == ["after"]
    assert result.error_step == "fan"


def test_item_lineage() -> None:
    seen: list[tuple[int, str, str | None, str, str | None]] = []
    lock = threading.Lock()

    def capture(ctx: WorkflowContext, config: dict) -> None:
        with lock:
            seen.append(
                (
                    ctx.get_param("item_index"),
                    ctx.run_id,
                    ctx.execution.parent_execution_id,
                    ctx.execution.execution_id,
                    ctx.execution.run_id,
                )
            )

    item_wf = Workflow("item", [Step.lambda_("capture", capture)])
    workflow = Workflow("parent", [Step.map("fan", "items", item_wf)])
    result = WorkflowRunner().execute(workflow, params={"items": [0, 1, 2, 3]})
    assert result.status == WorkflowStatus.COMPLETED
    assert len(seen) == 4

    run_ids = {run_id for _, run_id, _, _, _ in seen}
    assert len(run_ids) == 4
    assert result.run_id not in run_ids
    for _, run_id, parent_id, execution_id, execution_run_id in seen:
        assert parent_id is not None
        assert parent_id != execution_id
        assert execution_run_id == run_id

    child_runs = result.step_executions[0].child_runs
    assert child_runs is not None
    assert len(child_runs) == 4
    by_index = {index: run_id for index, run_id, _, _, _ in seen}
    assert [r.run_id for r in child_runs] == [by_index[i] for i in range(4)]
    assert [r.workflow_name for r in child_runs] == ["item"] * 4
    assert [r.context.get_param("item_index") for r in child_runs] == [0, 1, 2, 3]
    assert all(r.status == WorkflowStatus.COMPLETED for r in child_runs)


def test_child_runs_hold_item_results() -> None:
    workflow = Workflow("m", [Step.map("fan", "items", echo_workflow())])
    result = WorkflowRunner().execute(workflow, params={"items": ["p", "q"]})
    child_runs = result.step_executions[0].child_runs
    assert child_runs is not None
    assert [r.context.get_output("echo") for r in child_runs] == [
        {"item": "p", "index": 0},
        {"item": "q", "index": 1},
    ]
    assert [r.completed_steps for r in child_runs] == [["echo"], ["echo"]]


def test_dry_run_propagates_to_items() -> None:
    called: list[dict] = []
    flags: list[bool] = []
    lock = threading.Lock()

    @pipeline("item.pipe")
    def item_pipe(params: dict) -> dict:
        called.append(params)
        return {}

    def check(ctx: WorkflowContext, config: dict) -> None:
        with lock:
            flags.append(ctx.is_dry_run)

    item_wf = Workflow("item", [Step.pipeline("p", "item.pipe"), Step.lambda_("check", check)])
    workflow = Workflow("m", [Step.map("fan", "items", item_wf)])
    result = WorkflowRunner(dry_run=True).execute(workflow, params={"items": [1, 2, 3]})
    assert result.status == WorkflowStatus.COMPLETED
    assert called == []
    assert flags == [True, True, True]
    assert [r["p"] for r in map_output(result)["results"]] == [
        {"dry_run": True, "pipeline": "item.pipe"}
    ] * 3


@pytest.mark.parametrize("concurrency", [1, 4])
def test_pipelines_inside_items_run(concurrency: int) -> None:
    @pipeline("double")
    def double(params: dict) -> dict:
        return {"v": params["item"] * 2}

    item_wf = Workflow("item", [Step.pipeline("d", "double")])
    workflow = Workflow("m", [Step.map("fan", "items", item_wf, max_concurrency=concurrency)])
    result = WorkflowRunner().execute(workflow, params={"items": [1, 2, 3, 4, 5]})
    assert [r["d"]["v"] for r in map_output(result)["results"]] == [2, 4, 6, 8, 10]
