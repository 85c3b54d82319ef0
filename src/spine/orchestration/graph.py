"""Drawing a workflow: Mermaid flowchart text, boxes and arrows for the web UI (laid out
in the browser), and a plain-text view for terminals."""

from __future__ import annotations

from spine.orchestration import Step, StepType, Workflow


def successors(workflow: Workflow) -> dict[str, list[tuple[str, str]]]:
    """For each step, where the flow can go next: (label, step name) pairs."""
    steps = workflow.steps
    position = {s.name: i for i, s in enumerate(steps)}
    # Where each choice's branches begin, to keep one branch from walking into another.
    regions: list[tuple[int, int]] = []  # (start of one branch, target it may not enter)
    for step in steps:
        if step.step_type is StepType.CHOICE and step.then_step and step.else_step:
            then_at, else_at = position[step.then_step], position[step.else_step]
            regions.append((then_at, else_at))
            regions.append((else_at, then_at))
    edges: dict[str, list[tuple[str, str]]] = {}
    for i, step in enumerate(steps):
        out: list[tuple[str, str]] = []
        following = steps[i + 1].name if i + 1 < len(steps) else None
        if step.step_type is StepType.CHOICE:
            out.append(("then", step.then_step or ""))
            if step.else_step:
                out.append(("else", step.else_step))
            elif following:
                out.append(("else", following))
        elif step.next:
            out.append(("next", step.next))
        elif following and not _fenced(i, i + 1, regions):
            out.append(("", following))
        edges[step.name] = out
    return edges


def _fenced(here: int, there: int, regions: list[tuple[int, int]]) -> bool:
    # Walking from inside one branch (at or after its first step) into the other's target.
    return any(there == blocked and start <= here for start, blocked in regions)


def label_lines(step: Step) -> list[str]:
    """What a box of ``step`` says: its name, then its kind and what it runs."""
    if step.step_type is StepType.PIPELINE:
        return [step.name, f"pipeline {step.pipeline_name}"]
    if step.step_type is StepType.WAIT:
        return [step.name, f"wait {step.duration_seconds}s"]
    if step.step_type is StepType.MAP:
        inner = step.iterator_workflow.name if step.iterator_workflow else "?"
        return [step.name, f"map over {step.items_path} with {inner}"]
    return [step.name, step.step_type.value]


def boxes_and_arrows(workflow: Workflow) -> dict[str, list[dict[str, str]]]:
    """The workflow as ``nodes`` (``id``: the step's name, ``label``, ``kind``) and
    ``edges`` (``source``, ``target``, ``label``: ``then``/``else``/``next`` or empty),
    JSON-ready for the UI's graph."""
    nodes = [{"id": s.name, "label": "\n".join(label_lines(s)), "kind": s.step_type.value}
             for s in workflow.steps]  # fmt: skip
    names = {s.name for s in workflow.steps}
    edges = [
        {"source": name, "target": target, "label": label}
        for name, out in successors(workflow).items()
        for label, target in out
        if target in names
    ]
    return {"nodes": nodes, "edges": edges}


def _node_id(index: int) -> str:
    return f"s{index}"


def mermaid(workflow: Workflow) -> str:
    """A Mermaid ``flowchart`` of the workflow (paste it into any Mermaid renderer)."""
    ids = {s.name: _node_id(i) for i, s in enumerate(workflow.steps)}
    lines = ["flowchart TD"]
    for step in workflow.steps:
        text = "<br/>".join(label_lines(step)).replace('"', "'")
        if step.step_type is StepType.CHOICE:
            lines.append(f'    {ids[step.name]}{{"{step.name}"}}')
        else:
            lines.append(f'    {ids[step.name]}["{text}"]')
    for name, out in successors(workflow).items():
        for label, target in out:
            if target in ids:
                arrow = f" -- {label} --> " if label else " --> "
                lines.append(f"    {ids[name]}{arrow}{ids[target]}")
    return "\n".join(lines)


def ascii_view(workflow: Workflow) -> str:
    """One line per step with where the flow goes from it."""
    edges = successors(workflow)
    width = max((len(s.name) for s in workflow.steps), default=4)
    lines = [workflow.name]
    for i, step in enumerate(workflow.steps, start=1):
        kind = step.step_type.value
        detail = f" {step.pipeline_name}" if step.step_type is StepType.PIPELINE else ""
        goes = edges[step.name]
        flow = " | ".join(f"{label} -> {t}" if label else f"-> {t}" for label, t in goes) or "end"
        lines.append(f"  {i:>2}. {step.name:<{width}}  {kind + detail:<32} {flow}")
    return "\n".join(lines)
