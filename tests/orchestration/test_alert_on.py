"""WorkflowRunner(alert_on=...): an alert when a run ends in a chosen status."""

from __future__ import annotations

import io
import logging
from typing import Any

import pytest

from spine.core.errors import WorkflowValidationError
from spine.framework.alerts import (
    Alert,
    AlertRegistry,
    AlertSeverity,
    BaseChannel,
    ChannelType,
    ConsoleChannel,
    DeliveryLog,
    DeliveryResult,
)
from spine.orchestration import Step, StepResult, Workflow, WorkflowContext, WorkflowRunner


def _boom(ctx: WorkflowContext, config: dict[str, Any]) -> StepResult:
    return StepResult.fail("the feed is empty", "DATA_QUALITY")


def _ok(ctx: WorkflowContext, config: dict[str, Any]) -> StepResult:
    return StepResult.ok()


def _registry() -> tuple[AlertRegistry, io.StringIO]:
    registry = AlertRegistry(throttle_seconds=0)
    stream = io.StringIO()
    registry.register(ConsoleChannel("console", stream=stream))
    return registry, stream


def test_a_failed_run_alerts_naming_workflow_run_step_error_and_link(sqlite_url: str) -> None:
    registry, stream = _registry()
    workflow = Workflow("daily.load", [Step.lambda_("fetch", _ok), Step.lambda_("check", _boom)],
                        domain="finra")  # fmt: skip
    with WorkflowRunner(
        database_url=sqlite_url, alert_on=["failed"], alerts=registry,
        ui_url="http://spine.local:8000",
    ) as runner:  # fmt: skip
        result = runner.execute(workflow)
        deliveries = runner.store.delivery_log().recent() if runner.store else []

    text = stream.getvalue()
    assert result.status == "FAILED"
    assert "[ERROR]" in text
    assert "daily.load" in text
    assert result.run_id in text
    assert "'check'" in text
    assert "the feed is empty" in text
    assert f"http://spine.local:8000/runs/{result.run_id}" in text
    assert [(d.run_id, d.channel, d.success) for d in deliveries] == [
        (result.run_id, "console", True)
    ]


def test_statuses_not_chosen_send_nothing_and_items_do_not_alert() -> None:
    registry, stream = _registry()
    item = Workflow("item", [Step.lambda_("bad", _boom)])
    fan = Workflow("fan", [Step.map("each", "items", item)])
    with WorkflowRunner(alert_on="PARTIAL", alerts=registry) as runner:
        assert runner.execute(Workflow("fine", [Step.lambda_("a", _ok)])).status == "COMPLETED"
        assert runner.execute(fan, params={"items": [1, 2]}).status == "FAILED"
    assert stream.getvalue() == ""

    with WorkflowRunner(alert_on=["FAILED"], alerts=registry) as runner:
        runner.execute(fan, params={"items": [1, 2]})
    # One alert for the run: its two failed items do not alert on their own.
    assert stream.getvalue().count("[ERROR]") == 1
    assert "'each'" in stream.getvalue()


def test_a_workflows_own_alert_on_wins_over_the_runners() -> None:
    registry, stream = _registry()
    quiet = Workflow("quiet", [Step.lambda_("bad", _boom)], alert_on=[])
    loud = Workflow("loud", [Step.lambda_("a", _ok)], alert_on=["COMPLETED"])
    with WorkflowRunner(alert_on=["FAILED"], alerts=registry) as runner:
        runner.execute(quiet)
        runner.execute(loud)
    assert "quiet" not in stream.getvalue()
    assert "[INFO]" in stream.getvalue()
    assert "loud" in stream.getvalue()


def test_unknown_statuses_are_refused() -> None:
    with pytest.raises(ValueError, match="alert_on: RUNNING is not a run status"):
        WorkflowRunner(alert_on=["running"])
    with pytest.raises(WorkflowValidationError, match="workflow 'w': alert_on: NOPE"):
        Workflow("w", [Step.lambda_("a", _ok)], alert_on=["nope"])


class _Sloppy(BaseChannel):
    """A hand-written channel that forgets to return its DeliveryResult."""

    def __init__(self) -> None:
        super().__init__("sloppy", ChannelType.WEBHOOK, min_severity=AlertSeverity.INFO)
        self.sent: list[Alert] = []

    def send(self, alert: Alert) -> DeliveryResult:
        self.sent.append(alert)
        return None  # type: ignore[return-value]


class _BrokenRegistry(AlertRegistry):
    def send_to_all(self, alert: Alert, *, log: DeliveryLog | None = None) -> list[DeliveryResult]:
        raise RuntimeError("registry broken")


def test_a_broken_channel_neither_fails_nor_hides_the_run(sqlite_url: str) -> None:
    registry = AlertRegistry(throttle_seconds=0)
    sloppy = _Sloppy()
    registry.register(sloppy)
    with WorkflowRunner(database_url=sqlite_url, alert_on="FAILED", alerts=registry) as runner:
        result = runner.execute(Workflow("w", [Step.lambda_("bad", _boom)]))
        deliveries = runner.store.delivery_log().recent() if runner.store else []

    assert result.status == "FAILED"
    assert len(sloppy.sent) == 1
    assert [(d.channel, d.success) for d in deliveries] == [("sloppy", False)]
    assert "instead of a DeliveryResult" in (deliveries[0].error or "")


def test_an_alert_that_raises_is_logged_and_the_result_returned(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with (
        WorkflowRunner(alert_on=["FAILED"], alerts=_BrokenRegistry()) as runner,
        caplog.at_level(logging.ERROR, logger="spine.orchestration"),
    ):
        result = runner.execute(Workflow("w", [Step.lambda_("bad", _boom)]))

    assert result.status == "FAILED"
    [record] = [r for r in caplog.records if r.name == "spine.orchestration"]
    assert f"run {result.run_id} of 'w' ended FAILED, but its alert could not be sent" in (
        record.getMessage()
    )
    assert record.exc_info is not None
    assert "registry broken" in str(record.exc_info[1])
