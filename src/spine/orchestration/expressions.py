"""Conditions written as text: the small, safe expression language of YAML choice steps.

``compile_condition("outputs.check.rows > 0 and params.tier == 'T1'")`` returns an
:class:`Expression`, a callable ``(WorkflowContext) -> bool`` usable as a choice
step's ``condition``. The text is parsed by Python's own parser (``ast``, mode
``"eval"``), then only an explicit whitelist of forms is accepted and turned into
plain closures, once. Nothing reaches ``eval`` or ``compile``, no attribute of a
Python object is ever read (``a.b`` reads the key ``"b"`` of a mapping), and only
the functions listed in ``FUNCTIONS`` can be called; so a condition can read the
run's params and outputs and nothing else.

The language (docs/yaml-workflows.md has the user's version):

- the names ``params``, ``outputs`` and ``partition`` (the context's mappings), and
  ``true``/``false``/``null`` (or ``True``/``False``/``None``);
- ``x.key`` and ``x["key"]`` read a key of a mapping, ``x[0]`` an item of a list. A
  missing key, an index past the end, and anything read from ``null`` are ``null``;
- literals: text, numbers, booleans, ``null``, lists ``[1, 2]`` and tuples ``(1, 2)``;
- ``==  !=  <  <=  >  >=`` (chains too), ``in``/``not in``, ``is null``/``is not null``;
- ``and``/``or``/``not`` (``a or b`` gives ``a`` if it is true, else ``b``, as in Python);
- ``+ - * / // %`` and unary ``-``/``+`` on numbers;
- ``len(x)``, ``abs(x)``, ``min(...)``, ``max(...)``.

A value of the wrong kind (``null > 0``, ``"a" < 1``, ``1 / 0``) raises
:class:`~spine.core.errors.ExpressionError` when evaluated, which fails the choice
step with a message quoting the condition: a missing value is never silently
taken as false.
"""

from __future__ import annotations

import ast
import warnings
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from spine.core.errors import ExpressionError

if TYPE_CHECKING:
    from spine.orchestration.workflow_context import WorkflowContext

MAX_LENGTH = 1_000
"""Longest condition text accepted, in characters."""
MAX_DEPTH = 32
"""Deepest nesting accepted (``a + b + c`` is two levels): keeps compiling and
evaluating far from Python's recursion limit, whatever the input."""

ROOTS = ("params", "outputs", "partition")
"""The names a condition can read, each one of the context's mappings."""
_CONSTANTS: dict[str, object] = {"true": True, "false": False, "null": None}

Scope = Mapping[str, Any]
Evaluator = Callable[[Scope], Any]


class _Failure(Exception):
    """An evaluation went wrong; :class:`Expression` adds the condition's text."""


def _kind(value: object) -> str:
    """The language's name for the kind of ``value``, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if _is_number(value):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    return f"a {type(value).__name__}"


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _member(container: object, key: object, piece: str) -> Any:
    if container is None:
        return None
    if isinstance(container, Mapping):
        return container.get(key) if isinstance(key, str) else None
    if isinstance(container, list | tuple):
        if not isinstance(key, int) or isinstance(key, bool):
            raise _Failure(f"`{piece}`: cannot read {key!r} of a list (items are read by number)")
        return container[key] if -len(container) <= key < len(container) else None
    raise _Failure(f"`{piece}`: cannot read {key!r} of {_kind(container)}")


# -- operators ------------------------------------------------------------------------


def _ordered(op: Callable[[Any, Any], bool], symbol: str) -> Callable[[Any, Any, str], bool]:
    def compare(left: Any, right: Any, piece: str) -> bool:
        if (_is_number(left) and _is_number(right)) or (
            isinstance(left, str) and isinstance(right, str)
        ):
            return op(left, right)
        raise _Failure(f"`{piece}`: cannot compare {_kind(left)} {symbol} {_kind(right)}")

    return compare


def _contains(needle: Any, haystack: Any, piece: str) -> bool:
    if isinstance(haystack, str):
        if not isinstance(needle, str):
            raise _Failure(f"`{piece}`: cannot look for {_kind(needle)} in text")
        return needle in haystack
    if isinstance(haystack, list | tuple | Mapping):
        try:
            return needle in haystack
        except TypeError:  # a list looked up among a mapping's keys
            raise _Failure(f"`{piece}`: cannot look for {_kind(needle)} in a mapping") from None
    raise _Failure(f"`{piece}`: `in` needs a list, a mapping or text, got {_kind(haystack)}")


_COMPARISONS: dict[type[ast.cmpop], Callable[[Any, Any, str], bool]] = {
    ast.Eq: lambda a, b, _: bool(a == b),
    ast.NotEq: lambda a, b, _: bool(a != b),
    ast.Lt: _ordered(lambda a, b: a < b, "<"),
    ast.LtE: _ordered(lambda a, b: a <= b, "<="),
    ast.Gt: _ordered(lambda a, b: a > b, ">"),
    ast.GtE: _ordered(lambda a, b: a >= b, ">="),
    ast.In: _contains,
    ast.NotIn: lambda a, b, piece: not _contains(a, b, piece),
    ast.Is: lambda a, _b, _: a is None,
    ast.IsNot: lambda a, _b, _: a is not None,
}

_ARITHMETIC: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.FloorDiv: lambda a, b: a // b,
    ast.Mod: lambda a, b: a % b,
}


def _numbers(values: tuple[Any, ...], piece: str) -> tuple[Any, ...]:
    """``values``, or the items of a single list argument; all numbers or all text."""
    if len(values) == 1 and isinstance(values[0], list | tuple):
        values = tuple(values[0])
    if not values:
        raise _Failure(f"`{piece}`: needs at least one value")
    if all(_is_number(v) for v in values) or all(isinstance(v, str) for v in values):
        return values
    raise _Failure(f"`{piece}`: needs numbers or texts, got {', '.join(map(_kind, values))}")


def _length(values: tuple[Any, ...], piece: str) -> int:
    (value,) = values
    if isinstance(value, str | list | tuple | Mapping):
        return len(value)
    raise _Failure(f"`{piece}`: len() needs text, a list or a mapping, got {_kind(value)}")


def _absolute(values: tuple[Any, ...], piece: str) -> Any:
    (value,) = values
    if _is_number(value):
        return abs(value)
    raise _Failure(f"`{piece}`: abs() needs a number, got {_kind(value)}")


FUNCTIONS: dict[str, tuple[Callable[[tuple[Any, ...], str], Any], int | None]] = {
    "len": (_length, 1),
    "abs": (_absolute, 1),
    "min": (lambda values, piece: min(_numbers(values, piece)), None),
    "max": (lambda values, piece: max(_numbers(values, piece)), None),
}
"""The callable functions: name -> (implementation, number of arguments or None for any)."""

_FORBIDDEN = {
    ast.Lambda: "a lambda",
    ast.ListComp: "a comprehension",
    ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension",
    ast.GeneratorExp: "a comprehension",
    ast.NamedExpr: "an assignment (:=)",
    ast.JoinedStr: "an f-string",
    ast.IfExp: "a conditional expression (x if c else y)",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
    ast.Starred: "unpacking (*x)",
    ast.Slice: "a slice",
    ast.Dict: "a mapping literal",
    ast.Set: "a set literal",
}


# -- the compiler ---------------------------------------------------------------------


class _Compiler:
    """Turns an accepted syntax tree into closures, recording every rejected piece."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[str] = []
        # The whitelist: a node of any other type is rejected.
        self.handlers: dict[type[ast.AST], Callable[[Any, int], Evaluator]] = {
            ast.Constant: self.constant,
            ast.Name: self.name,
            ast.Attribute: self.attribute,
            ast.Subscript: self.subscript,
            ast.List: self.list_,
            ast.Tuple: self.tuple_,
            ast.BoolOp: self.bool_op,
            ast.UnaryOp: self.unary_op,
            ast.BinOp: self.bin_op,
            ast.Compare: self.compare,
            ast.Call: self.call,
        }

    def piece(self, node: ast.AST) -> str:
        return ast.get_source_segment(self.source, node) or type(node).__name__

    def reject(self, node: ast.AST, why: str) -> Evaluator:
        self.problems.append(f"`{self.piece(node)}` is not allowed: {why}")
        return _null

    def visit(self, node: ast.AST, depth: int = 0) -> Evaluator:
        if depth > MAX_DEPTH:
            return self.reject(node, f"nested deeper than {MAX_DEPTH} levels")
        handler = self.handlers.get(type(node))
        if handler is None:
            what = _FORBIDDEN.get(type(node), f"{type(node).__name__} is not in the language")
            return self.reject(node, what)
        return handler(node, depth + 1)

    def constant(self, node: ast.Constant, depth: int) -> Evaluator:
        value = node.value
        if value is not None and not isinstance(value, str | int | float | bool):
            return self.reject(node, "only text, numbers, booleans and null are values")
        return lambda scope: value

    def name(self, node: ast.Name, depth: int) -> Evaluator:
        name = node.id
        if name in ROOTS:
            return lambda scope: scope[name]
        if name in _CONSTANTS:
            constant = _CONSTANTS[name]
            return lambda scope: constant
        roots = ", ".join(ROOTS)
        return self.reject(node, f"unknown name {name!r}; a condition reads {roots}")

    def attribute(self, node: ast.Attribute, depth: int) -> Evaluator:
        container = self.visit(node.value, depth)
        if node.attr.startswith("__"):
            return self.reject(node, f"{node.attr!r}: names starting with __ cannot be read")
        key, piece = node.attr, self.piece(node)
        return lambda scope: _member(container(scope), key, piece)

    def subscript(self, node: ast.Subscript, depth: int) -> Evaluator:
        container = self.visit(node.value, depth)
        key = self.visit(node.slice, depth)
        piece = self.piece(node)
        return lambda scope: _member(container(scope), key(scope), piece)

    def list_(self, node: ast.List, depth: int) -> Evaluator:
        items = [self.visit(item, depth) for item in node.elts]
        return lambda scope: [item(scope) for item in items]

    def tuple_(self, node: ast.Tuple, depth: int) -> Evaluator:
        items = [self.visit(item, depth) for item in node.elts]
        return lambda scope: tuple(item(scope) for item in items)

    def bool_op(self, node: ast.BoolOp, depth: int) -> Evaluator:
        operands = [self.visit(value, depth) for value in node.values]
        stop_when = not isinstance(node.op, ast.And)

        def evaluate(scope: Scope) -> Any:
            value = None
            for operand in operands:
                value = operand(scope)
                if bool(value) is stop_when:
                    return value
            return value

        return evaluate

    def unary_op(self, node: ast.UnaryOp, depth: int) -> Evaluator:
        operand = self.visit(node.operand, depth)
        if isinstance(node.op, ast.Not):
            return lambda scope: not operand(scope)
        if isinstance(node.op, ast.Invert):
            return self.reject(node, "~ is not in the language")
        sign = -1 if isinstance(node.op, ast.USub) else 1
        piece = self.piece(node)

        def evaluate(scope: Scope) -> Any:
            value = operand(scope)
            if not _is_number(value):
                raise _Failure(f"`{piece}`: a sign needs a number, got {_kind(value)}")
            return sign * value

        return evaluate

    def bin_op(self, node: ast.BinOp, depth: int) -> Evaluator:
        op = _ARITHMETIC.get(type(node.op))
        if op is None:
            return self.reject(node, "the operators are + - * / // %")
        left = self.visit(node.left, depth)
        right = self.visit(node.right, depth)
        piece = self.piece(node)

        def evaluate(scope: Scope) -> Any:
            a, b = left(scope), right(scope)
            # Numbers only: "x" * 10**9 and list repetition would let params chosen
            # by whoever starts a run allocate without bound.
            if not (_is_number(a) and _is_number(b)):
                raise _Failure(
                    f"`{piece}`: arithmetic needs numbers, got {_kind(a)} and {_kind(b)}"
                )
            try:
                return op(a, b)
            except (ArithmeticError, ValueError) as exc:
                raise _Failure(f"`{piece}`: {exc}") from None

        return evaluate

    def compare(self, node: ast.Compare, depth: int) -> Evaluator:
        operands = [self.visit(node.left, depth)]
        tests = []
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            if isinstance(op, ast.Is | ast.IsNot) and not _is_null(comparator):
                return self.reject(node, "`is` only compares with null; use == to compare values")
            operands.append(self.visit(comparator, depth))
            tests.append(_COMPARISONS[type(op)])
        piece = self.piece(node)

        def evaluate(scope: Scope) -> bool:
            left = operands[0](scope)
            for test, operand in zip(tests, operands[1:], strict=True):
                right = operand(scope)
                if not test(left, right, piece):
                    return False
                left = right
            return True

        return evaluate

    def call(self, node: ast.Call, depth: int) -> Evaluator:
        name = node.func.id if isinstance(node.func, ast.Name) else ""
        if name not in FUNCTIONS:
            known = ", ".join(f"{f}()" for f in FUNCTIONS)
            return self.reject(node, f"the only functions are {known}")
        function, arity = FUNCTIONS[name]
        if node.keywords:
            return self.reject(node, "keyword arguments are not in the language")
        if arity is not None and len(node.args) != arity:
            return self.reject(node, f"{name}() takes {arity} argument")
        arguments = [self.visit(arg, depth) for arg in node.args]
        piece = self.piece(node)
        return lambda scope: function(tuple(arg(scope) for arg in arguments), piece)


def _null(scope: Scope) -> None:
    return None


def _is_null(node: ast.expr) -> bool:
    return (isinstance(node, ast.Constant) and node.value is None) or (
        isinstance(node, ast.Name) and node.id == "null"
    )


class Expression:
    """A compiled condition. ``expression(ctx)`` is its truth value for a context;
    :meth:`evaluate` gives the value itself. Two expressions of the same text are
    equal, and ``source`` keeps the text for messages and definition fingerprints."""

    __slots__ = ("_evaluate", "source")

    def __init__(self, source: str, evaluate: Evaluator) -> None:
        self.source = source
        self._evaluate = evaluate

    def evaluate(self, ctx: WorkflowContext) -> Any:
        """The expression's value in ``ctx``; raises ``ExpressionError`` for a value of
        the wrong kind."""
        scope = {"params": ctx.params, "outputs": ctx.outputs, "partition": ctx.partition}
        try:
            return self._evaluate(scope)
        except _Failure as exc:
            raise ExpressionError(
                f"condition {self.source!r}: {exc}", expression=self.source
            ) from None

    def __call__(self, ctx: WorkflowContext) -> bool:
        return bool(self.evaluate(ctx))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Expression) and other.source == self.source

    def __hash__(self) -> int:
        return hash(self.source)

    def __repr__(self) -> str:
        return f"Expression({self.source!r})"

    def __reduce__(self) -> tuple[Callable[[str], Expression], tuple[str]]:
        # By its text: the compiled closures cannot be pickled, and a map item's
        # workflow is pickled to run in another process.
        return compile_condition, (self.source,)


def compile_condition(source: str) -> Expression:
    """Compile ``source``; raises ``ExpressionError`` listing every piece outside the
    language (each quoted as written)."""
    if not isinstance(source, str):
        raise ExpressionError(
            f"a condition is text, got {type(source).__name__}", expression=repr(source)
        )
    text = source.strip()
    if not text:
        raise ExpressionError("the condition is empty", expression=source)
    if len(text) > MAX_LENGTH:
        raise ExpressionError(
            f"the condition is {len(text)} characters long; at most {MAX_LENGTH} are accepted",
            expression=text[:40] + "...",
        )
    try:
        with warnings.catch_warnings():
            # What the parser only warns about (an invalid escape such as \d) is refused
            # outright, so a condition means the same under every warnings filter.
            warnings.simplefilter("error")
            tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        column = f" (column {exc.offset})" if exc.offset else ""
        raise ExpressionError(
            f"not a valid expression: {exc.msg}{column}", expression=text
        ) from None
    except (ValueError, RecursionError, MemoryError) as exc:
        # Null bytes, and inputs too deep for the parser itself.
        raise ExpressionError(f"not a valid expression: {exc}", expression=text) from None
    compiler = _Compiler(text)
    evaluate = compiler.visit(tree.body)
    if compiler.problems:
        raise ExpressionError(
            "; ".join(compiler.problems), expression=text, problems=compiler.problems
        )
    return Expression(text, evaluate)
