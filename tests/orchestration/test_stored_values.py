"""Values a run stores read back exactly, or are refused before anything is written:
non-finite floats, keys that are not strings, self-references, deep nesting, names a
database cannot keep (each on SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from typing import Any

import pytest

from spine.core.errors import ScheduleValidationError, WorkflowValidationError
from spine.core.jsonvalue import JsonValueError, decode, encode
from spine.orchestration import (
    Schedule,
    Step,
    StepResult,
    Workflow,
    WorkflowContext,
    WorkflowRunner,
    WorkflowStatus,
)
from spine.store.codec import storable_text

MakeRunner = Callable[..., WorkflowRunner]


def _strict(text: str) -> Any:
    """Parse as RFC 8259 JSON: no NaN, Infinity or -Infinity literals."""

    def refuse(constant: str) -> Any:
        raise AssertionError(f"non-strict JSON constant {constant} in {text[:80]!r}")

    return json.loads(text, parse_constant=refuse)


def _all_json_text(runner: WorkflowRunner, run_id: str) -> list[str]:
    stored = runner.store.load_run(run_id)  # type: ignore[union-attr]
    texts = [s.output_json for s in stored.steps] + [s.context_updates_json for s in stored.steps]
    return [*texts, encode(stored.run.outputs or {}), encode(stored.run.params)]


def test_non_finite_floats_read_back_exactly_after_a_resume(
    database_url: str, make_runner: MakeRunner
) -> None:
    seen: list[tuple[float, float, float]] = []

    def produce(ctx: WorkflowContext, config: dict[str, Any]) -> dict[str, Any]:
        return {"nan": math.nan, "inf": math.inf, "ninf": -math.inf, "list": [math.inf]}

    def consume(ctx: WorkflowContext, config: dict[str, Any]) -> StepResult:
        out = ctx.get_output("produce")
        seen.append((out["nan"], out["inf"], out["ninf"]))
        if len(seen) == 1:
            return StepResult.fail("once", category="TRANSIENT")
        return StepResult.ok(output={"ok": out["list"][0] == math.inf})

    workflow = Workflow(
        "values.nonfinite", [Step.lambda_("produce", produce), Step.lambda_("consume", consume)]
    )
    runner = make_runner(database_url=database_url)
    failed = runner.execute(workflow, params={"threshold": math.nan})
    done = runner.resume(failed.run_id, workflow)

    assert done.status == WorkflowStatus.COMPLETED
    assert len(seen) == 2
    for nan, inf, ninf in seen:
        assert math.isnan(nan)
        assert (inf, ninf) == (math.inf, -math.inf)
    assert done.context.get_output("consume", "ok") is True
    assert math.isnan(done.context.params["threshold"])
    for text in _all_json_text(runner, done.run_id):
        _strict(text)


def test_a_key_that_is_not_a_string_fails_the_step_naming_its_path(
    database_url: str, make_runner: MakeRunner
) -> None:
    calls = {"next": 0}

    def reader(ctx: WorkflowContext, config: dict[str, Any]) -> None:
        calls["next"] += 1

    workflow = Workflow(
        "values.intkey",
        [
            Step.lambda_("keys", lambda ctx, cfg: {"by_id": {1: "x"}}),
            Step.lambda_("reader", reader),
        ],
    )
    result = make_runner(database_url=database_url).execute(workflow)

    assert result.status == WorkflowStatus.FAILED
    assert result.error_step == "keys"
    assert "output['by_id'] key 1 cannot be stored as JSON: it is an int" in (result.error or "")
    assert calls["next"] == 0


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        ("deep", "nested more than"),
        ("cycle", "contains itself"),
        ("object", "it is an object"),
    ],
)
def test_outputs_the_encoder_cannot_take_fail_the_step_and_end_the_run(
    database_url: str, make_runner: MakeRunner, shape: str, expected: str
) -> None:
    def poison(ctx: WorkflowContext, config: dict[str, Any]) -> dict[str, Any]:
        if shape == "deep":
            value: dict[str, Any] = {}
            top = value
            for _ in range(10_000):
                value["a"] = {}
                value = value["a"]
            return {"tree": top}
        if shape == "cycle":
            loop: dict[str, Any] = {}
            loop["me"] = loop
            return {"loop": loop}
        return {"thing": object()}

    runner = make_runner(database_url=database_url)
    started = time.monotonic()
    result = runner.execute(Workflow(f"values.{shape}", [Step.lambda_("poison", poison)]))

    assert time.monotonic() - started < 20
    assert result.status == WorkflowStatus.FAILED
    assert f"workflow 'values.{shape}', step 'poison'" in (result.error or "")
    assert expected in (result.error or "")
    stored = runner.store.load_run(result.run_id).run  # type: ignore[union-attr]
    assert stored.status == WorkflowStatus.FAILED


def test_an_error_message_with_a_nul_is_stored_escaped(
    database_url: str, make_runner: MakeRunner
) -> None:
    def broken(ctx: WorkflowContext, config: dict[str, Any]) -> None:
        raise ValueError("bad byte \x00 here")

    runner = make_runner(database_url=database_url)
    result = runner.execute(Workflow("values.nul_error", [Step.lambda_("broken", broken)]))

    stored = runner.store.load_run(result.run_id)  # type: ignore[union-attr]
    assert stored.run.status == WorkflowStatus.FAILED
    assert "bad byte \\x00 here" in (stored.run.error or "")
    assert "\\x00" in (stored.steps[0].error or "")
    # (A lone surrogate is escaped the same way; it is not raised here because the
    # test runner's workers cannot pass such text between processes.)
    assert storable_text("a \udc80 b") == "a \\udc80 b"


@pytest.mark.parametrize("bad", ["with\x00nul", "lone \udc80 surrogate"])
def test_names_a_database_cannot_keep_are_refused_when_defined(bad: str) -> None:
    with pytest.raises(WorkflowValidationError, match="name"):
        Workflow(bad, [Step.lambda_("s", lambda c, k: None)])
    with pytest.raises(WorkflowValidationError, match=r"steps\[0\]\.name"):
        Workflow("fine", [Step.lambda_(bad, lambda c, k: None)])
    with pytest.raises(ScheduleValidationError, match="name"):
        Schedule(bad, "fine", "0 6 * * *")


def test_the_codec_round_trips_and_refuses_clearly() -> None:
    value = {"a": [1, 2.5, None, True, "x", {"b": math.nan}], "c": {"d": -math.inf}}
    text = encode(value)
    _strict(text)
    back = decode(text)
    assert math.isnan(back["a"][5]["b"])
    assert back["c"]["d"] == -math.inf
    assert back["a"][:5] == [1, 2.5, None, True, "x"]
    assert decode(encode({"__spine_float__": 1, "other": 2})) == {"__spine_float__": 1, "other": 2}
    with pytest.raises(JsonValueError, match="reserves"):
        encode({"x": {"__spine_float__": "NaN"}})
    with pytest.raises(JsonValueError, match=r"value\['s'\] cannot be stored as JSON: it is a set"):
        encode({"s": {1}})


def test_quality_metrics_that_cannot_be_stored_fail_the_step_not_the_run_record(
    database_url: str, make_runner: MakeRunner
) -> None:
    from spine.orchestration import QualityMetrics

    def measured(ctx: WorkflowContext, config: dict[str, Any]) -> StepResult:
        quality = QualityMetrics(record_count=3, valid_count=3,
                                 custom_metrics={"by_year": {2024: 3}})  # fmt: skip
        return StepResult.ok(output={"n": 3}, quality=quality)

    runner = make_runner(database_url=database_url)
    result = runner.execute(Workflow("values.quality", [Step.lambda_("measured", measured)]))

    assert result.status == WorkflowStatus.FAILED
    assert "quality" in (result.error or "")
    assert runner.store.load_run(result.run_id).run.status == WorkflowStatus.FAILED  # type: ignore[union-attr]


def test_an_integer_too_long_for_text_is_refused_with_its_field() -> None:
    with pytest.raises(JsonValueError, match="output cannot be stored"):
        encode({"big": 10**5000}, "output")
    with pytest.raises(JsonValueError, match=r"turns True into \"true\""):
        encode({True: 1})
