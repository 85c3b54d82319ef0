"""Every code block of orchestration-v2.md, run as written (plus the pipelines it names)."""

from __future__ import annotations

import io
from datetime import datetime

import pytest

from spine.framework import pipeline
from spine.framework.alerts import AlertSeverity, ConsoleChannel, alert_registry, send_alert
from spine.orchestration import (
    ErrorPolicy,
    QualityMetrics,
    Step,
    StepExecution,
    StepResult,
    StepType,
    Workflow,
    WorkflowContext,
    WorkflowRunner,
    WorkflowStatus,
)
from spine.testing import FakeClock

# -- Core Concepts: Workflow ---------------------------------------------------------


def validate_fn(ctx: WorkflowContext, config: dict) -> StepResult:
    return StepResult.ok(output={"validated": True})


def test_workflow_definition_as_written() -> None:
    calls: list[str] = []

    @pipeline("finra.otc.ingest_week")
    def ingest(params: dict) -> dict:
        calls.append("ingest")
        return {"record_count": 5000}

    @pipeline("finra.otc.normalize")
    def normalize(params: dict) -> dict:
        calls.append("normalize")
        return {"normalized": True}

    workflow = Workflow(
        name="finra.weekly_refresh",
        domain="finra.otc_transparency",
        steps=[
            Step.pipeline("ingest", "finra.otc.ingest_week"),
            Step.lambda_("validate", validate_fn),
            Step.pipeline("normalize", "finra.otc.normalize"),
        ],
    )

    assert workflow.name == "finra.weekly_refresh"
    assert workflow.domain == "finra.otc_transparency"
    assert [s.name for s in workflow.steps] == ["ingest", "validate", "normalize"]
    assert [s.step_type for s in workflow.steps] == [
        StepType.PIPELINE,
        StepType.LAMBDA,
        StepType.PIPELINE,
    ]
    result = WorkflowRunner().execute(workflow)
    assert result.status == WorkflowStatus.COMPLETED
    assert calls == ["ingest", "normalize"]
    assert result.context.get_output("ingest", "record_count") == 5000
    assert result.context.get_output("validate") == {"validated": True}


# -- Core Concepts: WorkflowContext --------------------------------------------------


def test_context_create_and_with_methods_as_written() -> None:
    ctx = WorkflowContext.create(
        workflow_name="finra.weekly_refresh",
        params={"week_ending": "2026-01-10", "tier": "NMS_TIER_1"},
        partition={"tier": "NMS_TIER_1"},
    )

    # Context is immutable - methods return new instances
    ctx2 = ctx.with_output("ingest", {"record_count": 5000})
    ctx3 = ctx2.with_params({"validated": True})

    assert ctx.run_id
    assert ctx.workflow_name == "finra.weekly_refresh"
    assert ctx.params == {"week_ending": "2026-01-10", "tier": "NMS_TIER_1"}
    assert ctx.partition == {"tier": "NMS_TIER_1"}
    assert ctx.outputs == {}
    assert ctx.execution is not None
    assert ctx.execution.run_id == ctx.run_id

    assert ctx2 is not ctx
    assert ctx2.outputs == {"ingest": {"record_count": 5000}}
    assert ctx2.params == ctx.params
    assert ctx3.params == {"week_ending": "2026-01-10", "tier": "NMS_TIER_1", "validated": True}
    assert ctx3.outputs == ctx2.outputs
    assert ctx.run_id == ctx2.run_id == ctx3.run_id
    assert "validated" not in ctx2.params


def test_reading_from_context_as_written() -> None:
    seen: dict[str, object] = {}

    def my_step(ctx: WorkflowContext, config: dict) -> StepResult:
        # Get input parameter
        tier = ctx.get_param("tier")

        # Get output from previous step
        count = ctx.get_output("ingest", "record_count", default=0)

        # Check if step ran
        if ctx.has_output("ingest"):
            seen["ran"] = True
        seen["tier"] = tier
        seen["count"] = count
        return StepResult.ok()

    ctx = WorkflowContext.create("wf", params={"tier": "NMS_TIER_1"})
    my_step(ctx, {})
    assert seen == {"tier": "NMS_TIER_1", "count": 0}

    seen.clear()
    my_step(ctx.with_output("ingest", {"record_count": 5000}), {})
    assert seen == {"ran": True, "tier": "NMS_TIER_1", "count": 5000}


# -- Core Concepts: StepResult -------------------------------------------------------


def test_step_result_factories_as_written() -> None:
    def my_step(ctx, config) -> StepResult:
        # Success with output
        return StepResult.ok(
            output={"processed": 100},
            context_updates={"last_step": "my_step"},
        )

    def failing_step(ctx, config) -> StepResult:
        # Failure
        return StepResult.fail(
            error="Validation failed: too few records",
            category="DATA_QUALITY",
        )

    def skip_step(ctx, config) -> StepResult:
        # Skip (success, but no work done)
        return StepResult.skip(reason="Already processed today")

    ok = my_step(None, {})
    assert ok.success is True
    assert ok.skipped is False
    assert ok.output == {"processed": 100}
    assert ok.context_updates == {"last_step": "my_step"}
    assert ok.error is None

    failed = failing_step(None, {})
    assert failed.success is False
    assert failed.error == "Validation failed: too few records"
    assert failed.error_category == "DATA_QUALITY"

    skipped = skip_step(None, {})
    assert skipped.success is True
    assert skipped.skipped is True
    assert skipped.skip_reason == "Already processed today"

    workflow = Workflow(
        "results",
        [
            Step.lambda_("my_step", my_step),
            Step.lambda_("skip_step", skip_step),
            Step.lambda_("failing_step", failing_step),
        ],
    )
    result = WorkflowRunner().execute(workflow)
    assert result.status == WorkflowStatus.FAILED
    assert result.completed_steps == ["my_step"]
    assert result.skipped_steps == ["skip_step"]
    assert result.failed_steps == ["failing_step"]
    assert result.error_step == "failing_step"
    assert result.error == "Validation failed: too few records"
    # context_updates are merged into params; output is stored under the step's name
    assert result.context.params["last_step"] == "my_step"
    assert result.context.outputs["my_step"] == {"processed": 100}


# -- Step Types ----------------------------------------------------------------------


def validate_records(ctx: WorkflowContext, config: dict) -> StepResult:
    count = ctx.get_output("ingest", "record_count", 0)
    threshold = config.get("min_records", 100)

    if count < threshold:
        return StepResult.fail(
            error=f"Only {count} records, need at least {threshold}",
            category="DATA_QUALITY",
        )

    return StepResult.ok(output={"validated": True})


@pytest.mark.parametrize(
    ("records", "status", "output", "error"),
    [
        (100, WorkflowStatus.COMPLETED, {"validated": True}, None),
        (99, WorkflowStatus.FAILED, None, "Only 99 records, need at least 100"),
    ],
)
def test_lambda_step_validate_records_as_written(
    records: int, status: WorkflowStatus, output: dict | None, error: str | None
) -> None:
    step = Step.lambda_("validate", validate_records, config={"min_records": 100})
    assert step.handler is validate_records
    assert step.config == {"min_records": 100}

    workflow = Workflow(
        "lambda.example",
        [Step.lambda_("ingest", lambda ctx, config: {"record_count": records}), step],
    )
    result = WorkflowRunner().execute(workflow)
    assert result.status == status
    assert result.context.get_output("validate") == output
    assert result.error == error
    if error is not None:
        assert result.step_executions[-1].result.error_category == "DATA_QUALITY"


def test_pipeline_step_with_params_as_written() -> None:
    received: list[dict] = []

    @pipeline("finra.otc.ingest_week")
    def ingest(params: dict) -> dict:
        received.append(dict(params))
        return {"record_count": 3}

    step = Step.pipeline("ingest", "finra.otc.ingest_week", params={"force": True})
    assert step.pipeline_name == "finra.otc.ingest_week"
    assert step.params == {"force": True}

    result = WorkflowRunner().execute(
        Workflow("pipeline.example", [step]), params={"week_ending": "2026-01-10", "force": False}
    )
    assert result.status == WorkflowStatus.COMPLETED
    # context.params merged with the step's params (the step's win)
    assert received == [{"week_ending": "2026-01-10", "force": True}]
    assert result.context.get_output("ingest") == {"record_count": 3}


def test_choice_step_as_written() -> None:
    step = Step.choice(
        "route",
        condition=lambda ctx: ctx.get_output("validate", "validated", False),
        then_step="process",  # Jump here if True
        else_step="reject",  # Jump here if False
    )
    assert step.step_type == StepType.CHOICE
    assert step.then_step == "process"
    assert step.else_step == "reject"
    ctx = WorkflowContext.create("wf")
    assert not step.condition(ctx)
    assert step.condition(ctx.with_output("validate", {"validated": True}))


def _choice_example(valid: bool) -> tuple[Workflow, list[str]]:
    calls: list[str] = []

    @pipeline("data.ingest")
    def data_ingest(params: dict) -> dict:
        calls.append("ingest")
        return {"rows": 10}

    @pipeline("data.process")
    def data_process(params: dict) -> dict:
        calls.append("process")
        return {"processed": True}

    def validate_fn(ctx, config):
        calls.append("validate")
        return StepResult.ok(output={"valid": valid})

    def send_alert_fn(ctx, config):
        calls.append("alert_and_skip")
        return StepResult.ok(output={"alerted": True})

    workflow = Workflow(
        name="conditional.example",
        steps=[
            Step.pipeline("ingest", "data.ingest"),
            Step.lambda_("validate", validate_fn),
            Step.choice(
                "route",
                condition=lambda ctx: ctx.get_output("validate", "valid"),
                then_step="process",
                else_step="alert_and_skip",
            ),
            Step.pipeline("process", "data.process"),
            Step.lambda_("alert_and_skip", send_alert_fn),
        ],
    )
    return workflow, calls


def test_choice_example_workflow_then_branch() -> None:
    workflow, calls = _choice_example(valid=True)
    result = WorkflowRunner().execute(workflow)
    assert result.status == WorkflowStatus.COMPLETED
    assert calls == ["ingest", "validate", "process"]
    assert result.completed_steps == ["ingest", "validate", "route", "process"]
    assert not result.context.has_output("alert_and_skip")


def test_choice_example_workflow_else_branch() -> None:
    workflow, calls = _choice_example(valid=False)
    result = WorkflowRunner().execute(workflow)
    assert result.status == WorkflowStatus.COMPLETED
    assert calls == ["ingest", "validate", "alert_and_skip"]
    assert result.completed_steps == ["ingest", "validate", "route", "alert_and_skip"]
    assert not result.context.has_output("process")


def test_wait_step_as_written(clock: FakeClock) -> None:
    step = Step.wait("cooldown", duration_seconds=300)  # Wait 5 minutes
    assert step.step_type == StepType.WAIT
    assert step.duration_seconds == 300

    result = WorkflowRunner(clock=clock).execute(Workflow("wait.example", [step]))
    assert result.status == WorkflowStatus.COMPLETED
    assert clock.sleeps == [300]
    assert result.context.get_output("cooldown") == {"waited_seconds": 300}


def test_map_step_as_written() -> None:
    item_workflow = Workflow(
        "item",
        [Step.lambda_("double", lambda ctx, config: {"value": ctx.get_param("item") * 2})],
    )

    step = Step.map(
        "process_items",
        items_path="items",  # ctx.params["items"]
        iterator_workflow=item_workflow,
        max_concurrency=4,
    )
    assert step.step_type == StepType.MAP
    assert step.items_path == "items"
    assert step.iterator_workflow is item_workflow
    assert step.max_concurrency == 4

    result = WorkflowRunner().execute(
        Workflow("map.example", [step]), params={"items": [1, 2, 3, 4, 5]}
    )
    assert result.status == WorkflowStatus.COMPLETED
    assert result.context.get_output("process_items") == {
        "results": [{"double": {"value": v}} for v in (2, 4, 6, 8, 10)],
        "item_count": 5,
        "failed_count": 0,
    }


# -- WorkflowRunner ------------------------------------------------------------------


def test_runner_usage_as_written(capsys: pytest.CaptureFixture[str]) -> None:
    @pipeline("finra.otc.ingest_week")
    def ingest(params: dict) -> dict:
        return {"record_count": 5000}

    @pipeline("finra.otc.normalize")
    def normalize(params: dict) -> dict:
        return {}

    workflow = Workflow(
        name="finra.weekly_refresh",
        domain="finra.otc_transparency",
        steps=[
            Step.pipeline("ingest", "finra.otc.ingest_week"),
            Step.lambda_("validate", validate_fn),
            Step.pipeline("normalize", "finra.otc.normalize"),
        ],
    )

    runner = WorkflowRunner()
    result = runner.execute(
        workflow=workflow,
        params={"week_ending": "2026-01-10"},
        partition={"tier": "NMS_TIER_1"},
    )

    if result.status == WorkflowStatus.COMPLETED:
        print(f"Success! Duration: {result.duration_seconds}s")
        print(f"Steps completed: {result.completed_steps}")
    else:
        print(f"Failed at step '{result.error_step}': {result.error}")

    out = capsys.readouterr().out
    assert "Success! Duration: " in out
    assert "Steps completed: ['ingest', 'validate', 'normalize']" in out
    assert result.context.partition == {"tier": "NMS_TIER_1"}
    assert result.context.params == {"week_ending": "2026-01-10"}


def test_runner_usage_failure_branch(capsys: pytest.CaptureFixture[str]) -> None:
    workflow = Workflow(
        "failing", [Step.lambda_("boom", lambda ctx, config: StepResult.fail("no data"))]
    )
    runner = WorkflowRunner()
    result = runner.execute(workflow=workflow, params={"week_ending": "2026-01-10"})

    if result.status == WorkflowStatus.COMPLETED:
        print(f"Success! Duration: {result.duration_seconds}s")
    else:
        print(f"Failed at step '{result.error_step}': {result.error}")

    assert capsys.readouterr().out == "Failed at step 'boom': no data\n"


def test_workflow_result_fields() -> None:
    workflow = Workflow("fields", [Step.lambda_("a", lambda ctx, config: {"x": 1})])
    result = WorkflowRunner().execute(workflow)

    assert isinstance(result.workflow_name, str)
    assert result.workflow_name == "fields"
    assert isinstance(result.run_id, str)
    assert result.run_id == result.context.run_id
    assert result.status is WorkflowStatus.COMPLETED
    assert isinstance(result.context, WorkflowContext)
    assert isinstance(result.started_at, datetime)
    assert isinstance(result.completed_at, datetime)
    assert result.completed_at >= result.started_at
    assert isinstance(result.duration_seconds, float)
    assert result.duration_seconds >= 0
    assert len(result.step_executions) == 1
    execution = result.step_executions[0]
    assert isinstance(execution, StepExecution)
    assert execution.step_name == "a"
    assert execution.step_type == StepType.LAMBDA
    assert execution.status == "COMPLETED"
    assert isinstance(execution.started_at, datetime)
    assert isinstance(execution.completed_at, datetime)
    assert execution.attempt == 1
    assert execution.result is not None
    assert execution.result.output == {"x": 1}
    assert execution.error is None
    assert result.error_step is None
    assert result.error is None


def test_dry_run_as_written() -> None:
    called: list[dict] = []

    @pipeline("finra.otc.ingest_week")
    def ingest(params: dict) -> dict:
        called.append(params)
        return {}

    workflow = Workflow("dry", [Step.pipeline("ingest", "finra.otc.ingest_week")])

    runner = WorkflowRunner(dry_run=True)
    result = runner.execute(workflow, params={"week_ending": "2026-01-10"})
    # Pipeline steps return mock success
    assert result.status == WorkflowStatus.COMPLETED
    assert called == []
    assert result.context.get_output("ingest") == {
        "dry_run": True,
        "pipeline": "finra.otc.ingest_week",
    }


def test_resume_from_checkpoint_as_written() -> None:
    calls: list[str] = []
    fail = {"on": True}

    def step(name: str):
        def fn(ctx, config):
            calls.append(name)
            if name == "failed_step" and fail["on"]:
                return StepResult.fail("temporary outage", category="TRANSIENT")
            return {"done": name}

        return fn

    workflow = Workflow(
        "resumable",
        [
            Step.lambda_("first", step("first")),
            Step.lambda_("failed_step", step("failed_step")),
            Step.lambda_("last", step("last")),
        ],
    )
    runner = WorkflowRunner()
    result = runner.execute(workflow, params={"week_ending": "2026-01-10"})
    assert result.status == WorkflowStatus.FAILED
    assert result.error_step == "failed_step"
    first_run_id = result.run_id

    # Save context after failure
    saved_context = result.context.to_dict()

    fail["on"] = False
    calls.clear()

    # Later: resume from checkpoint
    context = WorkflowContext.from_dict(saved_context)
    result = runner.execute(
        workflow,
        context=context,
        start_from="failed_step",  # Skip completed steps
    )

    assert result.status == WorkflowStatus.COMPLETED
    assert calls == ["failed_step", "last"]
    assert result.run_id == first_run_id
    assert result.context.run_id == first_run_id
    assert result.completed_steps == ["failed_step", "last"]
    assert result.context.get_output("first") == {"done": "first"}
    assert result.context.params == {"week_ending": "2026-01-10"}


# -- Error Handling ------------------------------------------------------------------


def test_error_policy_as_written() -> None:
    @pipeline("important.pipeline")
    def important(params: dict) -> dict:
        raise RuntimeError("database down")

    @pipeline("nice.to.have")
    def nice(params: dict) -> dict:
        raise RuntimeError("optional service down")

    # Stop on error (default)
    critical = Step.pipeline("critical", "important.pipeline", on_error=ErrorPolicy.STOP)

    # Continue to next step
    optional = Step.pipeline("optional", "nice.to.have", on_error=ErrorPolicy.CONTINUE)

    assert Step.pipeline("default", "important.pipeline").on_error is ErrorPolicy.STOP
    after = Step.lambda_("after", lambda ctx, config: {"ran": True})

    partial = WorkflowRunner().execute(Workflow("partial", [optional, after]))
    assert partial.status == WorkflowStatus.PARTIAL
    assert partial.completed_steps == ["after"]
    assert partial.failed_steps == ["optional"]
    assert partial.error_step == "optional"
    assert "optional service down" in (partial.error or "")

    failed = WorkflowRunner().execute(Workflow("failed", [critical, after]))
    assert failed.status == WorkflowStatus.FAILED
    assert failed.failed_steps == ["critical"]
    assert failed.completed_steps == []
    assert not failed.context.has_output("after")
    assert failed.error_step == "critical"
    assert "database down" in (failed.error or "")
    assert failed.step_executions[0].result.error_category == "PIPELINE"


# -- Quality Metrics -----------------------------------------------------------------


def is_valid(record: dict) -> bool:
    return record.get("price", -1) >= 0


def validate_data(ctx, config) -> StepResult:
    records = ctx.get_output("ingest", "data", [])
    valid = [r for r in records if is_valid(r)]

    quality = QualityMetrics(
        record_count=len(records),
        valid_count=len(valid),
        invalid_count=len(records) - len(valid),
        passed=len(valid) / len(records) > 0.95,
    )

    if not quality.passed:
        return StepResult.fail(
            error=f"Quality gate failed: {quality.valid_rate:.1%} valid",
            category="DATA_QUALITY",
            quality=quality,
        )

    return StepResult.ok(
        output={"valid_count": len(valid)},
        quality=quality,
    )


def test_quality_metrics_example_passes() -> None:
    records = [{"price": 1}] * 99 + [{"price": -1}]
    ctx = WorkflowContext.create("q").with_output("ingest", {"data": records})
    result = validate_data(ctx, {})
    assert result.success
    assert result.output == {"valid_count": 99}
    assert result.quality is not None
    assert result.quality.record_count == 100
    assert result.quality.valid_count == 99
    assert result.quality.invalid_count == 1
    assert result.quality.passed is True
    assert result.quality.valid_rate == pytest.approx(0.99)


def test_quality_metrics_example_fails_gate() -> None:
    records = [{"price": 1}] * 9 + [{"price": -1}]
    ctx = WorkflowContext.create("q").with_output("ingest", {"data": records})
    result = validate_data(ctx, {})
    assert not result.success
    assert result.error == "Quality gate failed: 90.0% valid"
    assert result.error_category == "DATA_QUALITY"
    assert result.quality is not None
    assert result.quality.passed is False
    assert result.quality.invalid_count == 1


def test_quality_metrics_invalid_count_defaults_to_remainder() -> None:
    quality = QualityMetrics(record_count=10, valid_count=7, passed=False)
    assert quality.invalid_count == 3
    assert quality.valid_rate == pytest.approx(0.7)
    assert QualityMetrics().valid_rate == 0.0


# -- Complete Example ----------------------------------------------------------------


# Step 1: Validation lambda
def complete_validate_fn(ctx: WorkflowContext, config: dict) -> StepResult:
    count = ctx.get_output("ingest", "row_count", 0)
    min_count = config.get("min_records", 100)

    quality = QualityMetrics(
        record_count=count,
        valid_count=count if count >= min_count else 0,
        passed=count >= min_count,
    )

    if not quality.passed:
        return StepResult.fail(
            error=f"Only {count} records, need {min_count}",
            category="DATA_QUALITY",
            quality=quality,
        )

    return StepResult.ok(output={"validated": True}, quality=quality)


# Step 2: Alert lambda (for failures)
def alert_fn(ctx: WorkflowContext, config: dict) -> StepResult:
    send_alert(
        severity=AlertSeverity.WARNING,
        title=f"Workflow {ctx.workflow_name} skipped processing",
        message="Insufficient records to process",
        source=ctx.workflow_name,
        run_id=ctx.run_id,
    )
    return StepResult.ok(output={"alerted": True})


def _complete_workflow(validate=complete_validate_fn) -> Workflow:
    # Define workflow
    return Workflow(
        name="finra.weekly_refresh",
        domain="finra.otc_transparency",
        description="Weekly FINRA OTC data refresh with validation",
        steps=[
            Step.pipeline("ingest", "finra.otc.ingest_week"),
            Step.lambda_("validate", validate, config={"min_records": 100}),
            Step.choice(
                "route",
                condition=lambda ctx: ctx.get_output("validate", "validated", False),
                then_step="normalize",
                else_step="alert",
            ),
            Step.pipeline("normalize", "finra.otc.normalize"),
            Step.lambda_("alert", alert_fn),
        ],
    )


def _register_finra_pipelines(rows: int) -> list[dict]:
    normalized: list[dict] = []

    @pipeline("finra.otc.ingest_week")
    def ingest_week(params: dict) -> dict:
        return {"row_count": rows, "week_ending": params.get("week_ending")}

    @pipeline("finra.otc.normalize")
    def normalize(params: dict) -> dict:
        normalized.append(dict(params))
        return {"normalized": True}

    return normalized


def _alert_stream() -> io.StringIO:
    stream = io.StringIO()
    alert_registry.register(ConsoleChannel("capture", stream=stream))
    return stream


def test_complete_example_enough_rows(capsys: pytest.CaptureFixture[str]) -> None:
    normalized = _register_finra_pipelines(rows=5000)
    alerts = _alert_stream()
    workflow = _complete_workflow()

    # Execute
    runner = WorkflowRunner()
    result = runner.execute(
        workflow,
        params={"week_ending": "2026-01-10"},
        partition={"tier": "NMS_TIER_1"},
    )

    print(f"Status: {result.status}")
    print(f"Duration: {result.duration_seconds}s")
    print(f"Completed: {result.completed_steps}")

    assert result.status == WorkflowStatus.COMPLETED
    assert result.completed_steps == ["ingest", "validate", "route", "normalize"]
    assert result.failed_steps == []
    assert not result.context.has_output("alert")
    assert alerts.getvalue() == ""
    assert normalized == [{"week_ending": "2026-01-10"}]
    quality = result.step_executions[1].result.quality
    assert quality is not None
    assert quality.passed is True
    assert quality.record_count == 5000
    out = capsys.readouterr().out
    assert "Status: COMPLETED" in out
    assert "Completed: ['ingest', 'validate', 'route', 'normalize']" in out


def test_complete_example_too_few_rows() -> None:
    normalized = _register_finra_pipelines(rows=7)
    alerts = _alert_stream()
    workflow = _complete_workflow()

    result = WorkflowRunner().execute(
        workflow,
        params={"week_ending": "2026-01-10"},
        partition={"tier": "NMS_TIER_1"},
    )

    assert result.status == WorkflowStatus.FAILED
    assert result.error_step == "validate"
    assert result.error == "Only 7 records, need 100"
    assert result.error_category == "DATA_QUALITY"
    assert result.completed_steps == ["ingest"]
    assert result.failed_steps == ["validate"]
    assert normalized == []
    assert alerts.getvalue() == ""
    quality = result.step_executions[-1].result.quality
    assert quality is not None
    assert quality.passed is False
    assert quality.valid_count == 0


def test_complete_example_alert_branch() -> None:
    """A validate that passes with validated=False sends the choice to ``alert`` only."""
    normalized = _register_finra_pipelines(rows=5000)
    alerts = _alert_stream()

    def not_validated(ctx: WorkflowContext, config: dict) -> StepResult:
        return StepResult.ok(output={"validated": False})

    result = WorkflowRunner().execute(
        _complete_workflow(validate=not_validated),
        params={"week_ending": "2026-01-10"},
        partition={"tier": "NMS_TIER_1"},
    )

    assert result.status == WorkflowStatus.COMPLETED
    assert result.completed_steps == ["ingest", "validate", "route", "alert"]
    assert normalized == []
    assert not result.context.has_output("normalize")
    assert result.context.get_output("alert") == {"alerted": True}
    delivered = alerts.getvalue()
    assert "[WARNING] Workflow finra.weekly_refresh skipped processing" in delivered
    assert "Insufficient records to process" in delivered
    assert result.run_id in delivered


# -- Best Practices ------------------------------------------------------------------


def test_best_practices_examples() -> None:
    @pipeline("my.validate")
    def validate_pipeline(params):
        return {"checked": True}

    rows = [{"id": 1}, {"id": 2}]

    def step1(ctx, config):
        return StepResult.ok(
            context_updates={"row_count": len(rows)},
            output={"data": rows},  # Output goes to ctx.outputs
        )

    def step2(ctx, config):
        data = ctx.get_output("step1", "data")
        return StepResult.ok(output={"seen": len(data)})

    def my_step(ctx, config):
        valid = ctx.get_param("row_count") > 5
        if not valid:
            return StepResult.fail("Invalid data", category="VALIDATION")
        return StepResult.ok()

    result = WorkflowRunner().execute(
        Workflow(
            "best.practices",
            [
                Step.pipeline("check", "my.validate"),
                Step.lambda_("step1", step1),
                Step.lambda_("step2", step2),
                Step.lambda_("my_step", my_step),
            ],
        )
    )
    assert result.context.get_output("check") == {"checked": True}
    assert result.context.params == {"row_count": 2}
    assert "data" not in result.context.params
    assert result.context.get_output("step1", "data") == rows
    assert result.context.get_output("step2") == {"seen": 2}
    assert result.status == WorkflowStatus.FAILED
    assert result.error == "Invalid data"
    assert result.error_category == "VALIDATION"
