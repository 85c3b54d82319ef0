"""The moment a wait step waits until (``Step.wait(name, until=...)``): an aware
``datetime``, an ISO-8601 text with an offset, or a path to one in the run's params or
outputs, resolved when the step starts."""

from __future__ import annotations

from datetime import datetime

PATH_ROOTS = ("params.", "outputs.")
"""How a path starts; any other text is read as a time."""


def is_path(until: object) -> bool:
    return isinstance(until, str) and until.startswith(PATH_ROOTS)


def aware_time(value: object) -> datetime:
    """``value`` as an aware ``datetime``; ``ValueError`` saying why it is not one (a naive
    time is refused: it would mean a different moment on each machine)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO-8601 time") from None
    if not isinstance(value, datetime):
        raise ValueError(f"{value!r} is not a time (a datetime or ISO-8601 text)")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{value.isoformat()!r} has no UTC offset (a naive time is refused)")
    return value


def until_problem(until: object, duration_seconds: object) -> str | None:
    """What is wrong with a wait step's ``until`` as defined, if anything."""
    if duration_seconds is not None:
        return "give either duration_seconds or until, not both"
    if is_path(until):
        return None
    try:
        aware_time(until)
    except ValueError as exc:
        return f"until must be an aware datetime, ISO-8601 text with an offset, or a path: {exc}"
    return None
