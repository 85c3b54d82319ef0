"""Step data as strict JSON (RFC 8259) that reads back exactly as it was written.

JSON has no NaN or Infinity, and its object keys are strings only; Python's ``json``
writes the former as bare ``NaN`` (which other readers reject) and turns ``{1: "x"}``
into ``{"1": "x"}`` (so a resumed run would read another value than the first
execution did). Here non-finite floats are written in a tagged form,
``{"__spine_float__": "NaN"}``, and read back as the float; a key that is not a
string, a value JSON cannot hold, a structure that contains itself or one nested
deeper than :data:`MAX_DEPTH` is refused with the path of the offending key, before
anything is written (never a ``RecursionError`` from deep inside the encoder).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import Any

MAX_DEPTH = 200
"""How deeply step data may nest: far beyond real data, well within Python's stack."""

TAG = "__spine_float__"
_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_SCALARS = (str, int, bool, type(None))


class JsonValueError(ValueError):
    """A value that strict JSON cannot hold; ``path`` says where (``output['a'][0]``)."""

    def __init__(self, path: str, reason: str) -> None:
        if len(path) > 160:  # a path 200 levels deep says no more than its ends do
            path = f"{path[:100]}...{path[-40:]}"
        super().__init__(f"{path} cannot be stored as JSON: {reason}")
        self.path = path
        self.reason = reason


_ENCODER = json.JSONEncoder(allow_nan=False)
"""Made once: ``json.dumps`` with an option makes an encoder per call."""


def _c_encoder() -> Callable[[Any], str]:
    """``_ENCODER.encode``, or the same text from ``json``'s C encoder made once: the
    former builds that encoder (and a cycle check's dict) at every call, a third of the
    time a step's small output takes. No cycle check: what :func:`encode` hands it went
    through :func:`_plain` or :func:`_checked`, which refuse a structure that contains
    itself."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # (an interpreter without json's C accelerator)
        return _ENCODER.encode
    chunks = make(None, _ENCODER.default, json.encoder.encode_basestring_ascii, None,
                  ": ", ", ", False, False, False)  # fmt: skip

    def encode_plain(value: Any) -> str:
        return "".join(chunks(value, 0))

    return encode_plain


_encode_plain = _c_encoder()


def encode(value: Any, root: str = "value") -> str:
    """``value`` as strict JSON text; raises :class:`JsonValueError` naming the path
    (from ``root``) of the first part that cannot be stored."""
    tagged = value if _plain(value, 0) else _checked(value, root, 0, set())
    try:
        return _encode_plain(tagged)
    except ValueError as exc:  # an int of more digits than Python converts to text
        raise JsonValueError(root, f"it holds a value JSON text cannot take ({exc})") from None
    except RecursionError:  # (only a value that changed since it was checked)
        raise JsonValueError(root, "it contains itself (a reference cycle)") from None


def decode(text: str) -> Any:
    """Read what :func:`encode` wrote (tagged floats restored)."""
    if TAG not in text:
        return json.loads(text)
    return json.loads(text, object_hook=_untag)


def _untag(obj: dict[str, Any]) -> Any:
    if len(obj) == 1 and TAG in obj and obj[TAG] in _NON_FINITE:
        return _NON_FINITE[obj[TAG]]
    return obj


def _plain(value: Any, depth: int) -> bool:
    """Whether ``value`` is JSON as it stands, which ``json`` writes unchanged: dicts
    (of any ``dict`` type) with string keys, lists, tuples, strings, ints, bools,
    ``None`` and finite floats, no reserved key. A quick look that copies nothing; what
    it does not pass, :func:`_checked` goes through (and explains)."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return True
    if kind is float:
        return math.isfinite(value)
    if depth >= MAX_DEPTH:  # (a structure that contains itself ends here too)
        return False
    if isinstance(value, dict):
        if TAG in value:
            return False
        for key, item in value.items():
            if type(key) is not str or not _plain(item, depth + 1):
                return False
        return True
    if kind is list or kind is tuple:
        return all(_plain(item, depth + 1) for item in value)
    return False


def _checked(value: Any, path: str, depth: int, open_: set[int]) -> Any:
    """``value`` with non-finite floats tagged; raises for what cannot be stored."""
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return {TAG: "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")}
    if depth >= MAX_DEPTH:
        raise JsonValueError(path, f"it is nested more than {MAX_DEPTH} levels deep")
    if not isinstance(value, Mapping | list | tuple):
        raise JsonValueError(path, f"it is {_a(type(value).__name__)}")
    marker = id(value)
    if marker in open_:
        raise JsonValueError(path, "it contains itself (a reference cycle)")
    open_.add(marker)
    try:
        if isinstance(value, Mapping):
            out: dict[str, Any] = {}
            for key, item in value.items():
                if not isinstance(key, str):
                    raise JsonValueError(
                        f"{path} key {key!r}",
                        f"it is {_a(type(key).__name__)}; keys must be strings (JSON turns "
                        f"{key!r} into {_as_key(key)}, so a resumed run would read "
                        "another key)",
                    )
                out[key] = _checked(item, f"{path}[{key!r}]", depth + 1, open_)
            if len(out) == 1 and TAG in out:
                raise JsonValueError(f"{path}[{TAG!r}]", "it is a key spine reserves")
            return out
        return [_checked(item, f"{path}[{i}]", depth + 1, open_) for i, item in enumerate(value)]
    finally:
        open_.discard(marker)


def _as_key(key: Any) -> str:
    """The string JSON makes of ``key`` (``True`` -> ``"true"``)."""
    try:
        return json.dumps({key: 0})[1:-4]
    except (TypeError, ValueError):
        return "an error"


def _a(noun: str) -> str:
    return f"an {noun}" if noun[:1] in "aeiou" else f"a {noun}"


__all__ = ["MAX_DEPTH", "TAG", "JsonValueError", "decode", "encode"]
