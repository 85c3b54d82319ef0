"""``make demo``: the spec's Complete Example on both paths, then its history.

The runs are recorded in the embedded SQLite default (``~/.spine/spine.db``) unless
``SPINE_DATABASE_URL`` names another database; the history is shown with the
``spine`` command, as a user would look at it.
"""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
from pathlib import Path

from spine.orchestration import WorkflowResult
from spine.store import default_url

EXAMPLE = Path(__file__).with_name("finra_weekly_refresh.py")


def run_example(rows: int) -> WorkflowResult:
    os.environ["SPINE_DEMO_ROWS"] = str(rows)
    namespace = runpy.run_path(str(EXAMPLE), run_name="__main__")
    result: WorkflowResult = namespace["result"]
    namespace["runner"].close()
    return result


def spine(*args: str) -> None:
    print(f"\n$ spine {' '.join(args)}", flush=True)
    subprocess.run([sys.executable, "-m", "spine.cli.main", *args], check=False)


def main() -> None:
    url = os.environ.setdefault("SPINE_DATABASE_URL", default_url())
    print(f"History: {url}")
    print("\n== 5,000 rows: the quality gate passes, 'normalize' runs ==")
    happy = run_example(5000)
    print("\n== 5 rows: the quality gate in 'validate' stops the run ==")
    gated = run_example(5)
    spine("runs", "--workflow", "finra.weekly_refresh", "--limit", "4")
    spine("show", happy.run_id)
    spine("show", gated.run_id)
    print(
        "\nAll runs: .venv/bin/spine runs    One run: .venv/bin/spine show RUN_ID"
        "\nThe web UI: .venv/bin/spine ui, then open http://127.0.0.1:8265"
        "\nThe guide: docs/guide.md"
    )


if __name__ == "__main__":
    main()
