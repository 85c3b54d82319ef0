"""The format of a workflow definition: its keys, the kinds of values they take, and
how a place in a definition is named in messages (``flow.yaml:12: steps[2].choice.when``)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from spine.core.fields import FieldPath, field_name
from spine.orchestration.moments import until_problem
from spine.orchestration.retry import DELAY_LIMIT_SECONDS, is_delay
from spine.orchestration.step_types import ErrorPolicy

API_VERSION = "spine.io/v2"
YAML_SUFFIXES = (".yaml", ".yml")
STEP_TYPES = ("lambda", "pipeline", "choice", "wait", "wait_until", "signal", "map")


def located(source: str, line: int, path: FieldPath, message: str) -> str:
    """``file:line: field: message``, the form of every problem (line 0: none known)."""
    where = f"{source}:{line}" if line else source
    name = field_name(path)
    return f"{where}: {name}: {message}" if name else f"{where}: {message}"


def described(value: object) -> str:
    """``value`` as a message shows it: ``'soon' (str)``, ``a mapping``."""
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if value is None:
        return "nothing (null)"
    text = repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{text} ({type(value).__name__})"


def suggestion(word: str, choices: Collection[str]) -> str:
    """``"; did you mean 'x'?"`` when a choice is close to ``word``, else the choices."""
    import difflib  # only a mistake needs it

    # A truncated word ("backoff" for "backoff_multiplier") is too far from its
    # completion for difflib's ratio; a prefix says what was meant.
    close = [c for c in sorted(choices) if len(word) >= 3 and c.startswith(word)]
    close = close or difflib.get_close_matches(word, list(choices), n=1)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f"; expected one of {', '.join(sorted(choices))}" if choices else ""


# -- kinds of values ------------------------------------------------------------------


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_texts(value: object) -> bool:
    return isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)


@dataclass(frozen=True)
class Kind:
    """What a field accepts, and how a message describes it."""

    description: str
    accepts: Callable[[Any], bool]


TEXT = Kind("text", lambda v: isinstance(v, str))
NAME = Kind("non-empty text", lambda v: isinstance(v, str) and bool(v.strip()))
EXPRESSION = Kind("an expression written as text", lambda v: isinstance(v, str))
POSITIVE = Kind("an integer >= 1", lambda v: _is_int(v) and v >= 1)
SECONDS = Kind(f"a number of seconds from 0 to {DELAY_LIMIT_SECONDS} (366 days)", is_delay)
MOMENT = Kind(
    "an ISO-8601 time with an offset (2027-01-04T06:00:00+00:00), or a path to one "
    "(params.deadline, outputs.step.key)",
    lambda v: isinstance(v, str | datetime) and until_problem(v, None) is None,
)
MULTIPLIER = Kind("a finite number >= 1", lambda v: _is_number(v) and 1 <= v < math.inf)
FLAG = Kind("true or false", lambda v: isinstance(v, bool))
TIMEOUT = Kind("a positive finite number of seconds", lambda v: _is_number(v) and 0 < v < math.inf)
MAPPING = Kind("a mapping", lambda v: isinstance(v, Mapping))
LIST = Kind("a list", lambda v: isinstance(v, list | tuple))
TEXTS = Kind("a list of texts", _is_texts)
CATEGORIES = Kind(
    "an error category or a list of them", lambda v: isinstance(v, str) or _is_texts(v)
)
POLICIES = tuple(p.value for p in ErrorPolicy)
POLICY = Kind(f"one of {', '.join(POLICIES)}", lambda v: isinstance(v, str) and v in POLICIES)

FILE_KEYS = (
    "apiVersion",
    "kind",
    "name",
    "domain",
    "version",
    "description",
    "defaults",
    "tags",
    "max_concurrent_runs",
    "timeout_seconds",
    "alert_on",
    "imports",
    "steps",
)
NESTED_KEYS = (
    "name", "domain", "version", "description", "defaults", "tags", "timeout_seconds", "steps",
)  # fmt: skip
OPTIONAL_WORKFLOW_FIELDS = {
    "domain": TEXT,
    "version": POSITIVE,
    "description": TEXT,
    "defaults": MAPPING,
    "tags": TEXTS,
    "max_concurrent_runs": POSITIVE,
    "timeout_seconds": TIMEOUT,
}
COMMON_STEP_KEYS = ("name", "on_error", "retry", "next", "timeout_seconds")
TYPE_EXTRAS: dict[str, tuple[str, ...]] = {
    "lambda": ("config",),
    "pipeline": ("params",),
    "choice": (),
    "wait": (),
    "wait_until": (),
    "signal": (),
    "map": (),
}
CHOICE_KEYS = ("when", "then", "else")
MAP_KEYS = ("items", "workflow", "max_concurrency", "item_param")
RETRY_FIELDS = {
    "max_attempts": POSITIVE,
    "initial_delay_seconds": SECONDS,
    "backoff_multiplier": MULTIPLIER,
    "max_delay_seconds": SECONDS,
    "jitter": FLAG,
    "retry_on": CATEGORIES,
}
REFERENCE = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
