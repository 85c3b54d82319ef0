"""``spine resume --queue``: the same hand-back to the queue as the API's resume."""

from __future__ import annotations

from click.testing import CliRunner

from spine.cli.main import cli
from spine.orchestration import Step, StepResult, Workflow, WorkflowRunner, WorkflowStatus
from spine.store import open_store


def test_resume_queue_hands_a_failed_run_to_the_workers(sqlite_url: str) -> None:
    failing = Workflow("cli.requeue", [Step.lambda_("boom", lambda c, k: StepResult.fail("no"))])
    with WorkflowRunner(database_url=sqlite_url) as runner:
        run_id = runner.execute(failing).run_id
    queued = CliRunner().invoke(cli, ["--db", sqlite_url, "resume", "--queue", run_id])
    assert queued.exit_code == 0, queued.output
    assert "PENDING" in queued.stdout
    store = open_store(sqlite_url)
    try:
        assert store.load_run(run_id).run.status == WorkflowStatus.PENDING
    finally:
        store.close()
    again = CliRunner().invoke(cli, ["--db", sqlite_url, "resume", "--queue", run_id])
    assert again.exit_code == 1
    assert "only a FAILED or CANCELLED run" in again.stderr
