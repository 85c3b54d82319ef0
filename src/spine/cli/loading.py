"""Finding a workflow from a command-line target: ``flow.yaml``, ``path/to/file.py:name``
(or ``path/to/file.py`` alone, when the file defines one workflow) or ``module:name``."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

from spine.cli.errors import UsageProblem
from spine.cli.values import TARGETS
from spine.orchestration import Workflow, register_workflow
from spine.orchestration.definitions import YAML_SUFFIXES


def load_workflow(target: str) -> tuple[Workflow, str]:
    """The workflow ``target`` names, and the target spelled so it loads from anywhere."""
    if target.endswith(YAML_SUFFIXES):
        return _load_yaml(target)
    if target.endswith(".py"):
        return _only_workflow(target)
    location, sep, attribute = target.rpartition(":")
    if not sep or not location or not attribute:
        raise UsageProblem(f"{target!r} does not name a workflow; use {TARGETS}")
    if location.endswith(YAML_SUFFIXES):
        raise UsageProblem(f"{target}: a YAML file holds one workflow; give {location} alone")
    if location.endswith(".py"):
        path = _python_file(location)
        module = _import_file(path)
        source = f"{path}:{attribute}"
    else:
        try:
            module = _import_module(location)
        except ImportError as exc:
            raise UsageProblem(f"cannot import module {location!r}: {exc}") from exc
        source = target
    try:
        value = getattr(module, attribute)
    except AttributeError:
        raise UsageProblem(f"{location} has no attribute {attribute!r}") from None
    if not isinstance(value, Workflow):
        raise UsageProblem(
            f"{target} is a {type(value).__name__}, not a Workflow (spine.orchestration.Workflow)"
        )
    return value, source


def _only_workflow(target: str) -> tuple[Workflow, str]:
    """The one workflow the file ``target`` defines at module level."""
    path = _python_file(target)
    found: dict[str, Workflow] = {}
    for name, value in vars(_import_file(path)).items():
        # (One workflow under two names is one workflow.)
        if isinstance(value, Workflow) and all(value is not w for w in found.values()):
            found[name] = value
    if len(found) == 1:
        [(name, workflow)] = found.items()
        return workflow, f"{path}:{name}"
    listed = ", ".join(f"{name} ({w.name!r})" for name, w in found.items()) or "none"
    raise UsageProblem(
        f"{target} defines {len(found)} workflows at module level ({listed}); name the one "
        f"to use: {target}:NAME"
    )


def _python_file(location: str) -> Path:
    path = Path(location).expanduser().resolve()
    if not path.is_file():
        raise UsageProblem(f"{location}: no such file")
    return path


def _load_yaml(target: str) -> tuple[Workflow, str]:
    """The workflow of a YAML file; a broken file raises ``WorkflowDefinitionError``,
    which the command reports problem by problem."""
    from spine.orchestration.definitions import load_workflow as load_yaml_workflow

    path = Path(target).expanduser()
    if not path.is_file():
        raise UsageProblem(f"{target}: no such file")
    resolved = path.resolve()
    # Lambdas named module:function may live beside the file, as a script's imports do.
    _folder_first_on_path(resolved)
    return load_yaml_workflow(path), str(resolved)


def _folder_first_on_path(path: Path) -> None:
    folder = str(path.parent)
    if sys.path[:1] != [folder]:
        sys.path.insert(0, folder)


def _import_module(name: str) -> ModuleType:
    """Import module ``name`` as ``python -m`` finds modules: from the working directory
    too (the installed ``spine`` script puts its own folder first on the path, not it)."""
    here = os.getcwd()
    if here not in sys.path and "" not in sys.path:
        sys.path.insert(0, here)
    return importlib.import_module(name)


def _import_file(path: Path) -> object:
    name = f"spine_user_{abs(hash(str(path)))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise UsageProblem(f"{path}: cannot be imported as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    # The file's folder first, so it can import its neighbours as a script would.
    _folder_first_on_path(path)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise UsageProblem(f"{path}: importing it failed: {type(exc).__name__}: {exc}") from exc
    # Worker processes (--executor processes/dask) cannot import the file under this
    # made-up name: its functions travel to them by value instead.
    import cloudpickle

    cloudpickle.register_pickle_by_value(module)
    return module


def import_apps(modules: tuple[str, ...]) -> None:
    """Import the modules that register workflows (``--app``); a YAML file's workflow
    is registered."""
    for name in modules:
        try:
            if name.endswith(YAML_SUFFIXES):
                register_workflow(_load_yaml(name)[0])
            elif name.endswith(".py"):
                _import_file(_python_file(name))
            else:
                _import_module(name)
        except ImportError as exc:
            raise UsageProblem(f"--app {name}: cannot import it: {exc}") from exc
