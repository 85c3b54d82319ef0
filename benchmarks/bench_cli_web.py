"""Issue 4's speed checks: ``spine --help``, a whole ``spine run``, the runs page at 100k runs.

Run: ``.venv/bin/python benchmarks/bench_cli_web.py``. Prints a Markdown table and
writes ``benchmarks/results/cli_web.json``.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

SPINE = [sys.executable, "-m", "spine.cli.main"]
THREE_STEPS = """
from spine.orchestration import Step, Workflow
flow = Workflow("bench.three", [Step.lambda_(n, lambda c, k: {"ok": True}) for n in "abc"])
"""


def wall(command: list[str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def fill(url: str, count: int) -> None:
    """``count`` finished runs over a year, written in one transaction."""
    from spine.store import open_store
    from spine.store.schema import runs

    store = open_store(url)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows = []
    for i in range(count):
        began = start + timedelta(seconds=i * 300)
        rows.append({
            "run_id": str(uuid.uuid4()), "workflow_name": f"bench.flow{i % 20}",
            "status": "FAILED" if i % 17 == 0 else "COMPLETED",
            "started_at": began.isoformat(timespec="microseconds"),
            "completed_at": (began + timedelta(seconds=3)).isoformat(timespec="microseconds"),
            "duration_ms": 3000, "params": "{}", "partition": "{}", "total_steps": 3,
            "completed_steps": 3, "failed_steps": 0, "triggered_by": "manual",
        })  # fmt: skip
    with store.engine.begin() as conn:
        conn.execute(runs.insert(), rows)
    store.close()


def page_times(url: str, repeats: int) -> dict[str, float]:
    from fastapi.testclient import TestClient

    from spine.web import create_app

    results: dict[str, float] = {}
    with TestClient(create_app(url), base_url="http://127.0.0.1") as client:
        for label, params in {
            "all": {},
            "status=FAILED": {"status": "FAILED"},
            "workflow": {"workflow": "bench.flow7"},
            "page 100": {"page": "100"},
        }.items():
            client.get("/", params=params)
            samples = []
            for _ in range(repeats):
                start = time.perf_counter()
                response = client.get("/", params=params)
                samples.append(time.perf_counter() - start)
                assert response.status_code == 200
            results[label] = statistics.median(samples)
    return results


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        flow = Path(tmp) / "three.py"
        flow.write_text(THREE_STEPS)
        url = f"sqlite:///{tmp}/bench.db"
        help_s = wall([*SPINE, "--help"], 10)
        run_s = wall([*SPINE, "--db", url, "run", f"{flow}:flow"], 5)
        fill(url, 100_000)
        pages = page_times(url, 10)
    figures: dict[str, Any] = {"help_s": help_s, "run_s": run_s, "pages_s": pages}
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "cli_web.json").write_text(json.dumps(figures, indent=2))
    lines = ["| check | median | target |", "|---|---|---|"]
    lines.append(f"| `spine --help`, whole process | {help_s * 1000:.0f} ms | < 300 ms |")
    lines.append(f"| `spine run` of a 3-step workflow with history, whole process | "
                 f"{run_s * 1000:.0f} ms | < 1 s |")  # fmt: skip
    for label, seconds in pages.items():
        lines.append(f"| runs page, 100,000 runs, {label} | {seconds * 1000:.1f} ms | < 200 ms |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
