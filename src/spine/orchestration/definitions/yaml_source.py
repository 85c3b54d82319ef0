"""Reading YAML into plain values, keeping the line of every field.

The document is composed (``yaml.compose``), not loaded, so each key keeps its line;
the plain values are then built here from the nodes, refusing anything that is not
JSON-like data (Python tags, binary, any tag on a mapping or list but the plain ones,
keys that are not text, repeated keys).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from spine.core.errors import WorkflowDefinitionError
from spine.core.fields import FieldPath
from spine.orchestration.definitions.schema import described, located

if TYPE_CHECKING:
    from yaml.nodes import Node

MAX_VALUES = 100_000
"""Most values one file may hold once its aliases are expanded (a guard against
"billion laughs" files)."""
MAX_NESTING = 64


_TAG = "tag:yaml.org,2002:"
_PLAIN_SCALARS = {f"{_TAG}{name}" for name in ("int", "float", "bool", "null")}
_PLAIN_COLLECTIONS = {f"{_TAG}map", f"{_TAG}seq"}
"""A mapping or list tagged otherwise (``!!python/object:...``, ``!!set``, ``!custom``)
asks a loader to build something that is not JSON-like data."""


class _YamlValues:
    """Plain values from a composed YAML document, and the line of every field."""

    def __init__(self, source: str) -> None:
        from yaml.constructor import SafeConstructor

        self.source = source
        self.lines: dict[FieldPath, int] = {}
        self.problems: list[tuple[int, str]] = []
        self._constructor = SafeConstructor()
        self._count = 0

    def problem(self, node: Node, path: FieldPath, message: str) -> None:
        line = _line(node)
        self.problems.append((line, located(self.source, line, path, message)))

    def value(self, node: Node, path: FieldPath, depth: int = 0) -> Any:
        self._count += 1
        if self._count > MAX_VALUES or depth > MAX_NESTING:
            raise WorkflowDefinitionError(
                self.source,
                [
                    located(
                        self.source,
                        _line(node),
                        path,
                        f"too large: more than {MAX_VALUES} values or {MAX_NESTING} levels "
                        "once aliases are expanded",
                    )
                ],
            )
        from yaml.nodes import MappingNode, SequenceNode

        if isinstance(node, MappingNode | SequenceNode) and node.tag not in _PLAIN_COLLECTIONS:
            # Reported, then read as a plain collection so the rest is still checked.
            self.problem(node, path, f"unsupported YAML tag {node.tag}")
        if isinstance(node, MappingNode):
            return self._mapping(node, path, depth)
        if isinstance(node, SequenceNode):
            items = []
            for index, item in enumerate(node.value):
                self.lines[(*path, index)] = _line(item)
                items.append(self.value(item, (*path, index), depth + 1))
            return items
        return self._scalar(node, path)

    def _scalar(self, node: Node, path: FieldPath) -> Any:
        tag = node.tag
        if tag == f"{_TAG}str":
            return node.value
        if tag == f"{_TAG}timestamp":
            # Kept as written: run params and outputs are JSON, which has no dates.
            return node.value
        if tag in _PLAIN_SCALARS:
            return self._constructor.construct_object(node)
        self.problem(node, path, f"unsupported YAML tag {tag}")
        return node.value  # as text, so the rest of the file is still checked

    def _mapping(self, node: Node, path: FieldPath, depth: int) -> dict[str, Any]:
        from yaml.nodes import ScalarNode, SequenceNode

        own: dict[str, Any] = {}
        inherited: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == f"{_TAG}merge":
                sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
                for source in sources:
                    merged = self.value(source, path, depth + 1)
                    if isinstance(merged, dict):
                        # YAML's rule: the first mapping merged wins, own keys win over all.
                        inherited = {**merged, **inherited}
                    else:
                        self.problem(source, path, "<< merges mappings only")
                continue
            key = self._scalar(key_node, path) if isinstance(key_node, ScalarNode) else None
            if not isinstance(key, str):
                self.problem(key_node, path, f"keys must be text, got {described(key)}")
                continue
            field = (*path, key)
            if key in own:
                self.problem(key_node, field, "duplicate key (the earlier value would be lost)")
            self.lines[field] = _line(key_node)
            own[key] = self.value(value_node, field, depth + 1)
        return {**inherited, **own}


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


def read_yaml(text: str, source: str) -> tuple[Any, dict[FieldPath, int], list[tuple[int, str]]]:
    import yaml

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        what = ", ".join(part for part in (exc.context, exc.problem) if part) or str(exc)
        problem = located(source, line, (), f"not valid YAML: {what}")
        raise WorkflowDefinitionError(source, [problem]) from None
    except (yaml.YAMLError, RecursionError) as exc:
        raise WorkflowDefinitionError(source, [f"{source}: not valid YAML: {exc}"]) from None
    if root is None:
        raise WorkflowDefinitionError(source, [f"{source}: empty; it should describe a workflow"])
    values = _YamlValues(source)
    values.lines[()] = _line(root)
    data = values.value(root, ())
    return data, values.lines, values.problems
