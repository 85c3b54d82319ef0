"""A map whose items are stored in batches, SIGKILLed in the middle: resumed, it runs
again only the items whose rows were not written, and every item ends recorded once.

A real subprocess runs a map of 1,200 quick items (two lanes, each item a line in a
side-effect file as it runs). The test kills it once some batches are in and others
are not, reads what was committed (the rows are the truth), resumes the run here, and
checks: an item whose row was committed before the kill ran exactly once; an item that
ran but was not committed ran again (at least once: its line appears twice at most);
every item has exactly one run row and one step row, ``COMPLETED``; the map's output
lists every item's result, in order."""

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

from spine.core.status import WorkflowStatus
from spine.orchestration import WorkflowRunner, register_workflow
from spine.store import SqlStore

pytestmark = pytest.mark.timeout(120)

ITEMS = 1200
APP = """
import os, sys, time
from spine.orchestration import Step, Workflow, WorkflowRunner, register_workflow

LOG = os.environ["SPINE_TEST_SIDE_EFFECTS"]

def work(ctx, config):
    with open(LOG, "a") as log:
        log.write(f"{ctx.params['item_index']} {os.getpid()}\\n")
    time.sleep(0.002)
    return {"n": ctx.params["item"] * 2}

item = Workflow("batched.item", [Step.lambda_("work", work)])
flow = register_workflow(Workflow("batched.map", [
    Step.map("each", "items", item, max_concurrency=2),
]))

if __name__ == "__main__":
    with WorkflowRunner(database_url=sys.argv[1]) as runner:
        runner.execute(flow, params={"items": list(range(int(sys.argv[2])))})
"""


def _committed(store: SqlStore, run_id: str) -> dict[int, str]:
    return {
        r.item_index: r.status
        for r in store.list_runs(parent=run_id, top_level=False, limit=ITEMS * 2)
        if r.item_index is not None
    }


def test_a_map_killed_between_batches_reruns_only_the_unwritten_items(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = tmp_path / "batched_map_app.py"
    app.write_text(textwrap.dedent(APP))
    log = tmp_path / "effects.log"
    log.touch()
    monkeypatch.setenv("SPINE_TEST_SIDE_EFFECTS", str(log))  # the resumer's items too
    sys.path.insert(0, str(tmp_path))
    try:
        import batched_map_app  # the very definition, so that resume accepts it
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("batched_map_app", None)
    flow = register_workflow(batched_map_app.flow)

    store = SqlStore(database_url)
    owner = subprocess.Popen([sys.executable, str(app), database_url, str(ITEMS)],
                             env={**os.environ, "SPINE_TEST_SIDE_EFFECTS": str(log)})  # fmt: skip
    try:
        # Killed once a batch or more is in, while items still run.
        deadline = time.monotonic() + 60
        run_id = None
        while time.monotonic() < deadline:
            runs = store.list_runs(workflow="batched.map")
            if runs:
                run_id = runs[0].run_id
                if len(_committed(store, run_id)) >= 300:
                    break
            time.sleep(0.01)
        owner.send_signal(signal.SIGKILL)
        owner.wait(10)
        assert run_id is not None
        at_kill = _committed(store, run_id)
        ran_before = Counter(int(line.split()[0]) for line in log.read_text().splitlines())
        assert 300 <= len(at_kill) < ITEMS, "the kill did not land in the middle of the map"
        assert set(at_kill.values()) == {WorkflowStatus.COMPLETED}

        with WorkflowRunner(database_url=database_url, lease_seconds=1) as resumer:
            result = resumer.resume(run_id, flow)
    finally:
        if owner.poll() is None:
            owner.kill()
        store.close()

    assert result.status == WorkflowStatus.COMPLETED, result.error
    runs_of = Counter(int(line.split()[0]) for line in log.read_text().splitlines())
    # Written before the kill: never run again.
    assert {i: runs_of[i] for i in at_kill if runs_of[i] != 1} == {}
    # Not written: run again once (if it had run) or for the first time.
    assert set(runs_of) == set(range(ITEMS))
    unwritten = set(range(ITEMS)) - set(at_kill)
    assert {i: runs_of[i] for i in unwritten if runs_of[i] != ran_before[i] + 1} == {}
    # Some ran before the kill without their row: at least once, never lost.
    assert any(ran_before[i] for i in unwritten)

    with SqlStore(database_url) as store:
        items = store.list_runs(parent=run_id, top_level=False, limit=ITEMS * 2)
        assert sorted(r.item_index for r in items) == list(range(ITEMS))  # one row each
        assert {r.status for r in items} == {WorkflowStatus.COMPLETED}
        counts = store.step_counts([r.run_id for r in items])
        assert set(counts.values()) == {(1, 0)}
        assert store.item_counts(run_id, "each#0") == {WorkflowStatus.COMPLETED: ITEMS}
        each = store.load_run(run_id).steps[-1].output
    assert [r["work"]["n"] for r in each["results"]] == [2 * i for i in range(ITEMS)]
