"""Run ids by any unique prefix, as git takes commits: ``show``, ``logs``, ``resume``,
``fork``, ``cancel`` and ``signal``; an ambiguous prefix names its runs."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from cli_runner import spine
from spine.orchestration import (
    Step,
    StepResult,
    Workflow,
    WorkflowContext,
    WorkflowRunner,
    register_workflow,
)
from spine.store import open_store

FLOW = """
from pathlib import Path
from spine.orchestration import Step, StepResult, Workflow

FAIL = Path(__file__).with_name("fail")

def check(ctx, config):
    print("checking")
    return StepResult.fail("not yet") if FAIL.exists() else {"ok": True}

flow = Workflow("ids.flow", [Step.lambda_("load", lambda c, k: {"n": 1}),
                             Step.lambda_("check", check)])
"""


def test_a_prefix_names_its_run_in_every_command(sqlite_url: str, tmp_path: Path) -> None:
    flows = tmp_path / "idflows.py"
    flows.write_text(textwrap.dedent(FLOW))
    (tmp_path / "fail").touch()
    code, out, _ = spine(sqlite_url, "run", f"{flows}:flow", "--json")
    assert code == 1
    run_id = json.loads(out)["run_id"]
    # Ids start with their time: a prefix that reaches the random part names one run.
    prefix = run_id[:20]

    code, out, _ = spine(sqlite_url, "show", prefix, "--json")
    assert (code, json.loads(out)["run_id"]) == (0, run_id)
    code, out, _ = spine(sqlite_url, "logs", prefix)
    assert code == 0
    assert "checking" in out
    code, out, _ = spine(sqlite_url, "fork", prefix, "--from", "check", "--json")
    assert code == 1  # (still failing)
    fork = json.loads(spine(sqlite_url, "show", json.loads(out)["run_id"], "--json")[1])
    assert fork["forked_from"] == run_id
    (tmp_path / "fail").unlink()
    code, out, _ = spine(sqlite_url, "resume", prefix, "--json")
    assert (code, json.loads(out)["run_id"], json.loads(out)["status"]) == (0, run_id, "COMPLETED")
    code, _, err = spine(sqlite_url, "signal", prefix, "go")
    assert code == 1
    assert f"run {run_id!r} has ended" in err
    code, out, _ = spine(sqlite_url, "cancel", prefix)
    assert code == 1
    assert out.startswith(f"run {run_id} had already ended (COMPLETED)")


def test_cancel_and_resume_queue_take_a_prefix(sqlite_url: str) -> None:
    flow = register_workflow(
        Workflow("ids.queued", [Step.lambda_("a", lambda c, k: StepResult.fail("no"))])
    )
    with WorkflowRunner(database_url=sqlite_url) as runner:
        pending = runner.submit(flow)
        failed = runner.execute(flow).run_id
    code, out, _ = spine(sqlite_url, "cancel", pending[:20])
    assert code == 0
    assert out == f"run {pending}: CANCELLED now (nothing was executing it)\n"
    code, out, _ = spine(sqlite_url, "resume", "--queue", failed[:20])
    assert code == 0
    assert out.startswith(f"run {failed}: PENDING")


def test_an_ambiguous_prefix_names_runs_and_a_whole_id_wins(database_url: str) -> None:
    flow = Workflow("ids.named", [Step.lambda_("a", lambda c, k: {})])
    with WorkflowRunner(database_url=database_url) as runner:
        for run_id in ("nightly-1", "nightly-10", "nightly-2", "nightly_x"):
            runner.execute(flow, context=WorkflowContext.create("ids.named", run_id=run_id))

    code, _, err = spine(database_url, "show", "nightly-")
    assert code == 2
    assert err.count("\n") == 1
    assert "run id 'nightly-' is ambiguous: it starts nightly-1 (ids.named), nightly-10 " in err
    assert "nightly-2 (ids.named); give more of it" in err
    assert "nightly_x" not in err  # LIKE's wildcard `_` is taken as itself
    # An id that is whole is that run, even when it starts others.
    code, out, _ = spine(database_url, "show", "nightly-1", "--json")
    assert (code, json.loads(out)["run_id"]) == (0, "nightly-1")
    code, out, _ = spine(database_url, "show", "nightly-10", "--json")
    assert (code, json.loads(out)["run_id"]) == (0, "nightly-10")
    code, _, err = spine(database_url, "show", "nightly-3")
    assert code == 2
    assert "no run 'nightly-3'" in err


def test_more_than_five_candidates_are_cut_short(sqlite_url: str) -> None:
    flow = Workflow("ids.many", [Step.lambda_("a", lambda c, k: {})])
    with WorkflowRunner(database_url=sqlite_url) as runner:
        for n in range(7):
            runner.execute(flow, context=WorkflowContext.create("ids.many", run_id=f"batch-{n}"))
    code, _, err = spine(sqlite_url, "logs", "batch")
    assert code == 2
    assert "batch-4 (ids.many) and more; give more of it" in err
    assert "batch-5" not in err


def test_the_prefix_look_up_is_a_range_of_the_primary_key(sqlite_url: str) -> None:
    from sqlalchemy import event

    from spine.store.run_ids import runs_starting

    with WorkflowRunner(database_url=sqlite_url) as runner:
        flow = Workflow("ids.plan", [Step.lambda_("a", lambda c, k: {})])
        for run_id in ("ab%1", "ab%2", "abc", "abd"):
            runner.execute(flow, context=WorkflowContext.create("ids.plan", run_id=run_id))
    store = open_store(sqlite_url)
    seen: list[tuple[str, object]] = []

    def executed(conn: object, cursor: object, sql: str, params: object, *rest: object) -> None:
        seen.append((sql, params))

    event.listen(store.engine, "before_cursor_execute", executed)
    try:
        assert runs_starting(store.database, "ab%", 5) == [("ab%1", "ids.plan"),
                                                           ("ab%2", "ids.plan")]  # fmt: skip
        assert [r for r, _ in runs_starting(store.database, "ab", 3)] == ["ab%1", "ab%2", "abc"]
        [(sql, params)] = [(q, p) for q, p in seen if "core_workflow_runs" in q][-1:]
        with store.engine.connect() as conn:
            plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params).all()  # type: ignore[arg-type]
        # One search of the primary key's index by the range, no scan of the table.
        assert "SEARCH core_workflow_runs USING INDEX sqlite_autoindex_core_workflow_runs_1 " \
               "(run_id>? AND run_id<?)" in str(plan)  # fmt: skip
    finally:
        store.close()
