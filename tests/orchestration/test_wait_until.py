"""``Step.wait(name, until=...)``: a wait until a moment, given as an aware datetime,
ISO-8601 text with an offset, or a path resolved when the step starts; durable as any
wait (a run that must not block is WAITING until the moment, then recovered)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from spine.core.errors import WorkflowValidationError
from spine.orchestration import Step, Workflow, WorkflowRunner, WorkflowStatus
from spine.testing import FakeClock

MakeRunner = Callable[..., WorkflowRunner]
T0 = 1_700_000_000.0


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(T0 + seconds, UTC)


@pytest.mark.parametrize(
    "until",
    [_at(90), _at(90).isoformat(), _at(90).astimezone(timezone(timedelta(hours=-5))).isoformat()],
    ids=["datetime", "iso-utc", "iso-offset"],
)
def test_a_wait_until_a_moment_sleeps_until_it(until: Any) -> None:
    clock = FakeClock(T0)
    flow = Workflow("until.moment", [Step.wait("pause", until=until)])
    result = WorkflowRunner(clock=clock).execute(flow)
    assert result.status == WorkflowStatus.COMPLETED
    assert clock.time() == pytest.approx(T0 + 90)
    assert result.context.get_output("pause")["waited_seconds"] == pytest.approx(90)


def test_a_path_is_resolved_when_the_step_starts_and_the_wait_is_durable(
    sqlite_url: str, make_runner: MakeRunner
) -> None:
    clock = FakeClock(T0)
    flow = Workflow("until.path", [
        Step.lambda_("plan", lambda ctx, config: {"at": _at(3600).isoformat()}),
        Step.wait("pause", until="outputs.plan.at"),
        Step.wait("again", until="params.deadline"),
    ])  # fmt: skip
    runner = make_runner(database_url=sqlite_url, clock=clock, block_on_waits=False)
    first = runner.execute(flow, params={"deadline": _at(7200).isoformat()})
    assert first.status == WorkflowStatus.WAITING
    assert runner.store is not None
    assert runner.store.load_run(first.run_id).run.wake_at == pytest.approx(T0 + 3600)
    clock.advance(3600)
    second = runner.resume(first.run_id, flow)
    assert second.status == WorkflowStatus.WAITING  # now at the params' deadline
    assert runner.store.load_run(first.run_id).run.wake_at == pytest.approx(T0 + 7200)
    clock.advance(3600)
    done = runner.resume(first.run_id, flow)
    assert done.status == WorkflowStatus.COMPLETED


def test_a_moment_already_past_does_not_wait() -> None:
    clock = FakeClock(T0)
    flow = Workflow("until.past", [Step.wait("pause", until=_at(-60))])
    result = WorkflowRunner(clock=clock).execute(flow)
    assert result.status == WorkflowStatus.COMPLETED
    assert result.context.get_output("pause")["waited_seconds"] == 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"until": datetime(2026, 1, 1)}, "has no UTC offset"),
        ({"until": "2026-01-01T00:00:00"}, "has no UTC offset"),
        ({"until": "tomorrow"}, "is not an ISO-8601 time"),
        ({"until": _at(10), "duration_seconds": 5}, "either duration_seconds or until"),
    ],
)
def test_a_naive_time_or_both_until_and_a_duration_are_refused(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(WorkflowValidationError, match=message) as refused:
        Workflow("until.bad", [Step.wait("pause", **options)])
    assert "workflow 'until.bad', step 'pause'" in str(refused.value)


def test_a_path_to_a_naive_or_missing_time_fails_the_step_naming_it() -> None:
    flow = Workflow("until.bad_path", [Step.wait("pause", until="params.deadline")])
    naive = WorkflowRunner().execute(flow, params={"deadline": "2026-01-01T00:00:00"})
    assert naive.status == WorkflowStatus.FAILED
    assert "until='params.deadline'" in (naive.error or "")
    assert "has no UTC offset" in (naive.error or "")
    missing = WorkflowRunner().execute(flow)
    assert missing.status == WorkflowStatus.FAILED
    assert "has no key 'deadline'" in (missing.error or "")
