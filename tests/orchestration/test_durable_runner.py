"""Resume and recover on a real database (each test runs on SQLite and PostgreSQL)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from spine.core.errors import (
    DefinitionMismatchError,
    RunNotFoundError,
    RunOwnedError,
    WorkflowError,
)
from spine.core.records import Owner
from spine.orchestration import (
    RetryPolicy,
    Step,
    StepResult,
    Workflow,
    WorkflowContext,
    WorkflowRunner,
    WorkflowStatus,
    register_workflow,
)
from spine.testing import FakeClock

MakeRunner = Callable[..., WorkflowRunner]


class Flaky:
    """A step function failing its first ``failures`` calls; counts every call."""

    def __init__(self, failures: int, output: dict[str, Any] | None = None) -> None:
        self.failures = failures
        self.calls = 0
        self.output = output or {"ok": True}

    def __call__(self, ctx: WorkflowContext, config: dict[str, Any]) -> StepResult:
        self.calls += 1
        if self.calls <= self.failures:
            return StepResult.fail(f"failure {self.calls}", category="TRANSIENT")
        return StepResult.ok(output=self.output)


def three_steps(middle: Callable[..., Any], name: str = "durable.three") -> Workflow:
    counts: dict[str, int] = {"first": 0, "last": 0}

    def first(ctx: WorkflowContext, config: dict[str, Any]) -> dict[str, Any]:
        counts["first"] += 1
        return {"n": ctx.get_param("n", 0) + 1}

    def last(ctx: WorkflowContext, config: dict[str, Any]) -> dict[str, Any]:
        counts["last"] += 1
        return {"total": ctx.get_output("first", "n") + ctx.get_output("middle", "extra", 0)}

    workflow = Workflow(
        name,
        [Step.lambda_("first", first), Step.lambda_("middle", middle), Step.lambda_("last", last)],
    )
    workflow.counts = counts  # type: ignore[attr-defined]
    return workflow


def test_resume_continues_at_the_failed_step_without_rerunning(
    database_url: str, make_runner: MakeRunner
) -> None:
    middle = Flaky(1, {"extra": 10})
    workflow = register_workflow(three_steps(middle))
    runner = make_runner(database_url=database_url)
    failed = runner.execute(workflow, params={"n": 1})
    assert failed.status == WorkflowStatus.FAILED
    assert failed.error_step == "middle"

    resumed = runner.resume(failed.run_id)

    assert resumed.status == WorkflowStatus.COMPLETED
    assert resumed.run_id == failed.run_id
    assert workflow.counts == {"first": 1, "last": 1}  # type: ignore[attr-defined]
    assert middle.calls == 2
    assert resumed.context.get_output("last", "total") == 12
    stored = runner.store.load_run(failed.run_id)  # type: ignore[union-attr]
    assert stored.run.status == WorkflowStatus.COMPLETED
    assert [(s.step_name, s.attempt, s.status) for s in stored.steps] == [
        ("first", 1, "COMPLETED"),
        ("middle", 1, "FAILED"),
        ("middle", 2, "COMPLETED"),
        ("last", 1, "COMPLETED"),
    ]


def test_resume_from_another_runner_finds_the_workflow_by_name(
    database_url: str, make_runner: MakeRunner
) -> None:
    middle = Flaky(1)
    workflow = register_workflow(three_steps(middle, "durable.by_name"))
    failed = make_runner(database_url=database_url).execute(workflow)
    resumed = make_runner(database_url=database_url).resume(failed.run_id)
    assert resumed.status == WorkflowStatus.COMPLETED
    assert resumed.completed_steps == ["first", "middle", "last"]


def test_a_completed_run_resumed_again_is_a_noop_that_says_so(
    database_url: str, make_runner: MakeRunner
) -> None:
    workflow = register_workflow(three_steps(Flaky(0)))
    runner = make_runner(database_url=database_url)
    done = runner.execute(workflow)
    again = runner.resume(done.run_id)
    assert again.status == WorkflowStatus.COMPLETED
    assert again.note is not None
    assert "already completed" in again.note
    assert workflow.counts == {"first": 1, "last": 1}  # type: ignore[attr-defined]
    assert again.context.get_output("last", "total") == 1


def test_a_changed_definition_is_refused_unless_forced(
    database_url: str, make_runner: MakeRunner
) -> None:
    runner = make_runner(database_url=database_url)
    failed = runner.execute(three_steps(Flaky(1), "durable.changing"))
    changed = Workflow(
        "durable.changing",
        [Step.lambda_("first", lambda c, k: {"n": 1}), Step.lambda_("middle", lambda c, k: None)],
    )
    with pytest.raises(DefinitionMismatchError, match=r"durable\.changing.*force=True"):
        runner.resume(failed.run_id, changed)
    forced = runner.resume(failed.run_id, changed, force=True)
    assert forced.status == WorkflowStatus.COMPLETED


def test_a_run_held_by_a_live_owner_is_refused_naming_it(
    database_url: str, make_runner: MakeRunner
) -> None:
    runner = make_runner(database_url=database_url)
    failed = runner.execute(three_steps(Flaky(1), "durable.owned"))
    store = runner.store
    assert store is not None
    record = store.load_run(failed.run_id).run
    other = Owner(owner_id="other-owner", host="some-other-host", pid=4242)
    store.set_status(failed.run_id, WorkflowStatus.RUNNING)
    record.status = WorkflowStatus.RUNNING
    assert store.claim(record, other, time.time())

    with pytest.raises(RunOwnedError, match="some-other-host"):
        runner.resume(failed.run_id, three_steps(Flaky(0), "durable.owned"))


def test_a_lapsed_lease_can_be_taken_over(database_url: str, make_runner: MakeRunner) -> None:
    runner = make_runner(database_url=database_url, lease_seconds=5)
    failed = runner.execute(three_steps(Flaky(1), "durable.lapsed"))
    store = runner.store
    assert store is not None
    record = store.load_run(failed.run_id).run
    store.set_status(failed.run_id, WorkflowStatus.RUNNING)
    record.status = WorkflowStatus.RUNNING
    other = Owner(owner_id="gone", host="some-other-host", pid=4242)
    assert store.claim(record, other, time.time() - 60)  # its last heartbeat: a minute ago

    resumed = runner.resume(failed.run_id, three_steps(Flaky(0), "durable.lapsed"))
    assert resumed.status == WorkflowStatus.COMPLETED


def test_unknown_run_and_missing_history(database_url: str, make_runner: MakeRunner) -> None:
    with pytest.raises(RunNotFoundError, match="no-such-run"):
        make_runner(database_url=database_url).resume("no-such-run")
    with pytest.raises(WorkflowError, match="database_url"):
        WorkflowRunner().resume("anything")


def test_retries_write_one_row_per_attempt(database_url: str, make_runner: MakeRunner) -> None:
    flaky = Flaky(2)
    policy = RetryPolicy(max_attempts=3, initial_delay_seconds=5, jitter=False)
    workflow = Workflow("durable.retry", [Step.lambda_("s", flaky, retry=policy)])
    clock = FakeClock()
    runner = make_runner(database_url=database_url, clock=clock)
    result = runner.execute(workflow)
    assert result.status == WorkflowStatus.COMPLETED
    assert clock.sleeps == [5.0, 10.0]
    rows = runner.store.load_run(result.run_id).steps  # type: ignore[union-attr]
    assert [(r.attempt, r.status, r.will_retry) for r in rows] == [
        (1, "FAILED", True),
        (2, "FAILED", True),
        (3, "COMPLETED", False),
    ]


def test_a_non_blocking_runner_parks_a_retry_delay_as_waiting(
    database_url: str, make_runner: MakeRunner
) -> None:
    flaky = Flaky(1)
    policy = RetryPolicy(max_attempts=2, initial_delay_seconds=30, jitter=False)
    workflow = register_workflow(
        Workflow("durable.parked", [Step.lambda_("s", flaky, retry=policy)])
    )
    clock = FakeClock()
    runner = make_runner(database_url=database_url, clock=clock, block_on_waits=False)
    parked = runner.execute(workflow)
    assert parked.status == WorkflowStatus.WAITING
    stored = runner.store.load_run(parked.run_id).run  # type: ignore[union-attr]
    assert stored.status == WorkflowStatus.WAITING
    assert stored.owner is None
    assert stored.wake_at == pytest.approx(clock.time() + 30, abs=1)

    assert runner.recover() == []  # not due yet
    assert flaky.calls == 1
    clock.advance(31)
    [finished] = runner.recover()
    assert finished.status == WorkflowStatus.COMPLETED
    assert flaky.calls == 2


def test_a_non_blocking_wait_is_resumed_when_due(
    database_url: str, make_runner: MakeRunner
) -> None:
    after = Flaky(0, {"after": True})
    workflow = register_workflow(
        Workflow(
            "durable.wait",
            [
                Step.lambda_("before", lambda c, k: {"before": True}),
                Step.wait("pause", 60),
                Step.lambda_("after", after),
            ],
        )
    )
    clock = FakeClock()
    runner = make_runner(database_url=database_url, clock=clock, block_on_waits=False)
    parked = runner.execute(workflow)
    assert parked.status == WorkflowStatus.WAITING
    assert after.calls == 0
    clock.advance(61)
    [finished] = runner.recover()
    assert finished.status == WorkflowStatus.COMPLETED
    assert finished.completed_steps == ["before", "pause", "after"]
    assert after.calls == 1


def test_recover_leaves_runs_of_unknown_workflows(
    database_url: str, make_runner: MakeRunner
) -> None:
    clock = FakeClock()
    runner = make_runner(database_url=database_url, clock=clock, block_on_waits=False)
    parked = runner.execute(Workflow("durable.unregistered", [Step.wait("w", 1)]))
    clock.advance(5)
    assert runner.recover() == []
    assert runner.store.load_run(parked.run_id).run.status == "WAITING"  # type: ignore[union-attr]


def test_map_resume_reruns_only_unfinished_items(
    database_url: str, make_runner: MakeRunner
) -> None:
    calls: list[int] = []

    def square(ctx: WorkflowContext, config: dict[str, Any]) -> StepResult:
        item = ctx.get_param("item")
        calls.append(item)
        if item == 3 and calls.count(3) == 1:
            return StepResult.fail("flaky item")
        return StepResult.ok(output={"v": item * item})

    item_workflow = Workflow("durable.item", [Step.lambda_("sq", square)])
    workflow = register_workflow(
        Workflow("durable.map", [Step.map("m", "items", item_workflow, max_concurrency=2)])
    )
    runner = make_runner(database_url=database_url)
    failed = runner.execute(workflow, params={"items": [1, 2, 3, 4]})
    assert failed.status == WorkflowStatus.FAILED
    resumed = runner.resume(failed.run_id)
    assert resumed.status == WorkflowStatus.COMPLETED
    assert sorted(calls) == [1, 2, 3, 3, 4]
    results = resumed.context.get_output("m", "results")
    assert [r["sq"]["v"] for r in results] == [1, 4, 9, 16]
    children = runner.store.child_runs(failed.run_id, "m#0")  # type: ignore[union-attr]
    assert sorted(c.item_index for c in children if c.item_index is not None) == [0, 1, 2, 3]
    assert {c.status for c in children} == {"COMPLETED"}


def test_environment_variable_turns_history_on(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPINE_DATABASE_URL", sqlite_url)
    with WorkflowRunner() as runner:
        result = runner.execute(Workflow("durable.env", [Step.lambda_("s", lambda c, k: None)]))
        assert runner.store is not None
        assert runner.store.load_run(result.run_id).run.status == "COMPLETED"


def test_leases_are_renewed_while_a_run_executes(sqlite_url: str, make_runner: MakeRunner) -> None:
    seen: list[float | None] = []
    runner = make_runner(database_url=sqlite_url, lease_seconds=0.3)

    def slow(ctx: WorkflowContext, config: dict[str, Any]) -> None:
        store = runner.store
        assert store is not None
        for _ in range(3):
            seen.append(store.load_run(ctx.run_id).run.heartbeat_at)
            time.sleep(0.25)

    runner.execute(Workflow("durable.lease", [Step.lambda_("slow", slow)]))
    assert len(set(seen)) > 1


def test_resume_uses_the_version_the_run_started_with(
    database_url: str, make_runner: MakeRunner
) -> None:
    v1_calls: list[str] = []

    def v1_step(ctx: WorkflowContext, config: dict[str, Any]) -> StepResult:
        v1_calls.append("v1")
        return StepResult.fail("first try") if len(v1_calls) == 1 else StepResult.ok()

    v1 = register_workflow(Workflow("durable.versions", [Step.lambda_("s", v1_step)], version=1))
    runner = make_runner(database_url=database_url)
    failed = runner.execute(v1)
    register_workflow(
        Workflow("durable.versions", [Step.lambda_("other", lambda c, k: None)], version=2)
    )
    resumed = runner.resume(failed.run_id)
    assert resumed.status == WorkflowStatus.COMPLETED
    assert v1_calls == ["v1", "v1"]
    assert resumed.completed_steps == ["s"]


def next_round(ctx: WorkflowContext, config: dict[str, Any]) -> StepResult:
    round_ = ctx.get_param("round", 0)
    return StepResult.ok(context_updates={"items": [round_ * 10 + 1], "round": round_ + 1})


def test_a_map_run_again_in_a_loop_starts_its_items_afresh(
    database_url: str, make_runner: MakeRunner
) -> None:
    square = Step.lambda_("sq", lambda c, k: {"v": c.get_param("item") ** 2})
    item = Workflow("durable.loop.item", [square])
    workflow = Workflow(
        "durable.loop",
        [
            Step.lambda_("pick", next_round),
            Step.map("m", "items", item),
            Step.choice("again", lambda c: c.get_param("round") < 2, then_step="pick"),
        ],
    )
    plain = WorkflowRunner().execute(workflow)
    durable = make_runner(database_url=database_url).execute(workflow)
    assert durable.status == WorkflowStatus.COMPLETED
    assert durable.context.get_output("m", "results") == plain.context.get_output("m", "results")
    assert durable.context.get_output("m", "results") == [{"sq": {"v": 121}}]


def test_a_dry_run_is_not_resumed_for_real(database_url: str, make_runner: MakeRunner) -> None:
    calls: list[str] = []
    from spine.framework import pipeline

    pipeline("durable.real")(lambda params: calls.append("real") or {})
    workflow = register_workflow(
        Workflow("durable.dry", [Step.pipeline("p", "durable.real"), Step.lambda_("f", Flaky(1))])
    )
    dry = make_runner(database_url=database_url, dry_run=True).execute(workflow)
    assert dry.status == WorkflowStatus.FAILED
    with pytest.raises(WorkflowError, match="dry run"):
        make_runner(database_url=database_url).resume(dry.run_id)
    assert calls == []


def waits_then(name: str, last: str) -> Workflow:
    return Workflow(name, [Step.wait("w", 1), Step.lambda_(last, lambda c, k: None)])


def test_recover_goes_on_past_a_run_it_cannot_resume(
    database_url: str, make_runner: MakeRunner
) -> None:
    clock = FakeClock()
    runner = make_runner(database_url=database_url, clock=clock, block_on_waits=False)
    poisoned = runner.execute(register_workflow(waits_then("durable.poison", "a")))
    # A changed definition: resuming the first run is now refused.
    register_workflow(waits_then("durable.poison", "b"))
    healthy = runner.execute(register_workflow(waits_then("durable.healthy", "a")))
    clock.advance(5)
    recovered = runner.recover()
    assert [r.run_id for r in recovered] == [healthy.run_id]
    assert runner.store.load_run(poisoned.run_id).run.status == "WAITING"  # type: ignore[union-attr]


def test_a_partial_run_resumed_does_not_rerun_its_continue_failure(
    database_url: str, make_runner: MakeRunner
) -> None:
    soft = Flaky(5)
    from spine.orchestration import ErrorPolicy

    workflow = register_workflow(
        Workflow("durable.partial", [Step.lambda_("soft", soft, on_error=ErrorPolicy.CONTINUE)])
    )
    runner = make_runner(database_url=database_url)
    partial = runner.execute(workflow)
    assert partial.status == WorkflowStatus.PARTIAL
    again = runner.resume(partial.run_id)
    assert soft.calls == 1
    assert again.status == WorkflowStatus.PARTIAL


def test_force_resume_at_a_step_that_no_longer_exists_names_it(
    database_url: str, make_runner: MakeRunner
) -> None:
    runner = make_runner(database_url=database_url)
    failed = runner.execute(three_steps(Flaky(1), "durable.gone"))
    other = Workflow("durable.gone", [Step.lambda_("first", lambda c, k: {"n": 1})])
    with pytest.raises(DefinitionMismatchError, match="'middle'"):
        runner.resume(failed.run_id, other, force=True)
    assert runner.store.load_run(failed.run_id).run.status == "FAILED"  # type: ignore[union-attr]


def test_a_claimed_run_is_running(database_url: str, make_runner: MakeRunner) -> None:
    runner = make_runner(database_url=database_url)
    failed = runner.execute(three_steps(Flaky(1), "durable.claimed"))
    store = runner.store
    assert store is not None
    record = store.load_run(failed.run_id).run
    assert store.claim(record, Owner("x", "elsewhere", 1), time.time())
    assert store.load_run(failed.run_id).run.status == "RUNNING"
    assert not store.claim(record, Owner("y", "elsewhere", 2), time.time())


def test_a_closed_runner_refuses_durable_work(sqlite_url: str) -> None:
    runner = WorkflowRunner(database_url=sqlite_url)
    runner.close()
    with pytest.raises(WorkflowError, match="closed"):
        runner.execute(Workflow("durable.closed", [Step.lambda_("s", lambda c, k: None)]))


def test_a_dropped_runner_stops_its_lease_thread(sqlite_url: str) -> None:
    import gc
    import threading

    before = {t.ident for t in threading.enumerate() if t.name == "spine-lease"}
    runner = WorkflowRunner(database_url=sqlite_url)
    runner.execute(Workflow("durable.dropped", [Step.lambda_("s", lambda c, k: None)]))
    [started] = [
        t for t in threading.enumerate() if t.name == "spine-lease" and t.ident not in before
    ]
    del runner
    gc.collect()
    started.join(timeout=5)
    assert not started.is_alive()


def test_execute_with_a_stored_runs_context_points_to_resume(
    database_url: str, make_runner: MakeRunner
) -> None:
    runner = make_runner(database_url=database_url)
    workflow = three_steps(Flaky(1), "durable.context")
    failed = runner.execute(workflow)
    with pytest.raises(WorkflowError, match=r"resume\("):
        runner.execute(workflow, context=failed.context, start_from="middle")
    assert runner.store.load_run(failed.run_id).run.status == "FAILED"  # type: ignore[union-attr]


def test_a_dropped_runner_that_its_own_callback_refers_to_is_still_closed(
    sqlite_url: str,
) -> None:
    import gc
    import threading
    import weakref

    class Progress:
        runner: WorkflowRunner | None = None

        def __call__(self, run_id: str, execution: object) -> None:
            assert self.runner is not None

    progress = Progress()
    runner = WorkflowRunner(database_url=sqlite_url, on_step=progress)
    progress.runner = runner  # a cycle through the runner's own settings
    runner.execute(Workflow("durable.cycle", [Step.lambda_("s", lambda c, k: None)]))
    [lease] = [t for t in threading.enumerate() if t.name == "spine-lease" and t.is_alive()][-1:]
    gone = weakref.ref(runner)
    del runner, progress
    gc.collect()
    assert gone() is None
    lease.join(timeout=5)
    assert not lease.is_alive()


def test_settings_changed_after_construction_are_checked_as_at_construction(
    make_runner: MakeRunner,
) -> None:
    runner = make_runner()
    runner.alert_on = ["failed"]  # type: ignore[assignment]
    assert runner.alert_on == frozenset({"FAILED"})
    with pytest.raises(ValueError, match="alert_on"):
        runner.alert_on = ["sometimes"]  # type: ignore[assignment]
    with pytest.raises(ValueError, match="max_steps"):
        runner.max_steps = 0
    with pytest.raises(ValueError, match="lease_seconds"):
        runner.lease_seconds = -1
    with pytest.raises(AttributeError):
        runner.store = None  # type: ignore[misc]


def test_a_process_that_lost_its_run_stops_at_its_first_write(sqlite_url: str) -> None:
    """A frozen past its lease (it cannot renew), B takes the run over and completes it:
    when A wakes, its step's row is refused and it executes no further step."""
    import threading

    calls: list[tuple[str, str]] = []
    frozen = threading.Event()

    def step(name: str) -> Callable[[WorkflowContext, dict[str, Any]], dict[str, Any]]:
        def run(ctx: WorkflowContext, config: dict[str, Any]) -> dict[str, Any]:
            calls.append((name, threading.current_thread().name))
            if name == "s1" and threading.current_thread().name == "A":
                frozen.wait(10)
            return {"by": threading.current_thread().name}

        return run

    workflow = Workflow("durable.stale", [Step.lambda_(n, step(n)) for n in ("s1", "s2", "s3")])
    a = WorkflowRunner(database_url=sqlite_url, lease_seconds=0.5)
    a._runs.owner = Owner("owner-a", "another-host", 1)  # so B sees no live local process
    a.store.heartbeat = lambda *args, **kwargs: None  # type: ignore[method-assign,union-attr]
    b = WorkflowRunner(database_url=sqlite_url, lease_seconds=0.5)
    outcome: dict[str, object] = {}

    def run_a() -> None:
        try:
            outcome["a"] = a.execute(workflow).status
        except Exception as exc:
            outcome["a"] = exc

    thread = threading.Thread(target=run_a, name="A")
    thread.start()
    try:
        time.sleep(1.0)
        run_id = b.store.list_runs()[0].run_id  # type: ignore[union-attr]
        resumed = threading.Thread(
            target=lambda: outcome.setdefault("b", b.resume(run_id, workflow).status), name="B"
        )
        resumed.start()
        resumed.join(10)
    finally:
        frozen.set()
        thread.join(10)
        a.close()
        b.close()

    assert outcome["b"] == WorkflowStatus.COMPLETED
    assert outcome["a"] == WorkflowStatus.RUNNING  # it let the run go, to B
    assert ("s2", "A") not in calls
    assert ("s3", "A") not in calls


def test_a_map_whose_run_was_taken_over_starts_no_further_item(sqlite_url: str) -> None:
    """While item 2 runs, another process takes the map's run over: this process
    starts no item after its map's next look at the run and lets the run go."""
    from sqlalchemy import create_engine, update

    from spine.orchestration.engine.journal import LOOK_SERVES
    from spine.store.schema import runs

    started: list[int] = []
    engine = create_engine(sqlite_url)

    def item(ctx: WorkflowContext, config: dict[str, Any]) -> dict[str, Any]:
        index = ctx.get_param("item")
        started.append(index)
        if index == 2:  # another owner claims the map's run (as a recoverer would)
            with engine.begin() as conn:
                conn.execute(
                    update(runs).where(runs.c.parent_run_id.is_(None)).values(owner_id="other")
                )
            time.sleep(2 * LOOK_SERVES)  # the look before item 2 serves no item after
        return {"i": index}

    each = Workflow("durable.takeover.item", [Step.lambda_("i", item)])
    fan = Workflow("durable.takeover", [Step.map("m", "items", each, max_concurrency=1)])
    with WorkflowRunner(database_url=sqlite_url) as runner:
        result = runner.execute(fan, params={"items": list(range(6))})
    engine.dispose()

    assert started == [0, 1, 2]
    assert result.status == WorkflowStatus.RUNNING
    assert "another process took the run over" in (result.note or "")
