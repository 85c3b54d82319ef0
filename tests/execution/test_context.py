"""ExecutionContext: identity and lineage of one execution."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import UTC

import pytest

from spine.execution import ExecutionContext


def test_defaults() -> None:
    ctx = ExecutionContext()

    assert str(uuid.UUID(ctx.execution_id)) == ctx.execution_id
    assert ctx.started_at.tzinfo is not None
    assert ctx.started_at.utcoffset() == UTC.utcoffset(None)
    assert ctx.parent_execution_id is None
    assert ctx.batch_id is None
    assert ctx.run_id is None
    assert ctx.workflow_name is None
    assert ctx.step_name is None
    assert dict(ctx.partition) == {}
    assert ctx.attempt == 1


def test_execution_ids_are_unique() -> None:
    assert len({ExecutionContext().execution_id for _ in range(100)}) == 100


def test_child_links_to_parent_and_inherits() -> None:
    parent = ExecutionContext(
        batch_id="batch-1", run_id="run-1", workflow_name="wf", partition={"tier": "T1"}
    )

    child = parent.child(step_name="load", attempt=2)

    assert child.parent_execution_id == parent.execution_id
    assert child.execution_id != parent.execution_id
    assert child.run_id == "run-1"
    assert child.workflow_name == "wf"
    assert child.batch_id == "batch-1"
    assert dict(child.partition) == {"tier": "T1"}
    assert child.step_name == "load"
    assert child.attempt == 2


def test_child_overrides_inherited_fields() -> None:
    parent = ExecutionContext(batch_id="b", run_id="run-1", workflow_name="wf")

    child = parent.child(run_id="run-2", workflow_name="inner", partition={"i": 3})

    assert child.run_id == "run-2"
    assert child.workflow_name == "inner"
    assert dict(child.partition) == {"i": 3}
    assert child.batch_id == "b"
    assert child.parent_execution_id == parent.execution_id
    grandchild = child.child()
    assert grandchild.parent_execution_id == child.execution_id
    assert grandchild.run_id == "run-2"


def test_with_batch_keeps_identity() -> None:
    ctx = ExecutionContext(run_id="r")

    batched = ctx.with_batch("batch-9")

    assert batched.batch_id == "batch-9"
    assert batched.execution_id == ctx.execution_id
    assert batched.run_id == "r"
    assert ctx.batch_id is None


def test_to_dict_from_dict_round_trip() -> None:
    parent = ExecutionContext(batch_id="b", run_id="r", workflow_name="wf", partition={"p": 1})
    ctx = parent.child(step_name="s", attempt=3)

    data = ctx.to_dict()
    restored = ExecutionContext.from_dict(json.loads(json.dumps(data)))

    assert isinstance(data["started_at"], str)
    assert restored == ctx
    assert restored.to_dict() == data


def test_from_dict_of_minimal_data_fills_defaults() -> None:
    restored = ExecutionContext.from_dict({"execution_id": "e-1"})

    assert restored.execution_id == "e-1"
    assert restored.attempt == 1
    assert restored.started_at.tzinfo is not None


def test_frozen() -> None:
    ctx = ExecutionContext()

    with pytest.raises(dataclasses.FrozenInstanceError):
        ctx.run_id = "other"  # type: ignore[misc]
    assert ctx.run_id is None
