"""Layering: orchestration stays light, and imports only point down the stack."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "spine"

HEAVY = (
    "dask",
    "distributed",
    "click",
    "typer",
    "rich",
    "sqlalchemy",
    "psycopg",
    "starlette",
    "fastapi",
    "uvicorn",
    "jinja2",
    "httpx",
    "httpx2",
    "yaml",
    "croniter",
    "cloudpickle",
    "smtplib",
)


def test_importing_orchestration_pulls_in_no_heavy_dependency() -> None:
    code = "import json, sys\nimport spine.orchestration\nprint(json.dumps(sorted(sys.modules)))\n"
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    modules = json.loads(completed.stdout)

    assert "spine.orchestration" in modules
    loaded = sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))
    assert loaded == []


def _imported_modules(path: Path, root: Path = SRC.parent) -> set[str]:
    """Absolute module names imported by ``path`` (relative imports resolved).

    ``root`` is the directory that holds the ``spine`` package.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = ".".join(path.relative_to(root).with_suffix("").parts)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


# The runner opens a store from a URL through the package's one public entry point,
# never through the store's modules.
ALLOWED = {"spine.store", "spine.store.open_store"}


def _sources(layer: str) -> list[Path]:
    """The files of ``layer``: a package under ``src/spine``, or a top-level module."""
    module = SRC / f"{layer}.py"
    return [module] if module.is_file() else sorted((SRC / layer).rglob("*.py"))


def _violations(layer: str, forbidden: tuple[str, ...]) -> list[str]:
    files = _sources(layer)
    assert files, f"no sources found for {layer} under {SRC}"
    bad = []
    for path in files:
        for module in _imported_modules(path) - ALLOWED:
            if any(module == f or module.startswith(f + ".") for f in forbidden):
                bad.append(f"{path.relative_to(SRC.parent)} imports {module}")
    return sorted(bad)


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [
        ("orchestration", ("spine.store", "spine.cli", "spine.web")),
        ("core", ("spine.orchestration", "spine.framework", "spine.execution")),
        ("framework", ("spine.orchestration",)),
        ("execution", ("spine.orchestration",)),
        ("store", ("spine.orchestration", "spine.cli", "spine.web", "spine.commands")),
        ("web", ("spine.cli",)),
        ("cli", ("spine.web.app",)),
        ("commands", ("spine.cli", "spine.web")),
    ],
)
def test_imports_point_down_the_stack(layer: str, forbidden: tuple[str, ...]) -> None:
    assert _violations(layer, forbidden) == []


def test_the_import_checker_sees_relative_and_absolute_imports(tmp_path: Path) -> None:
    assert "spine.orchestration.step_types" in _imported_modules(
        SRC / "orchestration" / "__init__.py"
    )
    probe = tmp_path / "spine" / "orchestration" / "probe.py"
    probe.parent.mkdir(parents=True)
    probe.write_text("from ..framework import pipelines\nimport spine.store.sql\n")

    found = _imported_modules(probe, root=tmp_path)

    assert "spine.framework.pipelines" in found
    assert "spine.store.sql" in found


def test_a_top_level_module_is_a_layer_of_its_own() -> None:
    assert _sources("commands") == [SRC / "commands.py"]
    assert "spine.store" in _imported_modules(SRC / "commands.py")
