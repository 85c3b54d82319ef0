"""Resuming through the queue: a failed or cancelled run goes back to PENDING
(``spine.commands.resume_run``) and the worker that claims it continues it from its
stored steps, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from spine.commands import cancel_run, resume_run
from spine.core.errors import LeaseLostError
from spine.core.records import Lease
from spine.orchestration import (
    Step,
    StepResult,
    Workflow,
    WorkflowContext,
    WorkflowRunner,
    WorkflowStatus,
    register_workflow,
)
from spine.store import SqlStore

MakeRunner = Callable[..., WorkflowRunner]


class Flaky:
    """Step functions that count their calls; ``second`` fails until ``fixed``."""

    def __init__(self) -> None:
        self.calls = {"first": 0, "second": 0}
        self.fixed = False

    def first(self, ctx: WorkflowContext, config: dict[str, Any]) -> dict[str, Any]:
        self.calls["first"] += 1
        return {"n": ctx.get_param("n", 1)}

    def second(self, ctx: WorkflowContext, config: dict[str, Any]) -> StepResult:
        self.calls["second"] += 1
        if not self.fixed:
            return StepResult.fail("not yet")
        return StepResult.ok(output={"double": ctx.get_output("first", "n") * 2})

    def workflow(self, name: str = "requeue.flow") -> Workflow:
        return Workflow(name, [Step.lambda_("first", self.first),
                               Step.lambda_("second", self.second)])  # fmt: skip


def store_of(runner: WorkflowRunner) -> SqlStore:
    assert isinstance(runner.store, SqlStore)
    return runner.store


def test_a_failed_run_resumed_through_the_queue_continues_where_it_stopped(
    database_url: str, make_runner: MakeRunner
) -> None:
    flaky = Flaky()
    workflow = register_workflow(flaky.workflow())
    runner = make_runner(database_url=database_url)
    failed = runner.execute(workflow, params={"n": 21})
    assert failed.status == WorkflowStatus.FAILED
    store = store_of(runner)

    flaky.fixed = True
    done = resume_run(store, failed.run_id)
    assert (done.queued, done.status) == (True, WorkflowStatus.PENDING)
    pending = store.load_run(failed.run_id).run
    assert (pending.status, pending.error, pending.completed_at) == ("PENDING", None, None)

    [result] = make_runner(database_url=database_url).run_pending()
    assert result.status == WorkflowStatus.COMPLETED
    assert result.context.get_output("second", "double") == 42
    assert flaky.calls == {"first": 1, "second": 2}  # "first" was not run again
    stored = store.load_run(failed.run_id)
    assert [(s.step_name, s.status) for s in stored.steps] == [
        ("first", "COMPLETED"), ("second", "FAILED"), ("second", "COMPLETED")]  # fmt: skip
    assert stored.run.status == WorkflowStatus.COMPLETED


def test_a_cancelled_run_is_resumed_and_the_old_holder_writes_nothing(
    database_url: str, make_runner: MakeRunner
) -> None:
    flaky = Flaky()
    flaky.fixed = True
    workflow = register_workflow(flaky.workflow())
    runner = make_runner(database_url=database_url)
    store = store_of(runner)
    run_id = runner.submit(workflow)
    assert cancel_run(store, run_id).outcome == "cancelled"
    before = store.load_run(run_id).run
    assert resume_run(store, run_id).queued
    after = store.load_run(run_id).run
    assert after.lease_epoch == before.lease_epoch + 1
    # A holder of the run's previous epoch is fenced out.
    with pytest.raises(LeaseLostError):
        store.set_status(run_id, "RUNNING", lease=Lease(runner.owner.owner_id, before.lease_epoch))
    [result] = runner.run_pending()
    assert result.status == WorkflowStatus.COMPLETED
    assert flaky.calls == {"first": 1, "second": 1}


def test_only_failed_or_cancelled_top_level_runs_are_queued_again(
    database_url: str, make_runner: MakeRunner
) -> None:
    flaky = Flaky()
    flaky.fixed = True
    workflow = register_workflow(flaky.workflow())
    runner = make_runner(database_url=database_url)
    store = store_of(runner)
    completed = runner.execute(workflow).run_id
    pending = runner.submit(workflow)
    for run_id, status in ((completed, "COMPLETED"), (pending, "PENDING")):
        done = resume_run(store, run_id)
        assert (done.queued, done.status) == (False, status)
        assert done.reason is not None
        assert "only a FAILED or CANCELLED run" in done.reason
    assert store.load_run(completed).run.status == WorkflowStatus.COMPLETED


def test_a_workflow_changed_since_ends_the_queued_run_saying_so(
    sqlite_url: str, make_runner: MakeRunner
) -> None:
    flaky = Flaky()
    runner = make_runner(database_url=sqlite_url)
    failed = runner.execute(register_workflow(flaky.workflow())).run_id
    store = store_of(runner)
    assert resume_run(store, failed).queued
    # The same name and version, other steps: the stored rows are not its steps.
    from spine.orchestration.registry import default_workflow_registry

    default_workflow_registry.clear()
    changed = Workflow("requeue.flow", [Step.lambda_("other", lambda c, k: {})])
    register_workflow(changed)
    [result] = make_runner(database_url=sqlite_url).run_pending()
    assert result.status == WorkflowStatus.FAILED
    assert "fingerprinted" in (result.error or "")
    assert store.load_run(failed).run.status == WorkflowStatus.FAILED
