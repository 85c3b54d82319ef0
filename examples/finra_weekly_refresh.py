"""The spec's Complete Example, with the two pipelines it names registered.

Its definitions are the spec's, verbatim; its workflow is registered, and the spec's
"Execute" block runs only when the file is run as a script, so that importing it
(``spine run``, ``spine graph``, ``spine worker --app``) defines and registers the
workflow without running it.

Run it directly (``python examples/finra_weekly_refresh.py``), or with the ``spine``
command (``spine run examples/finra_weekly_refresh.py``, recorded in the history). The
simulated ingest produces ``SPINE_DEMO_ROWS`` rows (default 5,000): with fewer than 100
the quality gate in ``validate`` stops the run.
"""

import os

from spine.framework import pipeline
from spine.orchestration import register_workflow


@pipeline("finra.otc.ingest_week")
def ingest_week(params: dict) -> dict:
    """Simulated FINRA OTC weekly ingest: reports how many rows it loaded."""
    rows = int(os.environ.get("SPINE_DEMO_ROWS", "5000"))
    return {"row_count": rows, "week_ending": params.get("week_ending")}


@pipeline("finra.otc.normalize")
def normalize(params: dict) -> dict:
    """Simulated normalisation of the week's rows."""
    return {"normalized": True, "week_ending": params.get("week_ending")}


# ---- The Complete Example of orchestration-v2.md, as written ---------------

from spine.orchestration import (
    Workflow,
    Step,
    StepResult,
    WorkflowRunner,
    WorkflowContext,
    QualityMetrics,
)
from spine.framework.alerts import send_alert, AlertSeverity

# Step 1: Validation lambda
def validate_fn(ctx: WorkflowContext, config: dict) -> StepResult:
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

# Define workflow
workflow = Workflow(
    name="finra.weekly_refresh",
    domain="finra.otc_transparency",
    description="Weekly FINRA OTC data refresh with validation",
    steps=[
        Step.pipeline("ingest", "finra.otc.ingest_week"),
        Step.lambda_("validate", validate_fn, config={"min_records": 100}),
        Step.choice("route",
            condition=lambda ctx: ctx.get_output("validate", "validated", False),
            then_step="normalize",
            else_step="alert",
        ),
        Step.pipeline("normalize", "finra.otc.normalize"),
        Step.lambda_("alert", alert_fn),
    ],
)

register_workflow(workflow)

if __name__ == "__main__":
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
