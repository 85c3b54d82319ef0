"""Workflows written in YAML: ``load_workflow("flow.yaml")`` and ``spine run flow.yaml``.

A file describes one workflow (the format is in docs/yaml-workflows.md) and gives the
same :class:`~spine.orchestration.Workflow` the definition written in Python would:
same steps, same runs. Loading checks the whole file and raises one
:class:`~spine.core.errors.WorkflowDefinitionError` listing every problem as
``file:line: field: message``. Lambdas (``module:function``) and ``imports`` are
imported while loading; pipeline names are looked up when their step runs, as for
a workflow written in Python. Choice conditions are compiled by
:mod:`spine.orchestration.expressions`, never evaluated as Python.

- ``schema``: the keys of the format and the kinds of their values;
- ``yaml_source``: YAML text to plain values, with the line of every field;
- ``builder``: plain values to a ``Workflow``, every problem reported at once.

PyYAML is imported only when a file is read, so ``import spine.orchestration``
stays light.
"""

from spine.orchestration.definitions.builder import load_workflow, workflow_from_dict
from spine.orchestration.definitions.schema import YAML_SUFFIXES

__all__ = ["YAML_SUFFIXES", "load_workflow", "workflow_from_dict"]
