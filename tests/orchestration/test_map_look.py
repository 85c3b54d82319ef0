"""The look a map takes at its run before starting items (was it asked to stop? does
this process still hold it?): one look serves the items that start in the next
``LOOK_SERVES`` seconds, and the threads of a map take one look at a time."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from spine.orchestration import Step, Workflow, WorkflowRunner, WorkflowStatus
from spine.orchestration.engine import journal
from spine.orchestration.engine.journal import LOOK_SERVES, Journal
from spine.orchestration.flow import plan_for
from spine.store import SqlStore


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        return self.now


@pytest.fixture
def stored_run(sqlite_url: str) -> tuple[SqlStore, str]:
    workflow = Workflow("look.w", [Step.lambda_("a", lambda ctx, cfg: None)])
    with WorkflowRunner(database_url=sqlite_url) as runner:
        run_id = runner.execute(workflow).run_id
    return SqlStore(sqlite_url), run_id


def _journal(store: Any, run_id: str) -> Journal:
    plan = plan_for(Workflow("look.w", [Step.lambda_("a", lambda ctx, cfg: None)]))
    return Journal(store, run_id, "look.w", plan)


class _Counted:
    """The store, counting the looks (and holding each one ``hold`` seconds)."""

    def __init__(self, store: SqlStore, hold: float = 0.0) -> None:
        self.store, self.hold, self.looks = store, hold, 0
        self.asked = False

    def cancel_requested(self, run_id: str, lease: Any = None) -> bool:
        self.looks += 1
        time.sleep(self.hold)
        return self.asked or self.store.cancel_requested(run_id, lease)


def _four_threads_ask(look: Journal) -> list[bool]:
    """What four threads of a map, asking at once, were told."""
    answers: list[bool] = []
    go = threading.Barrier(4)

    def item_thread() -> None:
        go.wait()
        answers.append(look.cancelled_now())

    threads = [threading.Thread(target=item_thread) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def test_a_look_that_found_the_run_going_on_serves_the_next_10_ms(
    stored_run: tuple[SqlStore, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, run_id = stored_run
    clock = _Clock()
    monkeypatch.setattr(journal.time, "monotonic", clock)
    counted = _Counted(store)
    look = _journal(counted, run_id)

    assert LOOK_SERVES == 0.01
    assert look.cancelled_now() is False
    clock.now += LOOK_SERVES * 0.9
    assert look.cancelled_now() is False
    assert counted.looks == 1  # served by the first
    clock.now += LOOK_SERVES * 0.2
    assert look.cancelled_now() is False
    assert counted.looks == 2  # the first's time was up

    counted.asked = True  # (asked to stop meanwhile)
    clock.now += LOOK_SERVES * 1.1
    assert look.cancelled_now() is True
    assert look.cancelled_now() is True
    assert counted.looks == 4  # a stop is never served from before: each asks again
    store.close()


def test_the_threads_of_a_map_take_one_look_at_a_time(stored_run: tuple[SqlStore, str]) -> None:
    store, run_id = stored_run
    counted = _Counted(store, hold=0.2 * LOOK_SERVES)
    look = _journal(counted, run_id)
    assert _four_threads_ask(look) == [False] * 4
    assert counted.looks == 1  # the other three waited for it, and it served them
    store.close()


def test_a_cancel_stops_a_map_of_fast_items_before_its_end(sqlite_url: str) -> None:
    started: list[int] = []
    runner = WorkflowRunner(database_url=sqlite_url)

    def work(ctx: Any, config: dict[str, Any]) -> dict[str, int]:
        index = ctx.params["item_index"]
        started.append(index)
        if index == 50:
            [run] = runner.store.list_runs(workflow="look.map")  # type: ignore[union-attr]
            assert runner.cancel(run.run_id) == "requested"
            time.sleep(2 * LOOK_SERVES)  # the next look is due before item 51 starts
        return {"n": index}

    item = Workflow("look.item", [Step.lambda_("work", work)])
    flow = Workflow("look.map", [Step.map("each", "items", item, max_concurrency=1)])
    with runner:
        result = runner.execute(flow, params={"items": list(range(10_000))})
    assert result.status == WorkflowStatus.CANCELLED
    assert started == list(range(51))


def test_a_slow_look_serves_the_threads_that_asked_before_it_began(
    stored_run: tuple[SqlStore, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A look that takes longer than ``LOOK_SERVES`` (a distant database) still serves
    the threads waiting for it: it began after they asked."""
    store, run_id = stored_run
    clock = _Clock()
    monkeypatch.setattr(journal.time, "monotonic", clock)

    class Slow(_Counted):
        def cancel_requested(self, run_id: str, lease: Any = None) -> bool:
            # Once the other three have asked (the looker read the clock twice, each of
            # them once), the look takes three windows.
            deadline = time.perf_counter() + 10
            while clock.reads < 5 and time.perf_counter() < deadline:
                time.sleep(0.001)
            clock.now += 3 * LOOK_SERVES
            return super().cancel_requested(run_id, lease)

    counted = Slow(store)
    look = _journal(counted, run_id)
    assert _four_threads_ask(look) == [False] * 4
    assert counted.looks == 1
    store.close()


def test_a_map_over_a_list_subclass_with_its_own_iteration_runs_every_item() -> None:
    class Generated(list[int]):
        def __iter__(self) -> Any:  # Python code: not safe to share without a lock
            for index in range(len(self)):
                time.sleep(0)  # (lets another thread in, as any Python code may)
                yield self[index]

    item = Workflow(
        "look.sub.item", [Step.lambda_("n", lambda ctx, cfg: {"n": ctx.params["item"]})]
    )
    flow = Workflow("look.sub", [Step.map("each", "items", item, max_concurrency=4)])
    with WorkflowRunner() as runner:
        result = runner.execute(flow, params={"items": Generated(range(2000))})
    assert result.status == WorkflowStatus.COMPLETED, result.error
    assert [r["n"]["n"] for r in result.context.get_output("each")["results"]] == list(range(2000))
