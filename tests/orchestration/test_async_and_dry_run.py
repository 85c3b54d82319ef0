"""``async def`` steps and pipelines, execute from async code, and dry runs."""

from __future__ import annotations

import asyncio

from spine.framework import Pipeline, PipelineResult, PipelineStatus, pipeline
from spine.orchestration import (
    Step,
    StepResult,
    Workflow,
    WorkflowContext,
    WorkflowResult,
    WorkflowRunner,
    WorkflowStatus,
)
from spine.testing import FakeClock


async def async_step(ctx: WorkflowContext, config: dict) -> StepResult:
    await asyncio.sleep(0)
    return StepResult.ok(output={"async": True, "n": ctx.get_param("n", 0) + 1})


async def async_dict_step(ctx: WorkflowContext, config: dict) -> dict:
    await asyncio.sleep(0)
    return {"from": "dict", "previous": ctx.get_output("a", "n")}


def async_workflow() -> Workflow:
    return Workflow(
        "async.wf",
        [Step.lambda_("a", async_step), Step.lambda_("b", async_dict_step)],
    )


def test_async_lambda_steps_are_awaited() -> None:
    result = WorkflowRunner().execute(async_workflow(), params={"n": 1})
    assert result.status == WorkflowStatus.COMPLETED
    assert result.context.get_output("a") == {"async": True, "n": 2}
    assert result.context.get_output("b") == {"from": "dict", "previous": 2}


def test_async_step_exception_is_caught() -> None:
    async def boom(ctx: WorkflowContext, config: dict) -> None:
        await asyncio.sleep(0)
        raise ValueError("async failure")

    result = WorkflowRunner().execute(Workflow("w", [Step.lambda_("boom", boom)]))
    assert result.status == WorkflowStatus.FAILED
    assert "ValueError" in (result.error or "")
    assert "async failure" in (result.error or "")


def test_async_function_pipeline_is_awaited() -> None:
    @pipeline("async.fn")
    async def fetch(params: dict) -> dict:
        await asyncio.sleep(0)
        return {"rows": params["rows"]}

    result = WorkflowRunner().execute(
        Workflow("w", [Step.pipeline("fetch", "async.fn")]), params={"rows": 12}
    )
    assert result.status == WorkflowStatus.COMPLETED
    assert result.context.get_output("fetch") == {"rows": 12}


def test_async_pipeline_subclass_is_awaited() -> None:
    @pipeline("async.class")
    class Fetch(Pipeline):
        async def run(self) -> PipelineResult:
            await asyncio.sleep(0)
            return PipelineResult(
                status=PipelineStatus.COMPLETED, metrics={"rows": self.params["rows"] * 2}
            )

    result = WorkflowRunner().execute(
        Workflow("w", [Step.pipeline("fetch", "async.class")]), params={"rows": 5}
    )
    assert result.status == WorkflowStatus.COMPLETED
    assert result.context.get_output("fetch") == {"rows": 10}


def test_async_pipeline_failure_fails_the_step() -> None:
    @pipeline("async.fails")
    async def fails(params: dict) -> dict:
        await asyncio.sleep(0)
        raise RuntimeError("async pipeline broke")

    result = WorkflowRunner().execute(Workflow("w", [Step.pipeline("p", "async.fails")]))
    assert result.status == WorkflowStatus.FAILED
    assert "async pipeline broke" in (result.error or "")
    assert result.error_category == "PIPELINE"


def test_execute_works_inside_a_running_event_loop() -> None:
    @pipeline("async.inside")
    async def inside(params: dict) -> dict:
        await asyncio.sleep(0)
        return {"ok": True}

    workflow = Workflow(
        "in.loop",
        [
            Step.lambda_("a", async_step),
            Step.lambda_("b", async_dict_step),
            Step.pipeline("p", "async.inside"),
        ],
    )

    async def main() -> WorkflowResult:
        asyncio.get_running_loop()  # we really are inside a loop
        return WorkflowRunner().execute(workflow, params={"n": 10})

    result = asyncio.run(main())
    assert result.status == WorkflowStatus.COMPLETED
    assert result.context.get_output("a") == {"async": True, "n": 11}
    assert result.context.get_output("b") == {"from": "dict", "previous": 11}
    assert result.context.get_output("p") == {"ok": True}


def test_async_steps_run_repeatedly() -> None:
    runner = WorkflowRunner()
    for n in range(3):
        result = runner.execute(async_workflow(), params={"n": n})
        assert result.context.get_output("a", "n") == n + 1


# -- dry run --------------------------------------------------------------------------


def dry_run_workflow(calls: list[str]) -> Workflow:
    @pipeline("real.ingest")
    def ingest(params: dict) -> dict:
        calls.append("ingest")
        return {"rows": 1}

    @pipeline("real.publish")
    def publish(params: dict) -> dict:
        calls.append("publish")
        return {}

    def check(ctx: WorkflowContext, config: dict) -> dict:
        calls.append("check")
        return {"dry": ctx.is_dry_run, "ingest": ctx.get_output("ingest")}

    return Workflow(
        "dry.wf",
        [
            Step.pipeline("ingest", "real.ingest"),
            Step.lambda_("check", check),
            Step.choice(
                "route",
                lambda ctx: ctx.get_output("ingest", "dry_run", False),
                then_step="cooldown",
                else_step="publish",
            ),
            Step.wait("cooldown", duration_seconds=100),
            Step.pipeline("publish", "real.publish"),
        ],
    )


def test_dry_run_never_calls_pipelines_but_runs_lambdas_and_choices(clock: FakeClock) -> None:
    calls: list[str] = []
    runner = WorkflowRunner(dry_run=True, clock=clock)
    result = runner.execute(dry_run_workflow(calls))

    assert result.status == WorkflowStatus.COMPLETED
    assert calls == ["check"]
    assert result.context.is_dry_run
    assert result.context.get_output("ingest") == {"dry_run": True, "pipeline": "real.ingest"}
    assert result.context.get_output("check") == {
        "dry": True,
        "ingest": {"dry_run": True, "pipeline": "real.ingest"},
    }
    # the choice ran and took the then-branch, which ends before "publish"
    assert result.completed_steps == ["ingest", "check", "route", "cooldown"]
    # the wait did not sleep
    assert clock.sleeps == []


def test_dry_run_pipeline_output_for_unregistered_pipeline() -> None:
    result = WorkflowRunner(dry_run=True).execute(
        Workflow("w", [Step.pipeline("p", "never.registered")])
    )
    assert result.status == WorkflowStatus.COMPLETED
    assert result.context.get_output("p") == {"dry_run": True, "pipeline": "never.registered"}


def test_real_run_calls_pipelines_and_sleeps(clock: FakeClock) -> None:
    calls: list[str] = []
    result = WorkflowRunner(clock=clock).execute(dry_run_workflow(calls))
    assert result.status == WorkflowStatus.COMPLETED
    assert not result.context.is_dry_run
    assert calls == ["ingest", "check", "publish"]
    assert result.completed_steps == ["ingest", "check", "route", "publish"]
    assert clock.sleeps == []


def test_dry_run_wait_does_not_sleep(clock: FakeClock) -> None:
    workflow = Workflow(
        "waits", [Step.wait("long", duration_seconds=100), Step.wait("longer", 3600)]
    )
    result = WorkflowRunner(dry_run=True, clock=clock).execute(workflow)
    assert result.status == WorkflowStatus.COMPLETED
    assert result.completed_steps == ["long", "longer"]
    assert clock.sleeps == []
    real = WorkflowRunner(clock=clock).execute(workflow)
    assert real.status == WorkflowStatus.COMPLETED
    assert clock.sleeps == [100, 3600]
