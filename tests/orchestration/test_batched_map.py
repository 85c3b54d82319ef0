"""Map items with history run in this process and are stored in batches: what is
stored matches what ran (rows, counts, outputs, logs), an item that runs long is
counted in flight, a map inside an item is recorded in its output only, and a holder
that lost its run stores no batch (both backends)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

from sqlalchemy import create_engine, update

from spine.core.status import StepStatus, WorkflowStatus
from spine.orchestration import Step, StepResult, Workflow, WorkflowContext, WorkflowRunner
from spine.orchestration.engine.journal import LOOK_SERVES
from spine.orchestration.engine.kinds import batched_items
from spine.store import SqlStore
from spine.store.schema import runs

ITEMS = 2 * batched_items.CHUNK + 37  # batches of CHUNK, and the rest at the end
FAILING = {i for i in range(ITEMS) if i % 97 == 5}


def test_what_a_map_stores_matches_what_its_items_did(database_url: str) -> None:
    tries: dict[int, int] = {}

    def work(ctx: WorkflowContext, config: dict[str, Any]) -> StepResult:
        index = ctx.params["item_index"]
        tries[index] = tries.get(index, 0) + 1
        print(f"item {index} says hello")
        if index in FAILING and tries[index] == 1:
            return StepResult.fail(f"item {index} fails once")
        return StepResult.ok(output={"sq": ctx.params["item"] ** 2, "base": ctx.params["base"]})

    item = Workflow("batched.check.item", [Step.lambda_("work", work)])
    flow = Workflow("batched.check", [Step.map("each", "items", item, max_concurrency=3)])
    with WorkflowRunner(database_url=database_url) as runner:
        failed = runner.execute(flow, params={"items": list(range(ITEMS)), "base": 7})
        assert failed.status == WorkflowStatus.FAILED
        store = runner.store
        assert store is not None
        items = {r.item_index: r for r in store.child_runs(failed.run_id, "each#0")}
        assert sorted(items) == list(range(ITEMS))
        assert {i for i, r in items.items() if r.status == WorkflowStatus.FAILED} == FAILING
        assert store.item_counts(failed.run_id, "each#0") == {
            WorkflowStatus.COMPLETED: ITEMS - len(FAILING),
            WorkflowStatus.FAILED: len(FAILING),
        }
        for index in (0, 5, ITEMS - 1):
            stored = store.load_run(items[index].run_id)
            assert stored.run.params == {"item": index, "item_index": index}  # not the map's
            assert stored.run.parent_step == "each#0"
            assert stored.run.owner is None
            [row] = stored.steps
            assert row.step_name == "work"
            assert [line for _, _, line in row.log] == [f"item {index} says hello"]
            if index in FAILING:
                assert row.status == StepStatus.FAILED
                assert stored.run.error_step == "work"
            else:
                assert row.output == {"sq": index**2, "base": 7}
                assert stored.run.outputs == {"work": {"sq": index**2, "base": 7}}
        each = store.load_run(failed.run_id).steps[0].output
        assert (each["item_count"], each["failed_count"]) == (ITEMS, len(FAILING))

        resumed = runner.resume(failed.run_id, flow)
        assert resumed.status == WorkflowStatus.COMPLETED, resumed.error
        assert tries == {i: 2 if i in FAILING else 1 for i in range(ITEMS)}
        results = resumed.context.get_output("each")["results"]
        assert [r["work"]["sq"] for r in results] == [i * i for i in range(ITEMS)]
        again = store.child_runs(failed.run_id, "each#0")
        assert len(again) == ITEMS
        assert {r.status for r in again} == {WorkflowStatus.COMPLETED}


def test_an_item_running_long_is_counted_in_flight_and_then_ended(database_url: str) -> None:
    release = threading.Event()

    def work(ctx: WorkflowContext, config: dict[str, Any]) -> dict[str, int]:
        if ctx.params["item"] == 1:
            assert release.wait(20)
        return {"n": ctx.params["item"]}

    item = Workflow("batched.long.item", [Step.lambda_("work", work)])
    flow = Workflow("batched.long", [Step.map("each", "items", item, max_concurrency=2)])
    with WorkflowRunner(database_url=database_url) as runner:
        store = runner.store
        assert store is not None
        results: list[Any] = []
        thread = threading.Thread(
            target=lambda: results.append(runner.execute(flow, params={"items": [0, 1, 2]}))
        )
        thread.start()
        try:
            deadline = time.monotonic() + 10
            counts: dict[str, int] = {}
            while time.monotonic() < deadline:
                listed = store.list_runs(workflow="batched.long")
                if listed:
                    counts = store.item_counts(listed[0].run_id, "each#0")
                    if counts == {WorkflowStatus.COMPLETED: 2, WorkflowStatus.RUNNING: 1}:
                        break
                time.sleep(0.02)
            assert counts == {WorkflowStatus.COMPLETED: 2, WorkflowStatus.RUNNING: 1}
        finally:
            release.set()
            thread.join(20)
        [result] = results
        assert result.status == WorkflowStatus.COMPLETED
        [one] = [r for r in store.child_runs(result.run_id, "each#0") if r.item_index == 1]
        stored = store.load_run(one.run_id)  # its RUNNING row, ended (not a second row)
        assert stored.run.status == WorkflowStatus.COMPLETED
        assert stored.run.owner is None
        assert [(s.step_name, s.output) for s in stored.steps] == [("work", {"n": 1})]
        assert len(store.child_runs(result.run_id, "each#0")) == 3


def test_a_map_inside_an_item_is_recorded_in_its_output_only(sqlite_url: str) -> None:
    inner = Workflow("batched.inner", [Step.lambda_("n", lambda c, k: {"n": c.params["item"]})])
    outer_item = Workflow("batched.outer.item", [
        Step.lambda_("pick", lambda c, k: {"xs": [c.params["item"], c.params["item"] + 1]}),
        Step.map("inner", "outputs.pick.xs", inner),
    ])  # fmt: skip
    flow = Workflow("batched.outer", [Step.map("each", "items", outer_item)])
    with WorkflowRunner(database_url=sqlite_url) as runner:
        result = runner.execute(flow, params={"items": [10, 20]})
        assert result.status == WorkflowStatus.COMPLETED
        store = runner.store
        assert store is not None
        outer = store.child_runs(result.run_id, "each#0")
        assert sorted(r.item_index for r in outer) == [0, 1]
        for run in outer:
            assert store.list_runs(parent=run.run_id, top_level=False) == []
            base = run.params["item"]
            inner_output = store.load_run(run.run_id).steps[-1].output
            assert [r["n"]["n"] for r in inner_output["results"]] == [base, base + 1]


def test_a_holder_that_lost_its_run_stores_no_batch(database_url: str) -> None:
    """The run is taken over while its map's first item runs: that item ends, but its
    batch is refused (the write names the lease), and no item starts after the map's
    next look at its run."""
    started: list[int] = []
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))

    def work(ctx: WorkflowContext, config: dict[str, Any]) -> dict[str, int]:
        started.append(ctx.params["item"])
        if ctx.params["item"] == 0:  # another owner claims the map's run (as a recoverer)
            with engine.begin() as conn:
                conn.execute(update(runs).where(runs.c.parent_run_id.is_(None))
                             .values(owner_id="other"))  # fmt: skip
            time.sleep(2 * LOOK_SERVES)  # the look before item 0 serves no item after
        return {"n": ctx.params["item"]}

    item = Workflow("batched.fenced.item", [Step.lambda_("work", work)])
    flow = Workflow("batched.fenced", [Step.map("each", "items", item, max_concurrency=1)])
    try:
        with WorkflowRunner(database_url=database_url) as runner:
            result = runner.execute(flow, params={"items": list(range(5))})
    finally:
        engine.dispose()
    assert started == [0]
    assert result.status == WorkflowStatus.RUNNING
    assert "another process took the run over" in (result.note or "")
    with SqlStore(database_url) as store:
        assert store.list_runs(parent=result.run_id, top_level=False) == []
        assert store.load_run(result.run_id).steps == []


def test_a_retried_map_takes_an_item_its_timed_out_attempt_wrote_meanwhile(
    database_url: str,
) -> None:
    # Attempt 1 times out while item 1 runs (after item 0 failed); the retry starts at
    # once, reads the stored items, and reaches item 1 only after attempt 1 wrote it:
    # item 1 is taken as stored, not run a second time.
    from spine.orchestration import RetryPolicy

    executions: Counter[int] = Counter()
    lock = threading.Lock()

    def work(ctx: WorkflowContext, config: dict[str, Any]) -> StepResult:
        index = ctx.params["item_index"]
        with lock:
            executions[index] += 1
            first = executions[index] == 1
        if index == 0:
            time.sleep(0.45)
            if first:
                return StepResult.fail("first time fails", "TRANSIENT")
        elif index == 1:
            time.sleep(0.3)
        return StepResult.ok(output={"i": index})

    item = Workflow("race.item", [Step.lambda_("work", work)])
    retry = RetryPolicy(max_attempts=3, initial_delay_seconds=0.0, jitter=False)
    flow = Workflow("race.map", [Step.map("each", "items", item, max_concurrency=1,
                                          timeout_seconds=0.5, retry=retry)])  # fmt: skip
    with WorkflowRunner(database_url=database_url) as runner:
        result = runner.execute(flow, params={"items": [0, 1, 2]})
        time.sleep(0.6)  # attempt 1's item 1 ends and is written
        assert runner.store is not None
        rows = runner.store.list_runs(parent=result.run_id, top_level=False, limit=10)
    assert result.status == "COMPLETED", result.error
    assert sorted((r.item_index, r.status) for r in rows) == [
        (0, "COMPLETED"), (1, "COMPLETED"), (2, "COMPLETED"),
    ]  # fmt: skip
    assert executions == Counter({0: 2, 1: 1, 2: 1})
