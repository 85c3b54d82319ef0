"""WorkflowContext: immutability, reading, serialisation."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spine.orchestration import WorkflowContext


def test_params_item_assignment_raises_type_error() -> None:
    ctx = WorkflowContext.create("wf", params={"a": 1})
    with pytest.raises(TypeError):
        ctx.params["a"] = 2  # type: ignore[index]
    with pytest.raises(TypeError):
        ctx.params["b"] = 2  # type: ignore[index]
    with pytest.raises(TypeError):
        del ctx.params["a"]  # type: ignore[attr-defined]
    assert ctx.params == {"a": 1}


def test_outputs_item_assignment_raises_type_error() -> None:
    ctx = WorkflowContext.create("wf").with_output("s", {"k": 1})
    with pytest.raises(TypeError):
        ctx.outputs["s"] = {}  # type: ignore[index]
    with pytest.raises(TypeError):
        ctx.outputs["s"]["k"] = 2
    with pytest.raises(TypeError):
        ctx.outputs["s"].update({"k": 3})
    assert ctx.outputs == {"s": {"k": 1}}


def test_partition_is_read_only() -> None:
    ctx = WorkflowContext.create("wf", partition={"tier": "T1"})
    with pytest.raises(TypeError):
        ctx.partition["tier"] = "T2"
    assert ctx.partition == {"tier": "T1"}


def test_attributes_cannot_be_rebound() -> None:
    ctx = WorkflowContext.create("wf", params={"a": 1})
    with pytest.raises((AttributeError, TypeError)):
        ctx.params = {"a": 2}  # type: ignore[misc]
    with pytest.raises((AttributeError, TypeError)):
        ctx.run_id = "other"  # type: ignore[misc]
    assert ctx.params == {"a": 1}


def test_with_output_returns_new_context_and_leaves_old_unchanged() -> None:
    ctx = WorkflowContext.create("wf", params={"a": 1})
    ctx2 = ctx.with_output("s", {"k": 1})
    assert ctx2 is not ctx
    assert ctx.outputs == {}
    assert not ctx.has_output("s")
    assert ctx2.outputs == {"s": {"k": 1}}
    assert ctx2.run_id == ctx.run_id
    assert ctx2.params == ctx.params


def test_with_params_returns_new_context_and_leaves_old_unchanged() -> None:
    ctx = WorkflowContext.create("wf", params={"a": 1, "b": 2})
    ctx2 = ctx.with_params({"b": 3, "c": 4})
    assert ctx2 is not ctx
    assert ctx.params == {"a": 1, "b": 2}
    assert ctx2.params == {"a": 1, "b": 3, "c": 4}
    assert ctx2.run_id == ctx.run_id


def test_with_output_replaces_the_whole_output() -> None:
    ctx = WorkflowContext.create("wf").with_output("s", {"a": 1, "b": 2})
    ctx2 = ctx.with_output("s", {"c": 3})
    assert ctx2.get_output("s") == {"c": 3}
    assert ctx.get_output("s") == {"a": 1, "b": 2}


def test_mutating_the_dict_given_to_with_output_does_not_change_the_context() -> None:
    output = {"k": 1}
    ctx = WorkflowContext.create("wf").with_output("s", output)
    output["k"] = 2
    output["extra"] = True
    assert ctx.get_output("s") == {"k": 1}


def test_mutating_the_dict_given_to_with_params_or_create_does_not_change_the_context() -> None:
    params = {"a": 1}
    updates = {"b": 2}
    ctx = WorkflowContext.create("wf", params=params).with_params(updates)
    params["a"] = 99
    updates["b"] = 99
    updates["c"] = 99
    assert ctx.params == {"a": 1, "b": 2}


def test_get_output_semantics() -> None:
    ctx = WorkflowContext.create("wf").with_output("s", {"k": 1, "n": None})
    assert ctx.get_output("s") == {"k": 1, "n": None}
    assert ctx.get_output("s", "k") == 1
    assert ctx.get_output("s", "missing") is None
    assert ctx.get_output("s", "missing", default=7) == 7
    assert ctx.get_output("s", "missing", 7) == 7
    assert ctx.get_output("other") is None
    assert ctx.get_output("other", default={}) == {}
    assert ctx.get_output("other", "k", default=0) == 0
    assert ctx.has_output("s")
    assert not ctx.has_output("other")


def test_get_param() -> None:
    ctx = WorkflowContext.create("wf", params={"tier": "T1", "zero": 0})
    assert ctx.get_param("tier") == "T1"
    assert ctx.get_param("zero", 5) == 0
    assert ctx.get_param("missing") is None
    assert ctx.get_param("missing", "dflt") == "dflt"


def test_direct_construction() -> None:
    empty = WorkflowContext()
    assert empty.params == {}
    assert empty.outputs == {}
    assert empty.partition == {}
    assert empty.workflow_name == ""
    assert isinstance(empty.run_id, str)
    assert empty.run_id
    assert WorkflowContext().run_id != empty.run_id

    ctx = WorkflowContext(params={"a": 1})
    assert ctx.params == {"a": 1}
    assert ctx.get_param("a") == 1

    full = WorkflowContext(
        workflow_name="wf",
        params={"a": 1},
        outputs={"s": {"k": 2}},
        partition={"p": "x"},
        run_id="run-1",
    )
    assert full.run_id == "run-1"
    assert full.workflow_name == "wf"
    assert full.get_output("s", "k") == 2
    assert full.partition == {"p": "x"}


def test_empty_context_params_equal_empty_dict() -> None:
    assert WorkflowContext.create("wf").params == {}
    assert WorkflowContext().params == {}
    assert {} == WorkflowContext().params  # noqa: SIM300 - equality both ways
    assert WorkflowContext(params={"a": 1}).params != {}


def test_create_gives_fresh_run_ids_unless_given() -> None:
    a = WorkflowContext.create("wf")
    b = WorkflowContext.create("wf")
    assert a.run_id != b.run_id
    assert WorkflowContext.create("wf", run_id="fixed").run_id == "fixed"


def test_to_dict_is_json_serialisable_and_round_trips() -> None:
    ctx = (
        WorkflowContext.create(
            "wf", params={"week": "2026-01-10", "n": 3}, partition={"tier": "NMS_TIER_1"}
        )
        .with_output("ingest", {"rows": 10, "files": ["a", "b"]})
        .with_params({"validated": True})
    )
    data = ctx.to_dict()
    text = json.dumps(data)
    restored = WorkflowContext.from_dict(json.loads(text))
    assert restored == ctx
    assert restored.run_id == ctx.run_id
    assert restored.workflow_name == "wf"
    assert restored.params == {"week": "2026-01-10", "n": 3, "validated": True}
    assert restored.outputs == {"ingest": {"rows": 10, "files": ["a", "b"]}}
    assert restored.partition == {"tier": "NMS_TIER_1"}
    assert restored.execution.execution_id == ctx.execution.execution_id


def test_to_dict_values_are_plain_types() -> None:
    ctx = WorkflowContext.create("wf", params={"a": 1}).with_output("s", {"k": 1})
    data = ctx.to_dict()
    assert type(data["params"]) is dict
    assert type(data["outputs"]) is dict
    assert type(data["outputs"]["s"]) is dict
    assert type(data["partition"]) is dict
    # the returned data is a copy: changing it leaves the context alone
    data["params"]["a"] = 2
    data["outputs"]["s"]["k"] = 2
    assert ctx.params == {"a": 1}
    assert ctx.get_output("s") == {"k": 1}


def test_contexts_with_different_content_are_not_equal() -> None:
    ctx = WorkflowContext.create("wf", params={"a": 1})
    assert ctx.with_params({"a": 2}) != ctx
    assert ctx.with_output("s", {}) != ctx


def test_outputs_keep_insertion_order() -> None:
    names = ["zeta", "alpha", "mid", "beta", "omega"]
    ctx = WorkflowContext.create("wf")
    for i, name in enumerate(names):
        ctx = ctx.with_output(name, {"i": i})
    assert list(ctx.outputs) == names
    # replacing an output keeps its position
    ctx = ctx.with_output("alpha", {"i": 99})
    assert list(ctx.outputs) == names
    assert list(ctx.to_dict()["outputs"]) == names
    assert list(WorkflowContext.from_dict(ctx.to_dict()).outputs) == names


def test_params_keep_insertion_order() -> None:
    ctx = WorkflowContext.create("wf", params={"z": 1, "a": 2}).with_params({"m": 3, "z": 4})
    assert list(ctx.params) == ["z", "a", "m"]


# -- properties ----------------------------------------------------------------------

keys = st.text(min_size=1, max_size=8)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=10,
)
json_dicts = st.dictionaries(keys, json_values, max_size=5)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("output"), keys, json_dicts),
        st.tuples(st.just("params"), st.none(), json_dicts),
    ),
    max_size=15,
)


@settings(max_examples=100, deadline=None)
@given(initial=json_dicts, ops=operations)
def test_with_operations_match_a_dict_model_and_never_change_earlier_contexts(
    initial: dict[str, Any], ops: list[tuple[str, str | None, dict[str, Any]]]
) -> None:
    ctx = WorkflowContext.create("wf", params=initial)
    params_model = dict(initial)
    outputs_model: dict[str, dict[str, Any]] = {}
    history = [(ctx, dict(params_model), dict(outputs_model))]
    for kind, step, values in ops:
        if kind == "output":
            assert step is not None
            ctx = ctx.with_output(step, values)
            outputs_model[step] = dict(values)
        else:
            ctx = ctx.with_params(values)
            params_model.update(values)
        history.append((ctx, dict(params_model), dict(outputs_model)))

    run_id = history[0][0].run_id
    for snapshot, params, outputs in history:
        assert snapshot.params == params
        assert snapshot.outputs == outputs
        assert list(snapshot.params) == list(params)
        assert list(snapshot.outputs) == list(outputs)
        assert snapshot.run_id == run_id
        for step, output in outputs.items():
            assert snapshot.has_output(step)
            if output:
                assert snapshot.get_output(step) == output


@settings(max_examples=100, deadline=None)
@given(
    params=json_dicts,
    outputs=st.dictionaries(keys, json_dicts, max_size=5),
    partition=st.dictionaries(keys, st.text(max_size=6), max_size=3),
    updates=json_dicts,
)
def test_to_dict_from_dict_round_trip(
    params: dict[str, Any],
    outputs: dict[str, dict[str, Any]],
    partition: dict[str, str],
    updates: dict[str, Any],
) -> None:
    ctx = WorkflowContext.create("wf", params=params, partition=partition)
    for step, output in outputs.items():
        ctx = ctx.with_output(step, output)
    ctx = ctx.with_params(updates)

    data = json.loads(json.dumps(ctx.to_dict()))
    restored = WorkflowContext.from_dict(data)
    assert restored == ctx
    assert restored.run_id == ctx.run_id
    assert restored.workflow_name == ctx.workflow_name
    assert restored.params == {**params, **updates}
    assert restored.outputs == outputs
    assert restored.partition == partition
