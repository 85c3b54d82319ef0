"""Names a package exports but loads only when first used.

``import spine.orchestration`` must stay quick for every script that runs a
workflow; parts that most runs never touch (YAML definitions, pipeline groups,
alert configuration files) are loaded when their names are first read.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, where: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` loading ``name`` from the module ``where[name]``."""

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module), name)

    return __getattr__
