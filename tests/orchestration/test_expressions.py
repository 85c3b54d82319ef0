"""The expression language of choice conditions: what it accepts, rejects and means."""

from __future__ import annotations

import contextlib
import pickle
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spine.core.errors import ExpressionError
from spine.orchestration import (
    Expression,
    Step,
    Workflow,
    WorkflowContext,
    WorkflowRunner,
    compile_condition,
)
from spine.orchestration.expressions import MAX_DEPTH, MAX_LENGTH

CONTEXT = WorkflowContext(
    params={
        "tier": "T1",
        "n": 7,
        "ratio": 0.5,
        "weeks": ["2026-01-03", "2026-01-10"],
        "batch": {"items": [1, 2, 3], "dotted.key": "x"},
        "flag": False,
        "empty": [],
    },
    outputs={"validate": {"record_count": 120, "ok": True}, "finra.ingest": {"rows": 3}},
    partition={"region": "eu"},
)


def value(source: str) -> Any:
    return compile_condition(source).evaluate(CONTEXT)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("outputs.validate.record_count > 0 and params.tier == 'NMS_TIER_1'", False),
        ("outputs.validate.record_count > 100 and params.tier == 'T1'", True),
        ("params.n", 7),
        ("params['n'] == params.n", True),
        ("params.batch.items[0]", 1),
        ("params.batch.items[-1]", 3),
        ("params.batch['dotted.key']", "x"),
        ("outputs['finra.ingest'].rows", 3),
        ("partition.region", "eu"),
        ("params.tier in ['T1', 'T2']", True),
        ("params.tier not in ('T1',)", False),
        ("'2026-01-10' in params.weeks", True),
        ("'validate' in outputs", True),
        ("'T' in params.tier", True),
        ("0 < params.n <= 7", True),
        ("0 < params.n < 7", False),
        ("params.ratio * 4 + 1 == 3", True),
        ("params.n // 2 == 3 and params.n % 2 == 1", True),
        ("params.n / 2", 3.5),
        ("-params.n", -7),
        ("not params.flag", True),
        ("params.flag or 'fallback'", "fallback"),
        ("params.n and params.tier", "T1"),
        ("len(params.weeks) == 2", True),
        ("len(outputs)", 2),
        ("len(params.tier)", 2),
        ("abs(params.ratio - 1)", 0.5),
        ("max(params.batch.items)", 3),
        ("min(params.n, 3, 5)", 3),
        ("max('a', 'b')", "b"),
        ("true and not false", True),
        ("True != False", True),
        ("params.empty == []", True),
        ("params.batch.items == [1, 2, 3]", True),
        ("outputs.validate.ok == true", True),
        ("'a' < 'b'", True),
        ("1.5e3 > 1000", True),
    ],
)
def test_allowed_forms(source: str, expected: Any) -> None:
    assert value(source) == expected


@pytest.mark.parametrize(
    "source",
    [
        "params.missing",
        "outputs.never_ran.count",
        "outputs.never_ran.count.deeper",
        "params.weeks[5]",
        "params.weeks[-3]",
        "params[0]",
        "null",
        "None",
    ],
)
def test_a_missing_value_is_null(source: str) -> None:
    assert value(source) is None


def test_null_can_be_tested_and_defaulted() -> None:
    assert value("params.missing is null") is True
    assert value("params.missing is not None") is False
    assert value("params.n is not null") is True
    assert value("params.missing == null") is True
    assert value("(outputs.never_ran.count or 0) > 0") is False


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("params.missing > 0", "cannot compare null > a number"),
        ("params.tier < 3", "cannot compare text < a number"),
        ("params.weeks >= params.weeks", "cannot compare a list >= a list"),
        ("params.n / 0", "division by zero"),
        ("params.tier * 3", "arithmetic needs numbers, got text and a number"),
        ("params.weeks + params.weeks", "arithmetic needs numbers"),
        ("-params.tier", "a sign needs a number"),
        ("len(params.n)", "len() needs text, a list or a mapping, got a number"),
        ("abs(params.tier)", "abs() needs a number"),
        ("max(params.n, params.tier)", "needs numbers or texts"),
        ("min(params.empty)", "needs at least one value"),
        ("params.n in params.tier", "cannot look for a number in text"),
        ("1 in params.n", "`in` needs a list, a mapping or text, got a number"),
        ("params.weeks in outputs", "cannot look for a list in a mapping"),
        ("params.weeks.first", "cannot read 'first' of a list"),
        ("params.weeks['a']", "cannot read 'a' of a list (items are read by number)"),
        ("params.n.digits", "cannot read 'digits' of a number"),
    ],
)
def test_a_value_of_the_wrong_kind_raises_naming_the_condition(source: str, fragment: str) -> None:
    expression = compile_condition(source)

    with pytest.raises(ExpressionError) as caught:
        expression(CONTEXT)

    assert fragment in str(caught.value)
    assert repr(source) in str(caught.value)
    assert caught.value.expression == source


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("().__class__.__bases__", "'__class__': names starting with __ cannot be read"),
        ("params.__class__", "names starting with __"),
        ("params.__dict__", "names starting with __"),
        ("__import__('os')", "the only functions are len(), abs(), min(), max()"),
        ("__import__('os').system('true')", "the only functions are"),
        ("open('/etc/passwd')", "the only functions are"),
        ("getattr(params, 'x')", "the only functions are"),
        ("params.tier.lower()", "the only functions are"),
        ("len(params.weeks, 1)", "len() takes 1 argument"),
        ("len(obj=params.weeks)", "keyword arguments"),
        ("lambda: 1", "a lambda"),
        ("[w for w in params.weeks]", "a comprehension"),
        ("any(w for w in params.weeks)", "the only functions are"),
        ("{k: 1 for k in params}", "a comprehension"),
        ("f'{params.tier}'", "an f-string"),
        ("params.n if params.flag else 0", "a conditional expression"),
        ("(x := 1)", "an assignment"),
        ("params.weeks[0:1]", "a slice"),
        ("{'a': 1}", "a mapping literal"),
        ("{1, 2}", "a set literal"),
        ("[*params.weeks]", "unpacking"),
        ("2 ** 64", "the operators are + - * / // %"),
        ("1 << 8", "the operators are"),
        ("1 & 1", "the operators are"),
        ("~1", "~ is not in the language"),
        ("b'bytes'", "only text, numbers, booleans and null"),
        ("1j", "only text, numbers, booleans and null"),
        ("...", "only text, numbers, booleans and null"),
        ("os", "unknown name 'os'; a condition reads params, outputs, partition"),
        ("ctx.params", "unknown name 'ctx'"),
        ("params.n is 1", "`is` only compares with null"),
        ("await params", "await"),
        ("import os", "not a valid expression"),
        ("x = 1", "not a valid expression"),
        ("params.n >", "not a valid expression"),
        ("a\x00b", "not a valid expression"),
        ("params.path == '\\d'", "invalid escape sequence"),
        ("", "the condition is empty"),
        ("   ", "the condition is empty"),
    ],
)
def test_forms_outside_the_language_are_rejected_when_compiled(source: str, fragment: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_condition(source)

    assert fragment in str(caught.value)


def test_every_offending_piece_is_reported() -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_condition("__import__('os') or params.__class__ or (lambda: 1) or secret")

    problems = caught.value.problems
    assert len(problems) == 4
    assert problems[0].startswith("`__import__('os')` is not allowed")
    assert problems[1].startswith("`params.__class__` is not allowed")
    assert problems[2].startswith("`lambda: 1` is not allowed")
    assert problems[3].startswith("`secret` is not allowed")


def test_very_long_input_is_refused() -> None:
    with pytest.raises(ExpressionError, match=f"at most {MAX_LENGTH} are accepted"):
        compile_condition("params.n + " * 200 + "1")


@pytest.mark.parametrize(
    "source",
    [
        "-" * 200 + "1",
        "not " * 100 + "true",
        " + ".join(["1"] * (MAX_DEPTH + 5)),
        "[" * 90 + "]" * 90,
        "params" + ".a" * 100,
    ],
)
def test_deep_input_is_refused(source: str) -> None:
    with pytest.raises(ExpressionError, match="nested deeper than"):
        compile_condition(source)


def test_deeper_than_the_parser_allows_is_refused() -> None:
    with pytest.raises(ExpressionError, match="not a valid expression"):
        compile_condition("(" * 300 + "1" + ")" * 300)


def test_non_text_is_refused() -> None:
    with pytest.raises(ExpressionError, match="a condition is text, got int"):
        compile_condition(1)  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120))
def test_any_text_compiles_or_raises_expression_error(source: str) -> None:
    try:
        expression = compile_condition(source)
    except ExpressionError:
        return
    with contextlib.suppress(ExpressionError):
        expression(CONTEXT)


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        st.sampled_from(["params.n", "params.tier", "params.weeks", "1", "'x'", "null"]),
        lambda inner: st.tuples(
            inner, st.sampled_from([" and ", " or ", " == ", " < ", " + ", " in "]), inner
        ).map(lambda parts: f"({''.join(parts)})"),
        max_leaves=12,
    )
)
def test_generated_conditions_evaluate_or_raise_expression_error(source: str) -> None:
    with contextlib.suppress(ExpressionError):
        compile_condition(source)(CONTEXT)


def test_an_expression_is_a_condition_of_a_choice_step() -> None:
    workflow = Workflow(
        "expr.choice",
        [
            Step.choice("route", compile_condition("params.n > 5"), "big", else_step="small"),
            Step.lambda_("big", lambda ctx, cfg: None),
            Step.lambda_("small", lambda ctx, cfg: None),
        ],
    )
    with WorkflowRunner() as runner:
        assert runner.execute(workflow, params={"n": 9}).completed_steps == ["route", "big"]
        assert runner.execute(workflow, params={"n": 1}).completed_steps == ["route", "small"]
        failed = runner.execute(workflow, params={})

    assert failed.status == "FAILED"
    assert failed.error_step == "route"
    assert failed.error is not None
    assert "ExpressionError: condition 'params.n > 5': `params.n > 5`" in failed.error
    assert "cannot compare null > a number" in failed.error


def test_expressions_compare_by_their_text() -> None:
    one = compile_condition(" params.n > 1 ")

    assert one == compile_condition("params.n > 1")
    assert one != compile_condition("params.n > 2")
    assert hash(one) == hash(compile_condition("params.n > 1"))
    assert one.source == "params.n > 1"
    assert repr(one) == "Expression('params.n > 1')"
    assert isinstance(one, Expression)
    assert one(CONTEXT) is True


def test_an_expression_pickles_by_its_text() -> None:
    # Map items may run in another process, their workflow pickled.
    copy = pickle.loads(pickle.dumps(compile_condition("params.n > 5")))

    assert copy == compile_condition("params.n > 5")
    assert copy(CONTEXT) is True
