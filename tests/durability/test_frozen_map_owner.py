"""An owner frozen (SIGSTOP) past its lease in the middle of a map step while another
process recovers its run: thawed, it starts no further item and changes no stored row,
neither the run's nor any item run's.

It is frozen at one of two moments: while both of the map's lanes are inside an item,
or while one of them looks at the run (before each item), the look read but not yet
returned: thawed, it reads again (the first read is stale) and starts nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest

from spine.core.records import RunRecord, StepRecord, StoredRun
from spine.orchestration import WorkflowRunner, WorkflowStatus, register_workflow

pytestmark = pytest.mark.timeout(120)

ITEMS = 12
APP = """
import os, sys, time
from spine.orchestration import Step, Workflow, WorkflowRunner, register_workflow

LOG = os.environ["SPINE_TEST_SIDE_EFFECTS"]

def effect(what):
    with open(LOG, "a") as log:
        log.write(f"{what} {os.getpid()}\\n")

def work(ctx, config):
    effect(ctx.params["item_index"])
    time.sleep(0.3)
    return {"n": ctx.params["item"]}

def after(ctx, config):
    effect("after")
    return {"count": len(ctx.get_output("each")["results"])}

item = Workflow("frozen.item", [Step.lambda_("work", work)])
flow = register_workflow(Workflow("frozen.map", [
    Step.map("each", "items", item, max_concurrency=2),
    Step.lambda_("after", after),
]))

def pause_before_item(index, paused):
    # The lane about to take item `index` stops in its look at the run, after the read,
    # once the other lane is inside item `index - 1` (so that no write is in flight),
    # says so, and waits there for the test to freeze it.
    from spine.orchestration.engine import journal
    from spine.store import SqlStore

    # Every item's look reads the run (none served by the one before): the lane whose
    # look this is must not be another's, nor the other lane in the middle of a write.
    journal.LOOK_SERVES = 0
    cancel_requested = SqlStore.cancel_requested
    done = []

    def look(self, run_id, *args, **kwargs):
        asked = cancel_requested(self, run_id, *args, **kwargs)
        if not done and f"{index - 1} {os.getpid()}" in open(LOG).read().splitlines():
            done.append(True)
            open(paused, "w").close()
            time.sleep(2)
        return asked

    SqlStore.cancel_requested = look

if __name__ == "__main__":
    url, moment = sys.argv[1:3]
    if moment == "before-an-item":
        pause_before_item(3, os.environ["SPINE_TEST_PAUSED"])
    with WorkflowRunner(database_url=url, lease_seconds=3) as runner:
        result = runner.execute(flow, params={"items": list(range(12))})
        print(result.status, result.note or "", flush=True)
"""


def _changes(before: StoredRun, after: StoredRun) -> dict[str, tuple[object, object]]:
    """What differs between two loads of a run: the run row's fields, each step row's."""
    changes = {
        f"run.{name}": (getattr(before.run, name), getattr(after.run, name))
        for name in RunRecord.__slots__
        if getattr(before.run, name) != getattr(after.run, name)
    }
    if len(before.steps) != len(after.steps):
        changes["steps"] = (before.steps, after.steps)
        return changes
    for index, (was, now) in enumerate(zip(before.steps, after.steps, strict=True)):
        for name in StepRecord.__slots__:
            if getattr(was, name) != getattr(now, name):
                changes[f"steps[{index}].{name}"] = (getattr(was, name), getattr(now, name))
    return changes


def _row(stored: StoredRun) -> tuple[object, ...]:
    run = stored.run
    pid = run.owner.pid if run.owner else None
    return (run.item_index, run.status, pid, run.started_at, run.completed_at,
            [(s.step_name, s.status, s.started_at) for s in stored.steps])  # fmt: skip


@pytest.mark.parametrize("moment", ["in-items", "before-an-item"])
def test_a_thawed_map_owner_starts_no_item_and_writes_nothing(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, moment: str
) -> None:
    app = tmp_path / "frozen_map_app.py"
    app.write_text(textwrap.dedent(APP))
    log = tmp_path / "effects.log"
    log.touch()
    paused = tmp_path / "paused"
    monkeypatch.setenv("SPINE_TEST_SIDE_EFFECTS", str(log))  # the recoverer's items too
    env = {**os.environ, "SPINE_TEST_SIDE_EFFECTS": str(log), "SPINE_TEST_PAUSED": str(paused)}
    sys.path.insert(0, str(tmp_path))
    try:
        import frozen_map_app  # the owner's very definition, so that recover accepts it
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("frozen_map_app", None)
    register_workflow(frozen_map_app.flow)
    owner = subprocess.Popen([sys.executable, str(app), database_url, moment], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline = time.time() + 30
        if moment == "in-items":
            # Four items started: both lanes are inside one (a 0.3 s sleep).
            while time.time() < deadline and len(log.read_text().splitlines()) < 4:
                time.sleep(0.005)
        else:
            while time.time() < deadline and not paused.exists():
                time.sleep(0.005)
        owner.send_signal(signal.SIGSTOP)
        frozen_at = len(log.read_text().splitlines())
        time.sleep(3.5)  # past the 3 s lease: the heartbeat stopped with the process
        with WorkflowRunner(database_url=database_url, lease_seconds=3) as recoverer:
            store = recoverer.store
            assert store is not None
            [run] = store.list_runs(workflow="frozen.map")
            at_freeze = {
                r.item_index: r.status
                for r in store.list_runs(parent=run.run_id, top_level=False, limit=100)
            }
            [result] = recoverer.recover()
            assert (result.run_id, result.status) == (run.run_id, WorkflowStatus.COMPLETED)
            before = store.load_run(run.run_id)
            items_before = {
                r.run_id: store.load_run(r.run_id)
                for r in store.list_runs(parent=run.run_id, top_level=False, limit=100)
            }
            owner.send_signal(signal.SIGCONT)
            out, err = owner.communicate(timeout=30)
            after = store.load_run(run.run_id)
            items_after = {
                r.run_id: store.load_run(r.run_id)
                for r in store.list_runs(parent=run.run_id, top_level=False, limit=100)
            }
    finally:
        if owner.poll() is None:
            owner.send_signal(signal.SIGCONT)
            owner.kill()
            owner.communicate()

    lines = [line.split() for line in log.read_text().splitlines()]
    by_owner = [what for what, pid in lines if int(pid) == owner.pid]
    context = {"owner": owner.pid, "frozen_at": frozen_at, "at_freeze": at_freeze,
               "effects": lines, "stdout": out, "stderr": err[-3000:]}  # fmt: skip
    assert out.split()[0] == "RUNNING", context
    assert "another process took the run over" in out, context
    # Nothing started after the thaw.
    assert len(by_owner) == frozen_at, context
    # The thawed owner changed no stored row: the run's, its steps', the items' runs and
    # their steps' (and added none).
    assert _changes(before, after) == {}, context
    added = [_row(items_after[i]) for i in items_after.keys() - items_before.keys()]
    assert added == [], context
    changed = {i: _changes(items_before[i], items_after[i]) for i in items_before}
    assert {i: c for i, c in changed.items() if c} == {}, context
    # The run completed, with every item's result once, in order.
    assert after.run.status == WorkflowStatus.COMPLETED
    assert [s.step_name for s in after.steps] == ["each", "after"]
    each = after.steps[0].output
    assert [r["work"]["n"] for r in each["results"]] == list(range(ITEMS)), each
    assert after.steps[1].output == {"count": ITEMS}
    assert sorted(r.run.item_index for r in items_after.values()) == list(range(ITEMS))
    assert {r.run.status for r in items_after.values()} == {WorkflowStatus.COMPLETED}
    # Each item executed once, but for those in flight at the freeze (started by the
    # owner, not completed), which ran again; at most two at once (max_concurrency).
    executions = Counter(what for what, _ in lines)
    assert set(executions) == {str(i) for i in range(ITEMS)} | {"after"}
    twice = {int(what) for what, count in executions.items() if count > 1}
    completed = {i for i, status in at_freeze.items() if status == WorkflowStatus.COMPLETED}
    in_flight = {int(what) for what in by_owner} - completed
    assert twice <= in_flight, context
    assert max(executions.values()) <= 2, executions
    assert len(in_flight) <= 2, context
