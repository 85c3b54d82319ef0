"""What the pages draw, as JSON the browser hands to the pinned libraries under
``static/vendor`` (see ``static/spine.js``): a workflow's graph of boxes and arrows
(cytoscape, laid out by dagre), on a run's page coloured by each step's status with the
path taken, and the data of the charts (Chart.js): a run's timeline, a workflow's
durations and quality.

A run's graph is its workflow's when this process knows the workflow at the run's
version; else it is drawn from the run's step rows, each of which names the step the
flow went to next: the path taken, and nothing of the branches not taken.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from spine.commands import InFlight
from spine.core.records import StepRecord
from spine.core.status import StepStatus
from spine.orchestration import Workflow
from spine.orchestration.graph import boxes_and_arrows

GRAPH_LIMIT = 300
"""Most boxes a page draws: past that a layout in the browser takes seconds."""


def attempt_status(step: StepRecord) -> str:
    """A step attempt's status as the pages show it: a failed try that was retried is
    ``RETRIED``."""
    return "RETRIED" if step.will_retry else step.status


def run_graph(
    steps: Sequence[StepRecord],
    live: InFlight | None,
    workflow: Workflow | None,
    items: Mapping[str, Mapping[str, int]] | None = None,
) -> dict[str, Any] | None:
    """The run's graph: each box with its latest status (``PENDING``: not reached), how
    often the run executed it and, for a map step, how many of its items (``items``:
    step name -> count by status) ended how; each arrow with whether the run went along
    it. ``None`` past :data:`GRAPH_LIMIT` boxes."""
    status: dict[str, str] = {}
    visits: dict[str, int] = {}
    kinds: dict[str, str] = {}
    taken: set[tuple[str, str]] = set()
    for step in steps:
        status[step.step_name] = attempt_status(step)
        kinds[step.step_name] = step.step_type
        if step.attempt == 1:
            visits[step.step_name] = visits.get(step.step_name, 0) + 1
        if step.next_step is not None and not step.will_retry:
            taken.add((step.step_name, step.next_step))
    if live is not None:
        status[live.step_name] = StepStatus.RUNNING.value
        visits.setdefault(live.step_name, 1)
    if workflow is not None:
        drawn = boxes_and_arrows(workflow)
    else:
        names = list(dict.fromkeys([*status, *(b for _, b in taken)]))
        drawn = {
            "nodes": [{"id": n, "label": n, "kind": kinds.get(n, "")} for n in names],
            "edges": [{"source": a, "target": b, "label": ""} for a, b in sorted(taken)],
        }
    if len(drawn["nodes"]) > GRAPH_LIMIT:
        return None
    nodes = [{**node, "status": status.get(node["id"], "PENDING"),
              "label": "\n".join([node["label"], *notes(node["id"], visits, items or {})])}
             for node in drawn["nodes"]]  # fmt: skip
    edges = [{**e, "taken": (e["source"], e["target"]) in taken} for e in drawn["edges"]]
    return {"nodes": nodes, "edges": edges, "from_rows": workflow is None, "coloured": True}


def notes(
    name: str, visits: Mapping[str, int], items: Mapping[str, Mapping[str, int]]
) -> list[str]:
    """What a run's box says below its step: how often the run went through it, when
    more than once, and how its map items ended."""
    said = [f"{visits[name]} times"] if visits.get(name, 0) > 1 else []
    counts = items.get(name)
    if counts:
        ended = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
        said.append(f"{sum(counts.values())} items: {ended}")
    return said


def workflow_graph(workflow: Workflow) -> dict[str, Any] | None:
    """A workflow's graph, nothing coloured; ``None`` past :data:`GRAPH_LIMIT` boxes."""
    drawn = boxes_and_arrows(workflow)
    if len(drawn["nodes"]) > GRAPH_LIMIT:
        return None
    return {**drawn, "from_rows": False, "coloured": False}


def timeline(
    steps: Sequence[StepRecord], started_at: float, live: InFlight | None, now: float
) -> list[dict[str, Any]]:
    """One bar per step attempt (and the one in flight, up to ``now``): its start and
    end in seconds since the run started."""
    bars = [
        {
            "label": f"{s.step_order}. {s.step_name} #{s.attempt}",
            "status": attempt_status(s),
            "start": s.started_at - started_at,
            "end": s.completed_at - started_at,
        }
        for s in steps
    ]
    if live is not None and live.started_at is not None:
        bars.append({"label": f"{live.step_order}. {live.step_name} #{live.attempt}",
                     "status": StepStatus.RUNNING.value,
                     "start": live.started_at - started_at, "end": now - started_at})  # fmt: skip
    return bars
