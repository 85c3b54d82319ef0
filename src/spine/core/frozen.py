"""Read-only mappings shared by the context and results.

``FrozenMap`` wraps a HAMT (``immutables.Map``) so that adding one key to a large
mapping shares structure instead of copying it: a workflow context with 100,000
step outputs costs the same per step as one with 100. ``FrozenDict`` is a plain
``dict`` that refuses mutation, used for a single step's output so that the output
stays JSON-serialisable and ``isinstance(x, dict)`` keeps working.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping
from itertools import islice
from typing import Any, NoReturn, TypeVar, overload

import immutables

from spine.core.errors import ReadOnlyError

K = TypeVar("K")
V = TypeVar("V")
T = TypeVar("T")


def _read_only(self: object, *args: object, **kwargs: object) -> NoReturn:
    raise ReadOnlyError(f"{type(self).__name__} is read-only; build a new one instead")


class FrozenDict(dict[str, Any]):
    """A ``dict`` whose contents cannot change after construction."""

    __slots__ = ()

    __setitem__ = _read_only
    __delitem__ = _read_only
    __ior__ = _read_only
    clear = _read_only
    pop = _read_only
    popitem = _read_only
    setdefault = _read_only
    update = _read_only

    def __reduce__(self) -> tuple[type[FrozenDict], tuple[dict[str, Any]]]:
        # The default dict-subclass pickling replays __setitem__, which is blocked.
        return (FrozenDict, (dict(self),))

    def __copy__(self) -> FrozenDict:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> FrozenDict:
        import copy

        return FrozenDict(copy.deepcopy(dict(self), memo))

    def __repr__(self) -> str:
        return dict.__repr__(self)


EMPTY_FROZEN_DICT = FrozenDict()

_append_lock = threading.Lock()


def freeze_dict(value: Mapping[str, Any] | None) -> FrozenDict:
    """Return ``value`` as a ``FrozenDict``, copying only when it is not one already."""
    if value is None:
        return EMPTY_FROZEN_DICT
    if type(value) is FrozenDict:
        return value
    return FrozenDict(value)


class FrozenMap(Mapping[K, V]):
    """An immutable mapping with O(log n) ``set``; compares equal to any equal mapping.

    Iteration follows insertion order, like a ``dict``. The keys live in an
    append-only list shared by a map and the maps derived from it: each version
    sees only the first ``n`` entries, and deriving from the newest version appends
    in place. Only deriving from an older version (branching) copies the list. A
    long run therefore keeps one list of keys, not one object per key that the
    garbage collector would have to scan.
    """

    __slots__ = ("_keys", "_map", "_n")

    _map: immutables.Map[K, V]
    _keys: list[K]
    _n: int

    def __init__(self, items: Mapping[K, V] | Iterable[tuple[K, V]] | None = None) -> None:
        hamt: immutables.Map[K, V] = immutables.Map()
        keys: list[K] = []
        if items:
            if not isinstance(items, Mapping):
                items = dict(items)
            hamt = _hamt(items)
            keys = list(items)
        object.__setattr__(self, "_map", hamt)
        object.__setattr__(self, "_keys", keys)
        object.__setattr__(self, "_n", len(keys))

    @classmethod
    def _wrap(cls, hamt: immutables.Map[K, V], keys: list[K], n: int) -> FrozenMap[K, V]:
        new = object.__new__(cls)
        object.__setattr__(new, "_map", hamt)
        object.__setattr__(new, "_keys", keys)
        object.__setattr__(new, "_n", n)
        return new

    def _keys_plus(self, added: list[K]) -> list[K]:
        keys, n = self._keys, self._n
        if n:
            with _append_lock:
                if len(keys) == n:
                    keys.extend(added)
                    return keys
        # An empty map's list is never shared: it would keep the keys of every
        # map ever derived from it alive.
        return keys[:n] + added

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise ReadOnlyError(f"{type(self).__name__} is read-only")

    __setitem__ = _read_only
    __delitem__ = _read_only

    def __getitem__(self, key: K) -> V:
        return self._map[key]

    @overload
    def get(self, key: K, /) -> V | None: ...
    @overload
    def get(self, key: K, default: V | T, /) -> V | T: ...
    def get(self, key: K, default: object = None, /) -> object:
        return self._map.get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self._map

    def __iter__(self) -> Iterator[K]:
        # The shared list may grow past _n while this iterates; islice stops at _n.
        return islice(self._keys, self._n)

    def __len__(self) -> int:
        return len(self._map)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FrozenMap):
            return self._map == other._map
        if isinstance(other, Mapping):
            return len(self._map) == len(other) and all(
                k in other and other[k] == v for k, v in self._map.items()
            )
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._map)

    def __repr__(self) -> str:
        return repr(self.to_dict())

    def __reduce__(self) -> tuple[type[FrozenMap[K, V]], tuple[dict[K, V]]]:
        return (type(self), (self.to_dict(),))

    def set(self, key: K, value: V) -> FrozenMap[K, V]:
        """Return a new mapping with ``key`` set to ``value``."""
        hamt = self._map
        if key in hamt:
            return FrozenMap._wrap(hamt.set(key, value), self._keys, self._n)
        return FrozenMap._wrap(hamt.set(key, value), self._keys_plus([key]), self._n + 1)

    def merged(self, updates: Mapping[K, V]) -> FrozenMap[K, V]:
        """Return a new mapping with ``updates`` applied; ``self`` is unchanged."""
        if not updates:
            return self
        hamt = self._map
        added = [key for key in updates if key not in hamt]
        keys = self._keys_plus(added) if added else self._keys
        return FrozenMap._wrap(hamt.update(_hamt_arg(updates)), keys, self._n + len(added))

    def to_dict(self) -> dict[K, V]:
        """A plain, mutable ``dict`` copy, in insertion order."""
        hamt = self._map
        return {k: hamt[k] for k in self}


def _hamt_arg(
    items: Mapping[K, V] | Iterable[tuple[K, V]],
) -> immutables.Map[K, V] | dict[K, V] | Iterable[tuple[K, V]]:
    # immutables accepts a dict, a Map or pairs; any other Mapping would be read as pairs.
    if isinstance(items, FrozenMap):
        return items._map
    if isinstance(items, dict | immutables.Map):
        return items
    if isinstance(items, Mapping):
        return dict(items)
    return items


def _hamt(items: Mapping[K, V] | Iterable[tuple[K, V]]) -> immutables.Map[K, V]:
    arg = _hamt_arg(items)
    return arg if isinstance(arg, immutables.Map) else immutables.Map(arg)


def thaw(value: Any) -> Any:
    """``value`` with every read-only mapping inside it turned into a plain ``dict``.

    Lists and tuples are rebuilt only to reach the mappings inside them; other
    values are returned as they are.
    """
    kind = type(value)
    if kind is str or kind is int or kind is float or kind is bool or value is None:
        return value  # (before the ABC checks below, which cost a scalar ten times more)
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, list):
        return [thaw(v) for v in value]
    if isinstance(value, tuple):
        return tuple(thaw(v) for v in value)
    return value
