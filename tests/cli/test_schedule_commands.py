"""``spine schedule``, driven as users drive it (click's runner), and how scheduled runs show
in ``spine runs`` and ``spine show``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli_runner import spine
from spine.orchestration import Step, Workflow, WorkflowRunner, register_workflow
from spine.orchestration.schedules import Scheduler
from spine.store import open_schedules


def test_add_list_pause_resume_and_delete(sqlite_url: str, tmp_path: Path) -> None:
    params = tmp_path / "params.json"
    params.write_text('{"tables": ["a"], "day": "x"}')
    options = ["--cron", "0 6 * * MON", "--tz", "Europe/London", "--params-file", str(params),
               "-p", "day=3", "--misfire", "skip", "--max-instances", "2"]  # fmt: skip
    code, out, _ = spine(sqlite_url, "schedule", "add", "weekly", "--workflow", "etl.weekly",
                         *options)  # fmt: skip
    assert code == 0
    assert out.startswith("schedule weekly: etl.weekly at '0 6 * * MON' (Europe/London); next fire")
    spine(sqlite_url, "schedule", "add", "hourly", "--workflow", "etl.hourly", "--cron", "@hourly",
          "--paused")  # fmt: skip

    code, out, _ = spine(sqlite_url, "schedule", "list", "--json")
    listed = {s["name"]: s for s in json.loads(out)}
    assert list(listed) == ["hourly", "weekly"]
    weekly = listed["weekly"]
    assert weekly["params"] == {"tables": ["a"], "day": 3}
    assert (weekly["misfire"], weekly["max_instances"], weekly["paused"]) == ("skip", 2, False)
    assert weekly["next_fire_local"][10:19] == "T06:00:00"  # in London, summer or winter
    assert listed["hourly"]["paused"] is True
    assert listed["hourly"]["next_fire_at"] is None

    code, out, _ = spine(sqlite_url, "schedule", "list")
    assert code == 0
    assert "2 schedules" in out
    assert "Europe/London" in out

    assert spine(sqlite_url, "schedule", "pause", "weekly")[1] == "schedule weekly: paused\n"
    code, out, _ = spine(sqlite_url, "schedule", "resume", "hourly")
    assert out.startswith("schedule hourly: next fire ")
    assert spine(sqlite_url, "schedule", "delete", "weekly")[1] == "schedule weekly: deleted\n"
    code, out, _ = spine(sqlite_url, "schedule", "list", "--json")
    assert [(s["name"], s["paused"]) for s in json.loads(out)] == [("hourly", False)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["add", "s", "--workflow", "w", "--cron", "61 * * * *"], "cron '61 * * * *'"),
        (["add", "s", "--workflow", "w", "--cron", "0 0 30 2 *"], "matches no date after"),
        (["add", "s", "--workflow", "w", "--cron", "* * * * *", "--tz", "Moon/Base"],
         "timezone 'Moon/Base'"),
        (["add", "s", "--workflow", "w", "--cron", "* * * * *", "--misfire", "later"],
         "misfire must be one of"),
        (["add", "s", "--workflow", "w", "--cron", "* * * * *", "--max-instances", "0"],
         "max_instances must be"),
        (["add", "s", "--workflow", "w", "--cron", "* * * * *",
          "--max-instances", "99999999999999999999"],
         "schedule 's': max_instances must be an integer from 1 to 2147483647"),
        (["add", "s", "--workflow", "w", "--cron", "* * * * *", "--misfire-grace", "inf"],
         "schedule 's': misfire_grace_seconds must be a number of seconds from 1"),
        (["add", "s", "--workflow", "w", "--cron", "* * * * *", "--misfire-grace", "1e30"],
         "schedule 's': misfire_grace_seconds must be"),
        (["add", "s", "--workflow", "w", "--cron", "* * * * *", "--misfire-grace", "nan"],
         "schedule 's': misfire_grace_seconds must be"),
        (["add", "s", "--workflow", "w", "--cron", "* * * * *", "-p", "novalue"],
         "expected key=value"),
        (["add", "taken", "--workflow", "w", "--cron", "* * * * *"], "already exists"),
        (["pause", "nothing"], "no schedule 'nothing'"),
        (["resume", "nothing"], "no schedule 'nothing'"),
        (["delete", "nothing"], "no schedule 'nothing'"),
        (["history", "nothing"], "no schedule 'nothing'"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_exit_2(sqlite_url: str, args: list[str], message: str) -> None:
    spine(sqlite_url, "schedule", "add", "taken", "--workflow", "w", "--cron", "0 6 * * *")
    code, _, err = spine(sqlite_url, "schedule", *args)
    assert code == 2
    assert message in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_scheduled_runs_show_their_schedule(sqlite_url: str) -> None:
    flow = register_workflow(Workflow("cli.scheduled", [Step.lambda_("a", lambda c, f: None)]))
    spine(sqlite_url, "schedule", "add", "tick", "--workflow", flow.name, "--cron", "* * * * * *")
    with WorkflowRunner(database_url=sqlite_url) as runner, open_schedules(sqlite_url) as store:
        due = store.get("tick").next_fire_at
        assert due is not None
        [fire] = Scheduler(runner, store).fire_due(now=due)
        runner.run_pending()

    assert "schedule tick" in spine(sqlite_url, "runs")[1]
    assert "triggered by schedule tick" in spine(sqlite_url, "show", str(fire.run_id))[1]

    _, out, _ = spine(sqlite_url, "schedule", "history", "tick", "--json")
    assert [(f["outcome"], f["run_id"]) for f in json.loads(out)] == [("fired", fire.run_id)]
    code, out, _ = spine(sqlite_url, "schedule", "history", "tick")
    assert code == 0
    assert "fired" in out
    assert str(fire.run_id) in out


APP = """
from spine.orchestration import Step, Workflow, register_workflow

register_workflow(Workflow("cli.app.daily", [Step.lambda_("a", lambda ctx, cfg: None)]))
register_workflow(Workflow("cli.app.weekly", [Step.lambda_("a", lambda ctx, cfg: None)]))
"""


def test_add_checks_the_workflow_against_the_apps(sqlite_url: str, tmp_path: Path) -> None:
    app = tmp_path / "cli_app.py"
    app.write_text(APP)
    add = ["schedule", "add", "s", "--cron", "@daily", "--app", str(app)]

    code, out, err = spine(sqlite_url, *add, "--workflow", "cli.app.dialy")

    assert code == 2
    assert out == ""
    assert err.strip().splitlines() == [
        f"Error: schedule 's': workflow 'cli.app.dialy' is not registered by --app {app}; "
        "registered: cli.app.daily, cli.app.weekly"
    ]
    assert json.loads(spine(sqlite_url, "schedule", "list", "--json")[1]) == []  # not stored

    code, out, err = spine(sqlite_url, *add, "--workflow", "cli.app.daily")
    assert code == 0
    assert out.startswith("schedule s: cli.app.daily at '@daily' (UTC); next fire ")
    assert err == ""


def test_add_refuses_an_unknown_workflow_when_workflows_are_registered(sqlite_url: str) -> None:
    register_workflow(Workflow("cli.known", [Step.lambda_("a", lambda c, f: None)]))

    code, _, err = spine(sqlite_url, "schedule", "add", "s", "--workflow", "cli.knwon",
                         "--cron", "@daily")  # fmt: skip

    assert code == 2
    assert "workflow 'cli.knwon' is not registered here; registered: cli.known" in err
    assert len(err.strip().splitlines()) == 1


def test_add_without_an_app_warns_that_the_name_was_not_checked(sqlite_url: str) -> None:
    code, out, err = spine(sqlite_url, "schedule", "add", "s", "--workflow", "etl.anything",
                           "--cron", "@daily")  # fmt: skip

    assert code == 0
    assert out.startswith("schedule s: etl.anything at '@daily'")
    assert err.strip().splitlines() == [
        "warning: schedule s: workflow 'etl.anything' could not be checked (give --app "
        "MODULE); workers that do not know it leave it unfired"
    ]


def test_an_app_that_cannot_be_imported_is_a_usage_error(sqlite_url: str) -> None:
    code, _, err = spine(sqlite_url, "schedule", "add", "s", "--workflow", "w", "--cron",
                         "@daily", "--app", "no_such_module_for_spine")  # fmt: skip

    assert code == 2
    assert "--app no_such_module_for_spine: cannot import it" in err
    assert len(err.strip().splitlines()) == 1
