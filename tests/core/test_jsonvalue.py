"""Step data's JSON text: the encoder made once writes what ``json`` writes."""

from __future__ import annotations

import enum
import json
import math
from typing import Any

import pytest

from spine.core import jsonvalue
from spine.core.frozen import FrozenDict
from spine.core.jsonvalue import JsonValueError, decode, encode


class Level(enum.IntEnum):
    HIGH = 3


class Name(str):
    pass


VALUES: list[Any] = [
    Level.HIGH,
    {"name": Name("x"), "level": [Level.HIGH, 2.5]},
    {"square": {"square": 49}},
    "text",
    "é\u2028\x00",
    1,
    -(2**70),
    1.5,
    3.0000000000000004,
    None,
    True,
    [1, "a", {"b": [1.0, 2, None, False]}],
    (1, 2),
    FrozenDict({"k": [1, {"é": "ü"}]}),
    {},
    [],
]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_encode_writes_what_json_writes_and_reads_back(value: Any) -> None:
    text = encode(value)
    assert text == json.dumps(value, allow_nan=False)
    expected = list(value) if isinstance(value, tuple) else value
    assert decode(text) == expected


def test_without_jsons_c_encoder_the_text_is_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(json.encoder, "c_make_encoder", None)
    fallback = jsonvalue._c_encoder()
    assert fallback == jsonvalue._ENCODER.encode
    for value in VALUES:
        assert fallback(value) == encode(value)


def test_non_finite_floats_are_tagged_and_cycles_refused() -> None:
    assert encode({"a": math.nan, "b": [-math.inf]}) == (
        '{"a": {"__spine_float__": "NaN"}, "b": [{"__spine_float__": "-Infinity"}]}'
    )
    looped: list[Any] = []
    looped.append(looped)
    with pytest.raises(JsonValueError, match=r"output\[0\] .*contains itself"):
        encode(looped, "output")
    with pytest.raises(JsonValueError, match="JSON text cannot take"):
        encode(10**5000, "output")


class Turns(dict[str, Any]):
    """Plain when checked, then holding itself: a value another thread changes while
    it is written."""

    looked = False

    def items(self) -> Any:
        if self.looked:
            return [("a", self)]
        self.looked = True
        return super().items()


def test_a_value_that_turns_into_a_cycle_after_its_check_is_refused_by_name() -> None:
    with pytest.raises(JsonValueError, match=r"output .*contains itself"):
        encode(Turns(a=1), "output")
