"""``make demo``: the spec's Complete Example on both paths, with durable history.

The runs are recorded in the embedded SQLite default (``~/.spine/spine.db``) unless
``SPINE_DATABASE_URL`` names another database; the tables below are read back from it.
"""

from __future__ import annotations

import os
import runpy
from pathlib import Path

from spine.orchestration import WorkflowResult
from spine.orchestration.history import StoredRun
from spine.store import default_url, open_store

EXAMPLE = Path(__file__).with_name("finra_weekly_refresh.py")


def run_example(rows: int) -> WorkflowResult:
    os.environ["SPINE_DEMO_ROWS"] = str(rows)
    namespace = runpy.run_path(str(EXAMPLE), run_name="finra_weekly_refresh")
    result: WorkflowResult = namespace["result"]
    namespace["runner"].close()
    return result


def summarise(value: object, width: int = 60) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def show(title: str, stored: StoredRun) -> None:
    run = stored.run
    duration = (run.completed_at or run.started_at) - run.started_at
    print(f"\n{title}")
    print(f"  run {run.run_id}  workflow {run.workflow_name}")
    print(f"  status {run.status}  in {duration * 1000:.2f} ms")
    header = f"  {'step':<10} {'type':<9} {'status':<10} {'try':>3} {'ms':>8}  detail"
    print(header)
    print("  " + "-" * (len(header) - 2))
    for step in stored.steps:
        detail = step.error if step.error else summarise(step.output)
        quality = step.quality
        if quality is not None:
            verdict = "passed" if quality["passed"] else "FAILED"
            detail = (
                f"quality {verdict}: {quality['valid_count']}/{quality['record_count']} "
                f"valid - {detail}"
            )
        ms = (step.completed_at - step.started_at) * 1000
        print(
            f"  {step.step_name:<10} {step.step_type:<9} {step.status:<10} {step.attempt:>3} "
            f"{ms:>8.3f}  {summarise(detail)}"
        )
    if run.error_step:
        print(f"  stopped at '{run.error_step}': {run.error}")


def main() -> None:
    url = os.environ.setdefault("SPINE_DATABASE_URL", default_url())
    print(f"History: {url}")
    print("\n== 5,000 rows: the quality gate passes, 'normalize' runs ==")
    happy = run_example(5000)
    print("\n== 5 rows: the quality gate in 'validate' stops the run ==")
    gated = run_example(5)
    store = open_store(url)
    try:
        show("Run 1 (5,000 rows), as stored", store.load_run(happy.run_id))
        show("Run 2 (5 rows), as stored", store.load_run(gated.run_id))
    finally:
        store.close()
    print(
        f"\nResume the failed run with WorkflowRunner(database_url={url!r})"
        f".resume({gated.run_id!r}, workflow)"
    )
    print("The example: examples/finra_weekly_refresh.py; the guide: docs/guide.md")


if __name__ == "__main__":
    main()
