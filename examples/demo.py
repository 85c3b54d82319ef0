"""``make demo``: the spec's Complete Example on both paths, shown as tables."""

from __future__ import annotations

import os
import runpy
from pathlib import Path

from spine.orchestration import WorkflowResult

EXAMPLE = Path(__file__).with_name("finra_weekly_refresh.py")


def run_example(rows: int) -> WorkflowResult:
    os.environ["SPINE_DEMO_ROWS"] = str(rows)
    namespace = runpy.run_path(str(EXAMPLE), run_name="finra_weekly_refresh")
    result: WorkflowResult = namespace["result"]
    return result


def summarise(values: object, width: int = 48) -> str:
    text = "" if values is None else str(values)
    return text if len(text) <= width else text[: width - 3] + "..."


def show(title: str, result: WorkflowResult) -> None:
    print(f"\n{title}")
    print(f"  run {result.run_id}  workflow {result.workflow_name}")
    print(f"  status {result.status}  in {result.duration_seconds * 1000:.2f} ms")
    header = f"  {'step':<10} {'type':<9} {'status':<10} {'try':>3} {'ms':>8}  detail"
    print(header)
    print("  " + "-" * (len(header) - 2))
    for e in result.step_executions:
        detail = e.error if e.error else summarise(e.output)
        quality = e.result.quality if e.result is not None else None
        if quality is not None:
            detail = (
                f"quality {'passed' if quality.passed else 'FAILED'}: "
                f"{quality.valid_count}/{quality.record_count} valid - {detail}"
            )
        ms = (e.duration_seconds or 0.0) * 1000
        print(
            f"  {e.step_name:<10} {e.step_type!s:<9} {e.status!s:<10} {e.attempt:>3} "
            f"{ms:>8.3f}  {summarise(detail, 60)}"
        )
    if result.error_step:
        print(f"  stopped at '{result.error_step}': {result.error}")


def main() -> None:
    print("== 5,000 rows: the quality gate passes, 'normalize' runs ==")
    happy = run_example(5000)
    print("\n== 5 rows: the quality gate in 'validate' stops the run ==")
    gated = run_example(5)
    show("Run 1 (5,000 rows)", happy)
    show("Run 2 (5 rows)", gated)
    print("\nThe example: examples/finra_weekly_refresh.py; the guide: docs/guide.md")


if __name__ == "__main__":
    main()
