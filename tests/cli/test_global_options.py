"""``--db`` after the subcommand as well as before it, on every command; a given SQLite
file's directory must exist; ``--app MODULE`` and ``module:name`` targets import from the
working directory, with no ``PYTHONPATH``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from click.testing import CliRunner

from cli_runner import every_command
from spine.cli.main import cli
from spine.orchestration import WorkflowRunner
from spine.store import open_store

MODULE = """
from spine.orchestration import Step, Workflow, register_workflow

flow = register_workflow(Workflow("cwd.flow", [Step.lambda_("a", lambda c, k: {"n": 1})]))
"""


def test_every_command_takes_db() -> None:
    for path, command in every_command():
        flags = [flag for param in command.params for flag in getattr(param, "opts", [])]
        assert "--db" in flags, path


def test_db_after_the_subcommand_wins(tmp_path: Path) -> None:
    """After the subcommand, before it or from the environment: the nearest to the
    command is used (as the environment is overridden by the option)."""
    wanted, decoy = f"sqlite:///{tmp_path / 'wanted.db'}", f"sqlite:///{tmp_path / 'decoy.db'}"
    flows = tmp_path / "dbflows.py"
    flows.write_text(textwrap.dedent(MODULE))
    runner = CliRunner(env={"SPINE_DATABASE_URL": decoy})
    done = runner.invoke(cli, ["--db", decoy, "run", f"{flows}:flow", "--db", wanted, "--json"])
    assert done.exit_code == 0, done.output
    run_id = json.loads(done.stdout)["run_id"]
    for args in (["runs", "--json"], ["show", run_id, "--json"], ["db", "upgrade"],
                 ["schedule", "list", "--json"], ["schedule", "--db", wanted, "list", "--json"],
                 ["logs", run_id], ["partitions", "cwd.flow", "--json"]):  # fmt: skip
        shown = runner.invoke(cli, [*args[:-1], "--db", wanted, args[-1]])
        assert shown.exit_code == 0, (args, shown.output)
        assert "decoy" not in shown.stdout
    assert json.loads(runner.invoke(cli, ["runs", "--db", wanted, "--json"]).stdout)[0][
        "run_id"] == run_id  # fmt: skip
    assert json.loads(runner.invoke(cli, ["runs", "--json"]).stdout) == []  # the decoy's


def test_a_missing_sqlite_directory_is_refused_and_not_made(tmp_path: Path) -> None:
    missing = tmp_path / "typo" / "history.db"
    for args in (
        ["--db", f"sqlite:///{missing}", "runs"],
        ["runs", "--db", f"sqlite:///{missing}"],
    ):
        done = CliRunner().invoke(cli, args)
        assert done.exit_code == 2
        assert f"the directory {missing.parent} does not exist" in done.stderr
        assert "Traceback" not in done.stderr
    done = CliRunner(env={"SPINE_DATABASE_URL": f"sqlite:///{missing}"}).invoke(cli, ["runs"])
    assert done.exit_code == 2
    assert not missing.parent.exists()


def test_the_default_directory_is_made(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home)}
    env.pop("SPINE_DATABASE_URL", None)
    done = subprocess.run([sys.executable, "-m", "spine.cli.main", "runs", "--json"],
                          capture_output=True, text=True, env=env, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (home / ".spine" / "spine.db").is_file()


def _spine_without_cwd_on_path(cwd: Path, *args: str) -> subprocess.Popen[str]:
    """The `spine` command as its installed script runs it: `-P` keeps the working
    directory off sys.path, as the script's own folder comes first there instead."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-P", "-m", "spine.cli.main", *args], cwd=cwd,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip


def test_worker_app_imports_from_the_working_directory(sqlite_url: str, tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "cwd_flows.py").write_text(textwrap.dedent(MODULE))
    sys.path.insert(0, str(project))
    try:
        from cwd_flows import flow  # type: ignore[import-not-found]

        with WorkflowRunner(database_url=sqlite_url) as runner:
            run_id = runner.submit(flow)
    finally:
        sys.path.remove(str(project))
        sys.modules.pop("cwd_flows", None)
    # The contract's form: --db after the subcommand.
    worker = _spine_without_cwd_on_path(
        project, "worker", "--db", sqlite_url, "--app", "cwd_flows", "--poll", "0.05"
    )
    assert worker.stdout is not None
    try:
        assert "worker" in worker.stdout.readline()
        assert worker.stdout.readline().strip() == f"{run_id} cwd.flow: COMPLETED"
    finally:
        worker.send_signal(signal.SIGTERM)
        _, err = worker.communicate(timeout=30)
    assert worker.returncode == 0, err


def test_module_targets_import_from_the_working_directory(sqlite_url: str, tmp_path: Path) -> None:
    (tmp_path / "cwd_flows.py").write_text(textwrap.dedent(MODULE))
    for args in (["run", "cwd_flows:flow", "--json"], ["recover", "--app", "cwd_flows"],
                 ["schedule", "add", "s", "--workflow", "cwd.flow", "--cron", "@daily",
                  "--app", "cwd_flows"]):  # fmt: skip
        done = _spine_without_cwd_on_path(tmp_path, *args, "--db", sqlite_url)
        _, err = done.communicate(timeout=60)
        assert done.returncode == 0, (args, err)
        assert "warning" not in err
    store = open_store(sqlite_url)
    try:
        assert [r.workflow_name for r in store.list_runs()] == ["cwd.flow"]
    finally:
        store.close()
