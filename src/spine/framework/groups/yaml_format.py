"""YAML text and files of pipeline group documents, read into plain data and written from it.

The shape of the ``spine.io/v1`` document is :mod:`spine.framework.groups.group`'s
business; this module only keeps, for the reader's messages, the line of every field
and the keys written twice. It knows nothing of ``PipelineGroup``, so the class can
read and write YAML without an import cycle.

PyYAML is imported only when YAML text is read or written.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spine.core.errors import GroupError
from spine.core.fields import FieldPath
from spine.framework.groups.model import Problem, group_label, invalid

if TYPE_CHECKING:
    from yaml import Node


@dataclass(frozen=True, slots=True)
class YamlDocument:
    """A YAML document's data, with the line of each of its fields."""

    data: object
    source: str
    """What the text was read from, for messages: a file name or ``"<string>"``."""
    lines: Mapping[FieldPath, int]
    problems: Sequence[Problem]
    """Duplicate keys, already found: the data keeps only the last of each."""

    def line_of(self, path: FieldPath) -> int | None:
        # A missing field is reported at the nearest enclosing one that exists.
        for end in range(len(path), -1, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return None


def _lines(node: Node | None) -> tuple[dict[FieldPath, int], list[Problem]]:
    """The line (from 1) of every field of a composed document, and its duplicate keys.

    PyYAML keeps the last of two equal keys without a word; in a group definition
    that silently loses a field, so duplicates are reported. Fields are visited in
    document order, so a duplicated field's line is that of the value kept.
    """
    from yaml import MappingNode, SequenceNode

    if node is None:
        return {}, []
    lines: dict[FieldPath, int] = {(): node.start_mark.line + 1}
    duplicates: list[Problem] = []
    pending: deque[tuple[FieldPath, Node]] = deque([((), node)])
    while pending:
        path, current = pending.popleft()
        children: list[tuple[FieldPath, Node, Node]] = []
        if isinstance(current, MappingNode):
            first_line: dict[object, int] = {}
            for key_node, value_node in current.value:
                key = key_node.value
                line = key_node.start_mark.line + 1
                if key in first_line:
                    duplicates.append(
                        Problem(
                            (*path, key),
                            f"duplicate key {key!r} (first on line {first_line[key]}); "
                            "only this one would be used",
                        )
                    )
                first_line.setdefault(key, line)
                children.append(((*path, key), key_node, value_node))
        elif isinstance(current, SequenceNode):
            children = [((*path, i), item, item) for i, item in enumerate(current.value)]
        for child_path, marker, child in children:
            lines[child_path] = marker.start_mark.line + 1
            pending.append((child_path, child))
    return lines, duplicates


def read_yaml(text: str, *, source: str = "<string>") -> YamlDocument:
    """YAML text read into data; ``source`` names it in error messages."""
    import yaml

    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = Problem((), f"invalid YAML: {getattr(exc, 'problem', None) or exc}")
        raise invalid(
            [problem], label=group_label(None), source=source, line_of=lambda _: line
        ) from exc
    finally:
        loader.dispose()
    lines, duplicates = _lines(node)
    return YamlDocument(data, source, lines, duplicates)


def read_yaml_file(path: str | os.PathLike[str]) -> YamlDocument:
    """A YAML file (UTF-8) read into data."""
    source = os.fspath(path)
    try:
        text = Path(source).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        problem = Problem((), f"not UTF-8 text: {exc}")
        raise invalid([problem], label=group_label(None), source=source) from exc
    return read_yaml(text, source=source)


def write_yaml(data: Mapping[str, Any], *, group: str) -> str:
    """``data``, the document of the group named ``group``, as YAML text."""
    import yaml

    try:
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    except yaml.YAMLError as exc:
        raise GroupError(
            f"pipeline group {group!r} cannot be written as YAML: {exc}; defaults and "
            "params must be plain data (strings, numbers, booleans, lists, mappings)",
            group=group,
        ) from exc
