"""Forking a run from a step (``runner.fork``, ``runner.submit_fork``): the steps before it
reused as recorded, the rest executed with new params, the original untouched. What the
store does (the copied rows, the claim of a queued fork, pruning) on SQLite and
PostgreSQL; the engine's rules on SQLite."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from spine.core.errors import (
    DefinitionMismatchError,
    RunNotFoundError,
    WorkflowError,
    WorkflowValidationError,
)
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
from spine.testing import FakeClock

MakeRunner = Callable[..., WorkflowRunner]


class Etl:
    """Steps that count their calls: ``transform`` scales by param ``factor`` and fails
    when it is negative."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def extract(self, ctx: WorkflowContext, config: dict[str, Any]) -> dict[str, Any]:
        self.calls["extract"] += 1
        return {"rows": 10}

    def transform(self, ctx: WorkflowContext, config: dict[str, Any]) -> StepResult:
        self.calls["transform"] += 1
        factor = ctx.get_param("factor")
        if factor < 0:
            return StepResult.fail(f"factor {factor} < 0")
        return StepResult.ok(output={"rows": ctx.get_output("extract", "rows") * factor})

    def load(self, ctx: WorkflowContext, config: dict[str, Any]) -> dict[str, Any]:
        self.calls["load"] += 1
        return {"loaded": ctx.get_output("transform", "rows")}

    def workflow(self, *extra: Step) -> Workflow:
        return Workflow("fork.etl", [
            Step.lambda_("extract", self.extract),
            Step.lambda_("transform", self.transform),
            Step.lambda_("load", self.load),
            *extra,
        ])  # fmt: skip


def store_of(runner: WorkflowRunner) -> SqlStore:
    assert isinstance(runner.store, SqlStore)
    return runner.store


def test_a_fork_reuses_the_steps_before_its_step_and_executes_the_rest_with_new_params(
    database_url: str, make_runner: MakeRunner
) -> None:
    etl = Etl()
    runner = make_runner(database_url=database_url)
    original = runner.execute(etl.workflow(), params={"factor": 2, "day": "d1"},
                              partition={"region": "eu"})  # fmt: skip
    store = store_of(runner)
    before = store.load_run(original.run_id)

    fork = runner.fork(original.run_id, "transform", {"factor": 3}, workflow=etl.workflow())

    assert fork.status == WorkflowStatus.COMPLETED
    assert fork.run_id != original.run_id
    assert fork.context.get_output("load") == {"loaded": 30}
    assert etl.calls == {"extract": 1, "transform": 2, "load": 2}  # extract reused
    stored = store.load_run(fork.run_id)
    assert stored.run.forked_from == original.run_id
    assert stored.run.parent_run_id is None
    assert dict(stored.run.params) == {"factor": 3, "day": "d1"}
    assert dict(stored.run.partition) == {"region": "eu"}
    assert [(s.step_name, s.output) for s in stored.steps] == [
        ("extract", {"rows": 10}),
        ("transform", {"rows": 30}),
        ("load", {"loaded": 30}),
    ]
    assert stored.steps[0].started_at == before.steps[0].started_at  # copied, not re-run
    assert store.load_run(original.run_id) == before  # the original is only read
    assert fork.run_id in [r.run_id for r in store.list_runs()]


def test_a_failed_run_forked_from_its_failed_step_with_fixed_params_completes(
    sqlite_url: str, make_runner: MakeRunner
) -> None:
    etl = Etl()
    register_workflow(etl.workflow())
    runner = make_runner(database_url=sqlite_url)
    failed = runner.execute(etl.workflow(), params={"factor": -1})
    assert failed.status == WorkflowStatus.FAILED
    store = store_of(runner)
    before = store.load_run(failed.run_id)

    still_bad = runner.fork(failed.run_id, "transform", {"factor": -2})
    assert still_bad.status == WorkflowStatus.FAILED
    assert still_bad.error == "factor -2 < 0"
    # A fork is forked like any run.
    fixed = runner.fork(still_bad.run_id, "transform", {"factor": 5})

    assert fixed.status == WorkflowStatus.COMPLETED
    assert fixed.context.get_output("load") == {"loaded": 50}
    assert etl.calls["extract"] == 1
    assert store.load_run(fixed.run_id).run.forked_from == still_bad.run_id
    assert store.load_run(failed.run_id) == before
    assert store.load_run(failed.run_id).run.status == WorkflowStatus.FAILED


def test_a_failed_fork_is_resumed_like_any_run(sqlite_url: str, make_runner: MakeRunner) -> None:
    etl = Etl()
    runner = make_runner(database_url=sqlite_url)
    done = runner.execute(etl.workflow(), params={"factor": 1})
    fork = runner.fork(done.run_id, "transform", {"factor": -1}, workflow=etl.workflow())
    assert fork.status == WorkflowStatus.FAILED

    resumed = runner.resume(fork.run_id, etl.workflow())

    assert resumed.run_id == fork.run_id
    assert resumed.status == WorkflowStatus.FAILED  # the same params: fails again
    assert etl.calls == {"extract": 1, "transform": 3, "load": 1}
    steps = store_of(runner).load_run(fork.run_id).steps
    assert [(s.step_name, s.attempt) for s in steps] == [
        ("extract", 1), ("transform", 1), ("transform", 2)]  # fmt: skip


def test_a_step_not_on_the_path_taken_is_refused_naming_the_path(
    sqlite_url: str, make_runner: MakeRunner
) -> None:
    etl = Etl()

    def route(ctx: WorkflowContext) -> bool:
        return True

    workflow = Workflow("fork.branches", [
        Step.lambda_("extract", etl.extract),
        Step.choice("route", route, then_step="yes", else_step="no"),
        Step.lambda_("yes", lambda ctx, config: {"branch": "yes"}, next="end"),
        Step.lambda_("no", lambda ctx, config: {"branch": "no"}, next="end"),
        Step.lambda_("end", lambda ctx, config: {}),
    ])  # fmt: skip
    runner = make_runner(database_url=sqlite_url)
    original = runner.execute(workflow)
    assert original.completed_steps == ["extract", "route", "yes", "end"]

    for step, why in (("no", "never executed it"), ("nowhere", "has no such step")):
        with pytest.raises(WorkflowValidationError, match=why) as info:
            runner.fork(original.run_id, step, workflow=workflow)
        assert info.value.field == "from_step"
        assert "extract, route, yes, end" in str(info.value)
    assert len(store_of(runner).list_runs()) == 1  # nothing stored

    # The first step is always allowed: nothing copied, every step executed again.
    again = runner.fork(original.run_id, "extract", workflow=workflow)
    assert again.completed_steps == ["extract", "route", "yes", "end"]
    assert etl.calls["extract"] == 2
    # A later step keeps the branch the choice took (its fence holds).
    late = runner.fork(original.run_id, "yes", workflow=workflow)
    assert late.completed_steps == ["extract", "route", "yes", "end"]
    assert etl.calls["extract"] == 2


def test_a_changed_workflow_is_refused_unless_forced(
    sqlite_url: str, make_runner: MakeRunner
) -> None:
    etl = Etl()
    runner = make_runner(database_url=sqlite_url)
    original = runner.execute(etl.workflow(), params={"factor": 1})
    changed = etl.workflow(Step.lambda_("report", lambda ctx, config: {"ok": True}))

    with pytest.raises(DefinitionMismatchError):
        runner.fork(original.run_id, "load", workflow=changed)
    forced = runner.fork(original.run_id, "load", workflow=changed, force=True)

    assert forced.completed_steps == ["extract", "transform", "load", "report"]
    assert etl.calls == {"extract": 1, "transform": 1, "load": 2}


def test_a_fork_after_a_map_step_reuses_its_output_without_its_items(
    sqlite_url: str, make_runner: MakeRunner
) -> None:
    items: list[int] = []

    def square(ctx: WorkflowContext, config: dict[str, Any]) -> dict[str, Any]:
        items.append(ctx.get_param("item"))
        return {"square": ctx.get_param("item") ** 2}

    def total(ctx: WorkflowContext, config: dict[str, Any]) -> dict[str, Any]:
        squares = [r["square"]["square"] for r in ctx.get_output("fan", "results")]
        return {"total": sum(squares) + ctx.get_param("bonus")}

    workflow = Workflow("fork.map", [
        Step.map("fan", "numbers", Workflow("fork.square", [Step.lambda_("square", square)])),
        Step.lambda_("total", total),
    ])  # fmt: skip
    runner = make_runner(database_url=sqlite_url)
    original = runner.execute(workflow, params={"numbers": [1, 2, 3], "bonus": 0})
    assert original.context.get_output("total") == {"total": 14}
    store = store_of(runner)

    fork = runner.fork(original.run_id, "total", {"bonus": 100}, workflow=workflow)

    assert fork.context.get_output("total") == {"total": 114}
    assert sorted(items) == [1, 2, 3]  # no item ran again
    assert fork.context.get_output("fan") == original.context.get_output("fan")
    assert store.list_runs(parent=fork.run_id, top_level=False) == []
    item = store.list_runs(parent=original.run_id, top_level=False)
    assert len(item) == 3
    with pytest.raises(WorkflowError, match="fork that run"):  # an item's params are partial
        runner.fork(item[0].run_id, "square", workflow=workflow.steps[0].iterator_workflow)


def test_a_queued_fork_is_continued_by_a_worker_from_its_copied_rows(
    database_url: str, make_runner: MakeRunner
) -> None:
    etl = Etl()
    register_workflow(etl.workflow())
    runner = make_runner(database_url=database_url)
    original = runner.execute(etl.workflow(), params={"factor": 2})
    store = store_of(runner)

    fork_id = runner.submit_fork(original.run_id, "load", {"factor": 7}, triggered_by="api")

    pending = store.load_run(fork_id)
    assert (pending.run.status, pending.run.forked_from) == ("PENDING", original.run_id)
    assert pending.run.triggered_by == "api"
    assert [s.step_name for s in pending.steps] == ["extract", "transform"]
    [done] = make_runner(database_url=database_url).run_pending()
    assert done.run_id == fork_id
    assert done.status == WorkflowStatus.COMPLETED
    assert done.context.get_output("load") == {"loaded": 20}  # transform's recorded rows
    assert etl.calls == {"extract": 1, "transform": 1, "load": 2}
    assert dict(store.load_run(fork_id).run.params) == {"factor": 7}


def test_pruning_the_original_leaves_the_fork_intact(
    database_url: str, make_runner: MakeRunner, clock: FakeClock
) -> None:
    etl = Etl()
    runner = make_runner(database_url=database_url, clock=clock)
    original = runner.execute(etl.workflow(), params={"factor": 2})
    clock.advance(3600)
    fork = runner.fork(original.run_id, "transform", {"factor": 4}, workflow=etl.workflow())
    store = store_of(runner)
    kept = store.load_run(fork.run_id)

    assert store.prune(before=clock.time() - 1800) == 1

    with pytest.raises(RunNotFoundError):
        store.load_run(original.run_id)
    assert store.load_run(fork.run_id) == kept
    assert kept.run.forked_from == original.run_id
    assert [s.step_name for s in kept.steps] == ["extract", "transform", "load"]


def test_a_dry_run_is_not_forked_into_a_real_one(sqlite_url: str, make_runner: MakeRunner) -> None:
    etl = Etl()
    dry = make_runner(database_url=sqlite_url, dry_run=True)
    rehearsal = dry.execute(etl.workflow(), params={"factor": 2})
    real = make_runner(database_url=sqlite_url)
    with pytest.raises(WorkflowError, match="is a dry run; fork it with"):
        real.fork(rehearsal.run_id, "load", workflow=etl.workflow())
    assert [r.run_id for r in store_of(real).list_runs(workflow="fork.etl")] == [rehearsal.run_id]
