"""FrozenDict and FrozenMap: the read-only mappings of the context and results."""

from __future__ import annotations

import copy
import json
import pickle
from collections.abc import Callable
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spine.core.frozen import FrozenDict, FrozenMap, freeze_dict

# --- FrozenDict ------------------------------------------------------------------


def _ior(d: FrozenDict) -> None:
    d |= {"z": 1}


_MUTATIONS: dict[str, Callable[[FrozenDict], object]] = {
    "setitem": lambda d: d.__setitem__("a", 2),
    "setitem_new": lambda d: d.__setitem__("new", 2),
    "delitem": lambda d: d.__delitem__("a"),
    "update": lambda d: d.update({"a": 3}),
    "update_kwargs": lambda d: d.update(a=3),
    "pop": lambda d: d.pop("a"),
    "popitem": lambda d: d.popitem(),
    "clear": lambda d: d.clear(),
    "setdefault": lambda d: d.setdefault("new", 1),
    "ior": _ior,
}


@pytest.mark.parametrize("mutation", list(_MUTATIONS), ids=list(_MUTATIONS))
def test_frozen_dict_refuses_mutation(mutation: str) -> None:
    frozen = FrozenDict({"a": 1, "b": [1, 2]})

    with pytest.raises(TypeError):
        _MUTATIONS[mutation](frozen)

    assert frozen == {"a": 1, "b": [1, 2]}
    assert list(frozen) == ["a", "b"]


def test_frozen_dict_is_a_dict_and_serialises() -> None:
    frozen = FrozenDict({"a": 1, "nested": {"b": [1, 2]}})

    assert isinstance(frozen, dict)
    assert frozen == {"a": 1, "nested": {"b": [1, 2]}}
    assert json.loads(json.dumps(frozen)) == {"a": 1, "nested": {"b": [1, 2]}}
    assert repr(frozen) == repr({"a": 1, "nested": {"b": [1, 2]}})


def test_frozen_dict_or_returns_a_new_plain_dict() -> None:
    frozen = FrozenDict({"a": 1})

    combined = frozen | {"b": 2}

    assert combined == {"a": 1, "b": 2}
    assert frozen == {"a": 1}


def test_frozen_dict_pickle_round_trip() -> None:
    frozen = FrozenDict({"a": 1, "b": {"c": 2}})

    restored = pickle.loads(pickle.dumps(frozen))

    assert type(restored) is FrozenDict
    assert restored == frozen
    with pytest.raises(TypeError):
        restored["a"] = 5


def test_frozen_dict_copy_and_deepcopy() -> None:
    inner = {"c": [1]}
    frozen = FrozenDict({"a": 1, "b": inner})

    shallow = copy.copy(frozen)
    deep = copy.deepcopy(frozen)

    assert shallow == frozen
    assert type(shallow) is FrozenDict
    assert type(deep) is FrozenDict
    assert deep == frozen
    assert deep["b"] is not inner
    with pytest.raises(TypeError):
        deep["a"] = 2


def test_freeze_dict_reuses_frozen_values() -> None:
    frozen = FrozenDict({"a": 1})

    assert freeze_dict(frozen) is frozen
    assert freeze_dict(None) == {}
    converted = freeze_dict({"x": 1})
    assert type(converted) is FrozenDict
    assert converted == {"x": 1}


# --- FrozenMap -------------------------------------------------------------------


def test_frozen_map_equals_dicts_and_mappings() -> None:
    fm = FrozenMap({"a": 1, "b": 2})

    assert fm == {"a": 1, "b": 2}
    assert fm == {"b": 2, "a": 1}
    assert {"a": 1, "b": 2} == fm  # noqa: SIM300 - the reflected comparison is the point
    assert fm == FrozenMap([("b", 2), ("a", 1)])
    assert fm == MappingProxyType({"a": 1, "b": 2})
    assert fm != {"a": 1}
    assert fm != {"a": 1, "b": 3}
    assert fm != {"a": 1, "c": 2}
    assert FrozenMap() == {}
    assert len(fm) == 2
    assert "a" in fm
    assert "z" not in fm
    assert fm.get("z") is None
    assert fm.get("z", 0) == 0


def test_frozen_map_iterates_in_insertion_order() -> None:
    fm = FrozenMap({"c": 1, "a": 2})
    fm = fm.set("b", 3)
    fm = fm.merged({"z": 4, "d": 5})

    assert list(fm) == ["c", "a", "b", "z", "d"]
    assert list(fm.items()) == [("c", 1), ("a", 2), ("b", 3), ("z", 4), ("d", 5)]


def test_overwriting_a_key_keeps_its_position() -> None:
    fm = FrozenMap({"a": 1, "b": 2, "c": 3})

    by_set = fm.set("a", 10)
    by_merge = fm.merged({"b": 20, "new": 0})

    assert list(by_set) == ["a", "b", "c"]
    assert by_set == {"a": 10, "b": 2, "c": 3}
    assert list(by_merge) == ["a", "b", "c", "new"]
    assert by_merge["b"] == 20
    assert fm == {"a": 1, "b": 2, "c": 3}


def test_frozen_map_is_immutable() -> None:
    fm = FrozenMap({"a": 1})

    with pytest.raises(TypeError):
        fm["a"] = 2  # type: ignore[index]
    with pytest.raises(TypeError):
        del fm["a"]  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        fm.anything = 1  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        fm._map = None  # type: ignore[misc]
    assert fm == {"a": 1}


@pytest.mark.parametrize(
    "updates",
    [
        FrozenMap({"b": 20, "c": 3}),
        MappingProxyType({"b": 20, "c": 3}),
        {"b": 20, "c": 3},
    ],
    ids=["FrozenMap", "MappingProxyType", "dict"],
)
def test_merged_accepts_any_mapping(updates: Any) -> None:
    fm = FrozenMap({"a": 1, "b": 2})

    merged = fm.merged(updates)

    assert merged == {"a": 1, "b": 20, "c": 3}
    assert list(merged) == ["a", "b", "c"]
    assert fm == {"a": 1, "b": 2}


def test_merged_with_nothing_returns_self() -> None:
    fm = FrozenMap({"a": 1})
    assert fm.merged({}) is fm


def test_frozen_map_pickle_round_trip() -> None:
    fm = FrozenMap({"z": 1, "a": [1, 2]}).set("m", {"x": 1})

    restored = pickle.loads(pickle.dumps(fm))

    assert type(restored) is FrozenMap
    assert restored == fm
    assert list(restored) == ["z", "a", "m"]


def test_to_dict_is_a_mutable_copy_in_order() -> None:
    fm = FrozenMap({"b": 1}).set("a", 2)

    plain = fm.to_dict()
    plain["c"] = 3

    assert type(plain) is dict
    assert list(plain) == ["b", "a", "c"]
    assert fm == {"b": 1, "a": 2}


def test_equal_frozen_maps_hash_equal() -> None:
    one = FrozenMap({"a": 1, "b": 2})
    two = FrozenMap({"b": 2}).set("a", 1)

    assert one == two
    assert hash(one) == hash(two)


_keys = st.sampled_from(["a", "b", "c", "d", "e", "f"])
_values = st.integers(-3, 3)
_operations = st.lists(
    st.one_of(
        st.tuples(st.just("set"), _keys, _values),
        st.tuples(
            st.just("merged"),
            st.dictionaries(_keys, _values, max_size=4),
            st.sampled_from(["dict", "frozen", "proxy"]),
        ),
    ),
    max_size=25,
)


@given(initial=st.dictionaries(_keys, _values, max_size=4), operations=_operations)
def test_frozen_map_behaves_like_a_dict(
    initial: dict[str, int], operations: list[tuple[Any, ...]]
) -> None:
    fm: FrozenMap[str, int] = FrozenMap(initial)
    model = dict(initial)
    history: list[tuple[FrozenMap[str, int], list[tuple[str, int]]]] = [(fm, list(model.items()))]

    for op in operations:
        if op[0] == "set":
            _, key, value = op
            fm = fm.set(key, value)
            model[key] = value
        else:
            _, updates, kind = op
            arg: Any = {
                "dict": dict(updates),
                "frozen": FrozenMap(updates),
                "proxy": MappingProxyType(dict(updates)),
            }[kind]
            fm = fm.merged(arg)
            model.update(updates)
        history.append((fm, list(model.items())))

    for version, expected in history:
        assert list(version.items()) == expected
        assert list(version) == [k for k, _ in expected]
        assert version == dict(expected)
        assert len(version) == len(expected)
        assert version.to_dict() == dict(expected)
