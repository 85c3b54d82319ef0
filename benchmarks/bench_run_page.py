"""Issue 14's page-load check: the page of a run with 10,000 step attempts, and of a run
with 10,000 map items, rendered on the server in under 300 ms.

Builds both runs in a SQLite file (rows written in one transaction each, as the engine
would have stored them), then times ``GET /runs/{id}`` through the ASGI test client: the
whole server side (the store's reads, the page's data, the template), not the browser.
Prints a Markdown table and writes ``benchmarks/results/run_page.json``.

Run: ``.venv/bin/python benchmarks/bench_run_page.py``.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path

ROWS = 10_000
REPEATS = 15


def build(url: str) -> dict[str, str]:
    """A run of ``ROWS`` step attempts (a loop: ``fetch``/``check`` by turns, every tenth
    attempt a retried failure) and a run whose map step has ``ROWS`` items."""
    from spine.core.records import RunRecord, StepRecord
    from spine.store import open_store
    from spine.store.codec import end_values, new_run_values, step_values
    from spine.store.schema import runs, steps

    store = open_store(url)
    began = time.time() - 3600
    ids = {"steps": "bench-steps", "items": "bench-items"}
    long_run = RunRecord(ids["steps"], "bench.loop", "COMPLETED", began, {"pages": ROWS}, {},
                         completed_at=began + ROWS * 0.01)  # fmt: skip
    mapped = RunRecord(ids["items"], "bench.map", "COMPLETED", began,
                       {"items": list(range(ROWS))}, {}, completed_at=began + 60)  # fmt: skip
    rows = []
    for i in range(ROWS):
        name = "fetch" if i % 2 == 0 else "check"
        retried = i % 10 == 9
        rows.append(step_values(StepRecord(
            ids["steps"], i, 1, name, "lambda", "FAILED" if retried else "COMPLETED",
            began + i * 0.01, began + i * 0.01 + 0.008,
            json.dumps({"page": i, "rows": [{"n": n} for n in range(20)]}), "{}",
            None if i == ROWS - 1 else ("check" if name == "fetch" else "fetch"),
            error="timed out" if retried else None, will_retry=False,
        )))  # fmt: skip
    items = []
    for i in range(ROWS):
        item = RunRecord(f"bench-item-{i:05d}", "bench.item", "COMPLETED", began + i * 0.005,
                         {"item": {"id": i, "name": f"customer {i}"}, "item_index": i}, {},
                         parent_run_id=ids["items"], parent_step="each#0", item_index=i,
                         completed_at=began + i * 0.005 + 0.004)  # fmt: skip
        items.append({**new_run_values(item), **end_values(item)})
    summary = json.dumps({"item_count": ROWS})
    map_row = step_values(StepRecord(ids["items"], 0, 1, "each", "map", "COMPLETED", began,
                                     began + 60, summary, "{}", None))  # fmt: skip
    with store.engine.begin() as conn:
        conn.execute(
            runs.insert(),
            [{**new_run_values(r), **end_values(r)} for r in (long_run, mapped)] + items,
        )
        conn.execute(steps.insert(), [*rows, map_row])
    store.close()
    return ids


def page_times(url: str, ids: dict[str, str]) -> dict[str, dict[str, float]]:
    from fastapi.testclient import TestClient

    from spine.web import create_app

    results = {}
    with TestClient(create_app(url), base_url="http://127.0.0.1") as client:
        for label, run_id in ids.items():
            first = client.get(f"/runs/{run_id}")
            assert first.status_code == 200, first.text
            samples = []
            for _ in range(REPEATS):
                start = time.perf_counter()
                client.get(f"/runs/{run_id}")
                samples.append(time.perf_counter() - start)
            results[label] = {"median_s": statistics.median(samples), "bytes": len(first.content)}
    return results


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        pages = page_times(url, build(url))
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "run_page.json").write_text(json.dumps(pages, indent=2))
    names = {"steps": f"{ROWS:,} step attempts", "items": f"{ROWS:,} map items"}
    lines = ["| run page of a run with | median of 15 (server) | page size | target |",
             "|---|---|---|---|"]  # fmt: skip
    for label, figures in pages.items():
        lines.append(f"| {names[label]} | {figures['median_s'] * 1000:.0f} ms | "
                     f"{figures['bytes'] / 1000:.0f} kB | < 300 ms |")  # fmt: skip
    print("\n".join(lines))


if __name__ == "__main__":
    main()
