"""The shape of the code: no import cycles, small modules and functions, the store
and the engine apart, and a step loop that knows no step kind."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "spine"


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(SRC).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = _modules()


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import at any level, except those under ``if TYPE_CHECKING:``."""
    for child in ast.iter_child_nodes(tree):
        if isinstance(child, ast.If) and _is_type_checking(child):
            for node in child.orelse:
                yield from _import_nodes(ast.Module(body=[node], type_ignores=[]))
        elif isinstance(child, ast.Import | ast.ImportFrom):
            yield child
        else:
            yield from _import_nodes(child)


def imports_of(name: str) -> set[str]:
    """The ``spine`` modules that module ``name`` imports (a name imported from a
    package counts as its submodule when it is one)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _import_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
            continue
        module = node.module or ""
        if node.level:
            base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
            module = ".".join([*base, module] if module else base)
        for alias in node.names:
            full = f"{module}.{alias.name}"
            found.add(full if full in MODULES else module)
    return {m for m in found if m in MODULES and m != name}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_among_spine_modules() -> None:
    assert _cycles({name: imports_of(name) for name in MODULES}) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_the_import_reader_skips_type_checking_blocks_and_sees_lazy_imports() -> None:
    imported = imports_of("spine.orchestration.workflow_runner")
    assert "spine.store" in imported  # the one lazy import of the store's factory
    assert "spine.orchestration.history" not in imported  # only under TYPE_CHECKING


def _loaded_by(statement: str) -> list[str]:
    code = f"import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))\n"
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return list(json.loads(completed.stdout))


def test_importing_the_store_loads_no_engine_cli_or_web_module() -> None:
    loaded = _loaded_by("import spine.store")
    assert "spine.store" in loaded
    assert [
        m
        for m in loaded
        if m.startswith(("spine.orchestration", "spine.cli", "spine.web", "spine.commands"))
    ] == []


def test_sqlalchemy_is_imported_only_in_the_store() -> None:
    outside = sorted(
        name
        for name, path in MODULES.items()
        if not name.startswith("spine.store")
        and any(
            (n.module or "").startswith("sqlalchemy")
            if isinstance(n, ast.ImportFrom)
            else any(a.name.startswith("sqlalchemy") for a in n.names)
            for n in _import_nodes(ast.parse(path.read_text(encoding="utf-8")))
        )
    )
    assert outside == []


def test_the_engine_reaches_the_store_only_through_its_factory() -> None:
    edges = sorted(
        (name, target)
        for name in MODULES
        if name.startswith("spine.orchestration")
        for target in imports_of(name)
        if target.startswith("spine.store")
    )
    assert edges == [("spine.orchestration.workflow_runner", "spine.store")]
    source = MODULES["spine.orchestration.workflow_runner"].read_text(encoding="utf-8")
    assert "from spine.store import open_store" in source


def test_no_module_over_600_lines_and_few_long_functions() -> None:
    big = sorted(
        (len(path.read_text(encoding="utf-8").splitlines()), name)
        for name, path in MODULES.items()
        if len(path.read_text(encoding="utf-8").splitlines()) > 600
    )
    assert big == []
    long_functions = sorted(
        f"{name}.{node.name}"
        for name, path in MODULES.items()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and (node.end_lineno or node.lineno) - node.lineno + 1 > 60
    )
    assert len(long_functions) <= 3, long_functions


def test_the_step_loop_and_the_run_state_know_no_step_kind() -> None:
    engine = PACKAGE / "orchestration" / "engine"
    for module in ("loop.py", "state.py", "runs.py"):
        names = {
            node.id
            for node in ast.walk(ast.parse((engine / module).read_text(encoding="utf-8")))
            if isinstance(node, ast.Name)
        } | {
            node.attr
            for node in ast.walk(ast.parse((engine / module).read_text(encoding="utf-8")))
            if isinstance(node, ast.Attribute)
        }
        assert "StepType" not in names, module
