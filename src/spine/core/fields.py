"""Where a field sits in a nested definition (a workflow or group file), for messages."""

from __future__ import annotations

FieldPath = tuple[str | int, ...]
"""Keys and list positions from the top of a definition down to one field."""


def field_name(path: FieldPath) -> str:
    """``steps[2].choice.when`` for ``("steps", 2, "choice", "when")``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text
