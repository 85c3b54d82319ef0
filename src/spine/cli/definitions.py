"""Commands about a workflow's definition, not its runs: ``spine validate`` and
``spine graph``."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

import click

from spine.cli.errors import UsageProblem

if TYPE_CHECKING:
    from spine.orchestration import Workflow


@click.command()
@click.argument("target")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
def validate(target: str, as_json: bool) -> None:
    """Check the workflow TARGET (flow.yaml, path/to/file.py:name or package.module:name)
    without running it: exit 0 if it is valid, else 2 with every problem, one per line."""
    from spine.cli.loading import load_workflow
    from spine.cli.render import print_json
    from spine.core.errors import WorkflowDefinitionError

    try:
        workflow, _ = load_workflow(target)
    except WorkflowDefinitionError as exc:
        if as_json:
            print_json({"valid": False, "problems": exc.problems})
        else:
            for problem in exc.problems:
                click.echo(problem, err=True)
        sys.exit(UsageProblem.exit_code)
    unregistered = [
        {"step": step, "pipeline": name} for step, name in _unregistered_pipelines(workflow)
    ]
    if as_json:
        print_json({"valid": True, "workflow": workflow.name, "version": workflow.version,
                    "steps": [s.to_dict() for s in workflow.steps],
                    "unregistered_pipelines": unregistered})  # fmt: skip
        return
    for entry in unregistered:
        click.echo(
            f"note: step {entry['step']!r}: pipeline {entry['pipeline']!r} is not registered "
            "here; it is looked up when the step runs",
            err=True,
        )
    steps = ", ".join(f"{s.name} ({s.step_type})" for s in workflow.steps)
    click.echo(f"{target}: OK: workflow {workflow.name!r} version {workflow.version}: {steps}")


def _unregistered_pipelines(workflow: Workflow, prefix: str = "") -> Iterator[tuple[str, str]]:
    """(step, pipeline name) of each pipeline step, map items' included, whose pipeline is
    not registered in this process."""
    from spine.framework.registry import default_registry

    for step in workflow.steps:
        if step.pipeline_name is not None and step.pipeline_name not in default_registry:
            yield prefix + step.name, step.pipeline_name
        if step.iterator_workflow is not None:
            yield from _unregistered_pipelines(step.iterator_workflow, f"{prefix}{step.name} > ")


@click.command()
@click.argument("target")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["both", "mermaid", "ascii"]),
    default="both",
    show_default=True,
)
@click.option("--json", "as_json", is_flag=True, help="Steps and edges as JSON.")
def graph(target: str, fmt: str, as_json: bool) -> None:
    """Draw the workflow TARGET: Mermaid flowchart text and a terminal view."""
    from spine.cli.loading import load_workflow
    from spine.cli.render import print_json
    from spine.orchestration.graph import ascii_view, mermaid, successors

    workflow, _ = load_workflow(target)
    if as_json:
        edges = [
            {"from": name, "to": to, "label": label}
            for name, out in successors(workflow).items()
            for label, to in out
        ]
        steps = [s.to_dict() for s in workflow.steps]
        print_json({"workflow": workflow.name, "steps": steps, "edges": edges,
                    "mermaid": mermaid(workflow)})  # fmt: skip
        return
    if fmt in ("both", "mermaid"):
        click.echo(mermaid(workflow))
    if fmt == "both":
        click.echo()
    if fmt in ("both", "ascii"):
        click.echo(ascii_view(workflow))
