"""Every Python block in README.md and docs/ runs as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def _blocks() -> list[tuple[str, str]]:
    found = []
    for path in DOCS:
        for number, code in enumerate(BLOCK.findall(path.read_text()), start=1):
            found.append((f"{path.name}#{number}", code))
    return found


@pytest.mark.parametrize(("where", "code"), _blocks(), ids=[w for w, _ in _blocks()])
def test_doc_block_runs(where: str, code: str) -> None:
    if "set_tracer_provider" in code:
        # A provider set is set for good in a process: such a block gets its own.
        done = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
        assert done.returncode == 0, done.stderr
        return
    # The blocks carry their own asserts; any failure raises out of exec.
    exec(compile(code, where, "exec"), {"__name__": f"doc_{where}"})


def test_the_blocks_are_found() -> None:
    # Guards the extraction itself: a broken pattern would silently test nothing.
    assert len(_blocks()) >= 7
