"""What the ``spine`` command prints reads as its users expect: tables as wide as the
terminal, "1 run" and "2 runs", durations in the unit that fits; and its documentation
lists every command and option it has."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from cli_runner import every_command, spine
from spine.cli.render import duration
from spine.orchestration import Step, StepResult, Workflow, WorkflowRunner, register_workflow

ROOT = Path(__file__).resolve().parents[2]

LONG_ERROR = "ValueError: " + "the upstream file has a malformed header; " * 4


@pytest.fixture
def history(sqlite_url: str) -> tuple[str, list[str]]:
    """Two runs of a workflow with a long name, one failed with a long error; a
    schedule; partitions."""
    flow = register_workflow(Workflow("reporting.finance.quarterly_consolidation", [
        Step.lambda_("load_ledgers", lambda ctx, cfg: {"rows": list(range(40))}),
        Step.lambda_("check", lambda ctx, cfg: StepResult.fail(LONG_ERROR)
                     if ctx.get_param("fail") else {"ok": True}),
    ]))  # fmt: skip
    with WorkflowRunner(database_url=sqlite_url) as runner:
        ids = [runner.execute(flow, params={"fail": fail}, partition={"quarter": f"2026-Q{n}"})
               .run_id for n, fail in ((1, False), (2, True))]  # fmt: skip
    spine(sqlite_url, "schedule", "add", "quarterly", "--workflow", flow.name, "--cron",
          "0 6 1 */3 *", "--tz", "America/Argentina/Buenos_Aires")  # fmt: skip
    return sqlite_url, ids


@pytest.mark.parametrize("columns", [60, 80, 100, 200])
def test_tables_fit_the_terminal(history: tuple[str, list[str]], columns: int) -> None:
    db, ids = history
    for args in (["runs"], ["show", ids[1]], ["schedule", "list"],
                 ["schedule", "history", "quarterly"],
                 ["partitions", "reporting.finance.quarterly_consolidation"]):  # fmt: skip
        code, out, _ = spine(db, *args, columns=columns)
        assert code == 0
        widest = max(len(line) for line in out.splitlines())
        assert widest <= columns, (args, out)
    code, out, _ = spine(db, "runs", columns=columns)
    # Run ids are copied: whole unless the terminal is too narrow for anything else.
    assert all((run_id in out) is (columns >= 80) for run_id in ids), out
    assert "COMPLETED" in out
    left_out = re.search(r"not shown, too narrow: (.*)", out)
    if columns >= 140:
        assert left_out is None
        assert "reporting.finance.quarterly_consolidation" in out
    else:
        assert left_out is not None
        assert "trigger" in left_out.group(1)
        assert "reporting.finance.quarterly_consolidation" not in out
        assert re.search(r"│ reporting\.[a-z.]*… ", out)


def test_a_cut_error_ends_in_an_ellipsis(history: tuple[str, list[str]]) -> None:
    db, ids = history
    code, out, _ = spine(db, "show", ids[1], columns=100)
    assert code == 0
    # The run's own error, above the table, is whole; its step's, in a cell, is cut.
    assert LONG_ERROR.strip() in " ".join(out.split())
    assert re.search(r"│ ValueError: the upstream[^│]*… │", out)


def test_counts_read_naturally(sqlite_url: str, history: tuple[str, list[str]]) -> None:
    db, _ = history
    assert spine(db, "runs", "--limit", "1")[1].startswith("1 run ")
    assert spine(db, "runs")[1].startswith("2 runs ")
    assert spine(db, "schedule", "list")[1].startswith("1 schedule ")
    out = spine(db, "partitions", "reporting.finance.quarterly_consolidation")[1]
    assert out.startswith("reporting.finance.quarterly_consolidation: 2 partitions ")
    one_step = Workflow("plural.one", [Step.lambda_("only", lambda c, k: {})])
    flows = Path(db.removeprefix("sqlite:///")).with_name("one_step.py")
    flows.write_text("from spine.orchestration import Step, Workflow\n"
                     "flow = Workflow('plural.one', [Step.lambda_('only', "
                     "lambda c, k: {})])\n")  # fmt: skip
    assert spine(db, "run", str(flows))[1].splitlines()[0] == f"{one_step.name} (1 step)"
    assert spine(db, "prune", "--older-than", "0s")[1] == "pruned 3 runs\n"


@pytest.mark.parametrize(
    ("seconds", "said"),
    [
        (None, ""), (0.00004, "0.0 ms"), (0.0004, "0.4 ms"), (0.0099, "9.9 ms"),
        (0.035, "35 ms"), (0.9994, "999 ms"), (0.9996, "1.0 s"), (9.9, "9.9 s"),
        (59.9, "59.9 s"), (59.96, "1 min 0 s"), (125, "2 min 5 s"), (3599.4, "59 min 59 s"),
        (3 * 3600 + 600, "3 h 10 min"), (2 * 86400 + 4 * 3600, "2 d 4 h"),
    ],
)  # fmt: skip
def test_durations_read_naturally(seconds: float | None, said: str) -> None:
    assert duration(seconds) == said


def test_a_run_prints_its_duration_in_seconds(sqlite_url: str, tmp_path: Path) -> None:
    flows = tmp_path / "slow.py"
    flows.write_text("import time\nfrom spine.orchestration import Step, Workflow\n"
                     "flow = Workflow('slow', [Step.lambda_('nap', "
                     "lambda c, k: time.sleep(1.2) or {})])\n")  # fmt: skip
    out = spine(sqlite_url, "run", str(flows))[1]
    assert re.search(r"nap\s+lambda\s+COMPLETED\s+1\.\d s", out), out
    assert re.search(r"COMPLETED in 1\.\d s; completed nap", out), out
    run_id = json.loads(spine(sqlite_url, "runs", "--json")[1])[0]["run_id"]
    assert re.search(r"│ 1\.\d s +│", spine(sqlite_url, "runs")[1])
    assert re.search(r"started \S+ +1\.\d s\n", spine(sqlite_url, "show", run_id)[1])


def test_the_guide_lists_every_command_and_option() -> None:
    guide = (ROOT / "docs" / "guide.md").read_text()
    reference = guide[guide.index("## The `spine` command") :]
    reference = reference[: reference.index("\n## ", 1)]
    readme = (ROOT / "README.md").read_text()
    for path, command in every_command():
        assert f"`{path}" in reference, path
        flags = [o for p in command.params for o in getattr(p, "opts", []) if o.startswith("--")]
        for flag in flags:
            assert flag in reference, (path, flag)
        if path.count(" ") == 1:  # the README names every command
            assert re.search(rf"`(spine )?{path.split()[1]}`", readme), path
