"""Fields of definitions: where a field sits in a nested definition (a workflow or
group file), for messages, and which names and numbers a database can keep."""

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


def unstorable(name: str) -> str | None:
    """Why a database cannot keep ``name`` as text, if it cannot.

    PostgreSQL refuses NUL in text and text that is not valid UTF-8 (a lone
    surrogate); SQLite keeps them but cuts strings at NUL in places. A name is
    refused when it is defined, not when a run first writes it.
    """
    if "\x00" in name:
        return "contains a NUL character (\\x00), which a database cannot store"
    try:
        name.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"contains {name[exc.start]!r}, which is not valid Unicode text"
    return None


def unstorable_int(value: object) -> str | None:
    """Why a database cannot keep ``value`` in a 32-bit integer column, if it cannot
    (PostgreSQL's ``INTEGER``): refused when given, not when a run first writes it."""
    if isinstance(value, bool) or not isinstance(value, int):
        return f"must be an integer, got {value!r}"
    if not -(2**31) <= value < 2**31:
        return f"must fit in 32 bits, got {value}"
    return None
