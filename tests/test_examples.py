"""The shipped example is the spec's Complete Example, verbatim, and runs both ways."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "finra_weekly_refresh.py"
SPEC = ROOT.parent / "shared" / "spec" / "orchestration-v2.md"


def _run(script: Path, rows: int | None = None, database_url: str | None = None) -> str:
    env = {**os.environ}
    env.pop("SPINE_DATABASE_URL", None)
    if database_url is not None:
        env["SPINE_DATABASE_URL"] = database_url
    if rows is not None:
        env["SPINE_DEMO_ROWS"] = str(rows)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, check=True
    )
    return done.stdout


@pytest.mark.skipif(not SPEC.exists(), reason=f"spec not found at {SPEC}")
def test_example_contains_the_spec_complete_example_verbatim() -> None:
    """The spec's definitions as written, and its Execute block as written under the
    `__main__` guard: importing the file defines the workflow and runs nothing."""
    spec = SPEC.read_text()
    section = spec[spec.index("## Complete Example") :]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None
    definitions, execute = match.group(1).split("# Execute\n")
    example = EXAMPLE.read_text()
    assert definitions in example
    guarded = 'if __name__ == "__main__":\n' + textwrap.indent("# Execute\n" + execute, "    ")
    assert guarded in example


def test_example_happy_path() -> None:
    out = _run(EXAMPLE, rows=5000)
    assert "Status: COMPLETED" in out
    assert "Completed: ['ingest', 'validate', 'route', 'normalize']" in out


def test_example_quality_gate_stops_the_run() -> None:
    out = _run(EXAMPLE, rows=5)
    assert "Status: FAILED" in out
    assert "Completed: ['ingest']" in out


def test_demo_shows_both_runs_from_the_history(sqlite_url: str) -> None:
    out = _run(ROOT / "examples" / "demo.py", database_url=sqlite_url)
    assert f"History: {sqlite_url}" in out
    assert "$ spine runs" in out
    assert "$ spine show" in out
    assert "stopped at validate: Only 5 records, need 100" in out
    assert re.search(r"normalize\s+│\s+pipeline\s+│\s+1\s+│\s+COMPLETED", out)
