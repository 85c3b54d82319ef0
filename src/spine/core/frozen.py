"""Read-only mappings shared by the context and results.

``FrozenMap`` wraps a HAMT (``immutables.Map``) so that adding one key to a large
mapping shares structure instead of copying it: a workflow context with 100,000
step outputs costs the same per step as one with 100. ``FrozenDict`` is a plain
``dict`` that refuses mutation, used for a single step's output so that the output
stays JSON-serialisable and ``isinstance(x, dict)`` keeps working.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
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


def freeze_dict(value: Mapping[str, Any] | None) -> FrozenDict:
    """Return ``value`` as a ``FrozenDict``, copying only when it is not one already."""
    if value is None:
        return EMPTY_FROZEN_DICT
    if type(value) is FrozenDict:
        return value
    return FrozenDict(value)


class FrozenMap(Mapping[K, V]):
    """An immutable mapping with O(log n) ``set``; compares equal to any equal mapping.

    Iteration follows insertion order, like a ``dict``: the keys are also kept in a
    persistent linked chain, so adding one costs one small tuple, not a copy.
    """

    __slots__ = ("_map", "_order")

    _map: immutables.Map[K, V]
    _order: tuple[Any, ...] | None  # (newest key, chain of older keys) or None

    def __init__(self, items: Mapping[K, V] | Iterable[tuple[K, V]] | None = None) -> None:
        hamt: immutables.Map[K, V] = immutables.Map()
        order: tuple[Any, ...] | None = None
        if items:
            if not isinstance(items, Mapping):
                items = dict(items)
            hamt = _hamt(items)
            for key in items:
                order = (key, order)
        object.__setattr__(self, "_map", hamt)
        object.__setattr__(self, "_order", order)

    @classmethod
    def _wrap(cls, hamt: immutables.Map[K, V], order: tuple[Any, ...] | None) -> FrozenMap[K, V]:
        new = object.__new__(cls)
        object.__setattr__(new, "_map", hamt)
        object.__setattr__(new, "_order", order)
        return new

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
        keys: list[K] = []
        node = self._order
        while node is not None:
            keys.append(node[0])
            node = node[1]
        return reversed(keys)

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
        order = self._order if key in hamt else (key, self._order)
        return FrozenMap._wrap(hamt.set(key, value), order)

    def merged(self, updates: Mapping[K, V]) -> FrozenMap[K, V]:
        """Return a new mapping with ``updates`` applied; ``self`` is unchanged."""
        if not updates:
            return self
        hamt = self._map
        order = self._order
        for key in updates:
            if key not in hamt:
                order = (key, order)
        return FrozenMap._wrap(hamt.update(_hamt_arg(updates)), order)

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
