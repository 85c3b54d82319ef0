"""Nothing a step does escapes ``execute``; resumes and reconfiguration behave."""

from __future__ import annotations

import asyncio
import contextvars
import json
from typing import Any

import pytest

from spine.framework import Pipeline, PipelineResult, PipelineStatus, pipeline
from spine.orchestration import (
    ErrorPolicy,
    Step,
    StepResult,
    Workflow,
    WorkflowContext,
    WorkflowRunner,
    WorkflowStatus,
)


def one_step(fn: Any) -> Workflow:
    return Workflow("robust", [Step.lambda_("s", fn), Step.lambda_("after", lambda c, k: None)])


@pytest.mark.parametrize(
    ("result", "field"),
    [
        (StepResult.ok(output=[1, 2]), "output"),  # type: ignore[arg-type]
        (StepResult.ok(context_updates=[1]), "context_updates"),  # type: ignore[arg-type]
        (StepResult(True, next_step=["b"]), "next_step"),  # type: ignore[arg-type]
        (StepResult.fail("e", output=[1]), "output"),  # type: ignore[arg-type]
    ],
)
def test_a_malformed_step_result_fails_the_step(result: StepResult, field: str) -> None:
    run = WorkflowRunner().execute(one_step(lambda ctx, cfg: result))
    assert run.status == WorkflowStatus.FAILED
    assert run.error_step == "s"
    assert run.error is not None
    assert f"StepResult.{field}" in run.error
    assert "workflow 'robust', step 's'" in run.error


class Boom(BaseException):
    pass


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no text")


@pytest.mark.parametrize(
    ("exc", "expected"),
    [(Boom("deep"), "Boom: deep"), (Unprintable(), "Unprintable")],
)
def test_unusual_exceptions_fail_the_step(exc: BaseException, expected: str) -> None:
    def raiser(ctx: WorkflowContext, cfg: dict[str, Any]) -> None:
        raise exc

    run = WorkflowRunner().execute(one_step(raiser))
    assert run.status == WorkflowStatus.FAILED
    assert run.error == expected


def test_a_cancelled_async_step_fails_the_step() -> None:
    async def cancelled(ctx: WorkflowContext, cfg: dict[str, Any]) -> None:
        raise asyncio.CancelledError()

    run = WorkflowRunner().execute(one_step(cancelled))
    assert run.status == WorkflowStatus.FAILED
    assert run.error == "CancelledError"


def test_keyboard_interrupt_is_not_swallowed() -> None:
    def interrupt(ctx: WorkflowContext, cfg: dict[str, Any]) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        WorkflowRunner().execute(one_step(interrupt))


def test_a_next_step_naming_no_step_fails_that_step() -> None:
    run = WorkflowRunner().execute(
        one_step(lambda ctx, cfg: StepResult.ok(output={"x": 1}, next_step="nowhere"))
    )
    assert run.status == WorkflowStatus.FAILED
    assert run.failed_steps == ["s"]
    assert run.completed_steps == []
    assert run.error is not None
    assert "'nowhere'" in run.error


def test_async_tasks_left_behind_by_a_step_are_cancelled() -> None:
    log: list[str] = []

    async def straggler() -> None:
        await asyncio.sleep(0)
        await asyncio.sleep(0.05)
        log.append("straggler ran")

    async def starts_task(ctx: WorkflowContext, cfg: dict[str, Any]) -> None:
        asyncio.get_running_loop().create_task(straggler())

    async def later(ctx: WorkflowContext, cfg: dict[str, Any]) -> None:
        await asyncio.sleep(0.1)

    runner = WorkflowRunner()
    runner.execute(Workflow("first", [Step.lambda_("s", starts_task)]))
    runner.execute(Workflow("second", [Step.lambda_("s", later)]))
    assert log == []


# ---- pipelines -----------------------------------------------------------------


def test_pipeline_whose_constructor_raises_fails_with_pipeline_category() -> None:
    @pipeline("bad.init")
    class BadInit(Pipeline):
        def __init__(self, params: dict[str, Any] | None = None) -> None:
            raise ValueError("cannot build")

        def run(self) -> None:
            return None

    run = WorkflowRunner().execute(Workflow("w", [Step.pipeline("p", "bad.init")]))
    assert run.status == WorkflowStatus.FAILED
    failed = run.step_executions[0]
    assert failed.error_category == "PIPELINE"
    assert "ValueError: cannot build" in (run.error or "")


def test_pipeline_returning_a_list_fails_with_pipeline_category() -> None:
    pipeline("listy")(lambda params: [1, 2])
    run = WorkflowRunner().execute(Workflow("w", [Step.pipeline("p", "listy")]))
    assert run.step_executions[0].error_category == "PIPELINE"
    assert "returned a list" in (run.error or "")


def test_upper_case_completed_status_is_accepted() -> None:
    @pipeline("shouty")
    def shouty(params: dict[str, Any]) -> PipelineResult:
        return PipelineResult(status="COMPLETED", metrics={"n": 1})  # type: ignore[arg-type]

    run = WorkflowRunner().execute(Workflow("w", [Step.pipeline("p", "shouty")]))
    assert run.status == WorkflowStatus.COMPLETED
    assert run.context.get_output("p") == {"n": 1}
    assert PipelineStatus.COMPLETED == "completed"


class MissingRunnable:
    def submit_pipeline_sync(self, pipeline_name: str, params: Any = None, **kw: Any) -> Any:
        from spine.core.errors import PipelineNotFoundError

        raise PipelineNotFoundError(pipeline_name)


def test_a_runnable_that_raises_fails_the_step() -> None:
    run = WorkflowRunner(MissingRunnable()).execute(Workflow("w", [Step.pipeline("p", "ghost")]))
    assert run.status == WorkflowStatus.FAILED
    assert run.step_executions[0].error_category == "CONFIGURATION"
    assert "ghost" in (run.error or "")


# ---- map and context variables ---------------------------------------------------

tag: contextvars.ContextVar[str] = contextvars.ContextVar("tag", default="unset")


@pytest.mark.parametrize("concurrency", [1, 4])
def test_map_items_see_the_callers_context_variables(concurrency: int) -> None:
    item = Workflow("item", [Step.lambda_("read", lambda ctx, cfg: {"tag": tag.get()})])
    workflow = Workflow(
        "fan", [Step.map("m", "items", iterator_workflow=item, max_concurrency=concurrency)]
    )
    token = tag.set("caller")
    try:
        run = WorkflowRunner().execute(workflow, params={"items": [1, 2, 3, 4]})
    finally:
        tag.reset(token)
    results = run.context.get_output("m", "results")
    assert [r["read"]["tag"] for r in results] == ["caller"] * 4


# ---- resume and reconfiguration -----------------------------------------------------


def test_resume_after_a_choice_keeps_the_branches_exclusive() -> None:
    attempts: list[int] = []
    alerts: list[str] = []

    def normalize(ctx: WorkflowContext, cfg: dict[str, Any]) -> StepResult:
        attempts.append(1)
        return StepResult.fail("disk full") if len(attempts) == 1 else StepResult.ok()

    def alert(ctx: WorkflowContext, cfg: dict[str, Any]) -> None:
        alerts.append("sent")

    workflow = Workflow(
        "refresh",
        [
            Step.lambda_("validate", lambda ctx, cfg: {"validated": True}),
            Step.choice(
                "route",
                condition=lambda ctx: ctx.get_output("validate", "validated", False),
                then_step="normalize",
                else_step="alert",
            ),
            Step.lambda_("normalize", normalize),
            Step.lambda_("alert", alert),
        ],
    )
    runner = WorkflowRunner()
    failed = runner.execute(workflow)
    assert failed.error_step == "normalize"
    saved = json.loads(json.dumps(failed.context.to_dict()))
    resumed = runner.execute(
        workflow, context=WorkflowContext.from_dict(saved), start_from="normalize"
    )
    assert resumed.status == WorkflowStatus.COMPLETED
    assert resumed.completed_steps == ["normalize"]
    assert alerts == []


def test_execute_with_context_applies_name_partition_and_dry_run() -> None:
    calls: list[str] = []
    pipeline("counted")(lambda params: calls.append("called") or {})
    workflow = Workflow("named", [Step.pipeline("p", "counted")])
    dry = WorkflowRunner(dry_run=True).execute(workflow)
    assert dry.context.is_dry_run
    real = WorkflowRunner().execute(workflow, context=dry.context, partition={"tier": "T2"})
    assert calls == ["called"]
    assert not real.context.is_dry_run
    assert real.context.partition == {"tier": "T2"}
    bare = WorkflowRunner().execute(workflow, context=WorkflowContext(params={"a": 1}))
    assert bare.context.workflow_name == "named"


def test_a_runner_reconfigured_after_construction_behaves_as_configured() -> None:
    calls: list[str] = []
    pipeline("watched")(lambda params: calls.append("called") or {})
    runner = WorkflowRunner()
    runner.dry_run = True
    run = runner.execute(Workflow("w", [Step.pipeline("p", "watched")]))
    assert calls == []
    assert run.context.get_output("p") == {"dry_run": True, "pipeline": "watched"}


def test_to_dict_is_json_even_with_context_mappings_inside() -> None:
    def share(ctx: WorkflowContext, cfg: dict[str, Any]) -> StepResult:
        return StepResult.ok(output={"params": ctx.params}, context_updates={"p": ctx.params})

    run = WorkflowRunner().execute(Workflow("w", [Step.lambda_("s", share)]), params={"a": 1})
    data = json.loads(json.dumps(run.context.to_dict()))
    assert data["params"]["p"] == {"a": 1}
    assert data["outputs"]["s"]["params"] == {"a": 1}


def test_on_error_accepts_the_policy_value_as_a_string() -> None:
    step = Step.lambda_("s", lambda c, k: None, on_error="continue")  # type: ignore[arg-type]
    assert step.on_error is ErrorPolicy.CONTINUE


def test_step_result_subclass_equality_and_routing() -> None:
    class Tagged(StepResult):
        __slots__ = ("tag",)

    a = Tagged(True, {"x": 1})
    b = Tagged(False, error="boom")
    assert a != b
    routed = a.with_next_step("n")
    assert type(routed) is Tagged
    assert routed.next_step == "n"
    assert a.next_step is None
