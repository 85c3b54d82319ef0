"""Building a :class:`~spine.orchestration.Workflow` from a definition, reporting every
problem of it at once with its file, line and field."""

from __future__ import annotations

import importlib
import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from spine.core.errors import (
    ExpressionError,
    WorkflowDefinitionError,
    WorkflowError,
    WorkflowValidationError,
    describe_exception,
)
from spine.core.fields import FieldPath, field_name
from spine.orchestration.definitions.schema import (
    API_VERSION,
    CHOICE_KEYS,
    COMMON_STEP_KEYS,
    EXPRESSION,
    FILE_KEYS,
    LIST,
    MAP_KEYS,
    MAPPING,
    MOMENT,
    NAME,
    NESTED_KEYS,
    OPTIONAL_WORKFLOW_FIELDS,
    POLICY,
    POSITIVE,
    REFERENCE,
    RETRY_FIELDS,
    SECONDS,
    STEP_TYPES,
    TEXT,
    TEXTS,
    TIMEOUT,
    TYPE_EXTRAS,
    YAML_SUFFIXES,
    Kind,
    described,
    located,
    suggestion,
)
from spine.orchestration.definitions.yaml_source import read_yaml
from spine.orchestration.expressions import Expression, compile_condition
from spine.orchestration.registry import default_workflow_registry
from spine.orchestration.retry import RetryPolicy
from spine.orchestration.step_types import ErrorPolicy, Step
from spine.orchestration.workflow import ALERTABLE, Workflow


class Builder:
    """Builds one workflow definition, collecting every problem with its line."""

    def __init__(
        self,
        source: str,
        lines: Mapping[FieldPath, int],
        folder: Path,
        loading: tuple[Path, ...],
    ) -> None:
        self.source = source
        self.lines = lines
        self.folder = folder
        """Where a map's ``workflow: other.yaml`` is looked up."""
        self.loading = loading
        """The files being loaded, outermost first (a map may not refer back to one)."""
        self.problems: list[tuple[int, str]] = []

    def build(self, data: object) -> Workflow:
        workflow = self.workflow(data, (), default_name=None)
        if workflow is None or self.problems:
            ordered = [text for _, text in sorted(self.problems, key=lambda p: p[0])]
            name = data.get("name") if isinstance(data, Mapping) else None
            raise WorkflowDefinitionError(
                self.source, ordered, workflow=name if isinstance(name, str) else None
            )
        return workflow

    # -- reporting and reading fields ---------------------------------------------

    def line(self, path: FieldPath) -> int:
        """The line of ``path``, or of the nearest enclosing field that has one."""
        while path not in self.lines:
            if not path:
                return 0
            path = path[:-1]
        return self.lines[path]

    def problem(self, path: FieldPath, message: str) -> None:
        line = self.line(path)
        self.problems.append((line, located(self.source, line, path, message)))

    def take(
        self,
        data: Mapping[str, Any],
        path: FieldPath,
        key: str,
        kind: Kind,
        *,
        required: bool = False,
    ) -> Any:
        """``data[key]`` if it is of ``kind``, else ``None`` (after recording why).

        A key given no value (``else:``) counts as absent."""
        value = data.get(key)
        if value is None:
            if required:
                self.problem(path, f"missing {key!r} ({kind.description})")
            return None
        if not kind.accepts(value):
            self.problem((*path, key), f"must be {kind.description}, got {described(value)}")
            return None
        return value

    def unknown_keys(
        self, data: Mapping[str, Any], path: FieldPath, known: Collection[str]
    ) -> None:
        for key in data:
            if key not in known:
                self.problem((*path, key), "unknown key" + suggestion(key, known))

    def reference(self, text: object, path: FieldPath, what: str) -> object | None:
        """The object ``module:attribute`` names, importing the module."""
        if not isinstance(text, str) or not REFERENCE.fullmatch(text):
            self.problem(
                path,
                f"must be module:{what} (e.g. mypkg.checks:validate), got {described(text)}",
            )
            return None
        module_name, _, attribute = text.partition(":")
        try:
            value: object = importlib.import_module(module_name)
        except Exception as exc:  # whatever the module's own code raises while importing
            self.problem(path, f"cannot import module {module_name!r}: {describe_exception(exc)}")
            return None
        for part in attribute.split("."):
            try:
                value = getattr(value, part)
            except AttributeError:
                self.problem(path, f"module {module_name!r} has no attribute {attribute!r}")
                return None
        return value

    def target(
        self,
        data: Mapping[str, Any],
        path: FieldPath,
        key: str,
        steps: Collection[str],
        *,
        required: bool = False,
    ) -> str | None:
        """A step name read from ``data[key]``, which must be one of ``steps``."""
        name: str | None = self.take(data, path, key, NAME, required=required)
        if name is not None and name not in steps:
            self.problem(
                (*path, key), f"{name!r} names no step of this workflow{suggestion(name, steps)}"
            )
            return None
        return name

    # -- workflows --------------------------------------------------------------

    def workflow(self, data: object, path: FieldPath, default_name: str | None) -> Workflow | None:
        """A workflow from ``data``: the file's own (``default_name`` None) or a map's."""
        if not isinstance(data, Mapping):
            self.problem(path, f"must be a mapping describing a workflow, got {described(data)}")
            return None
        before = len(self.problems)
        top = default_name is None
        self.unknown_keys(data, path, FILE_KEYS if top else NESTED_KEYS)
        options: dict[str, Any] = {}
        if top:
            self.header(data)
            self.imports(data)
            # Only the file's own workflow: a map's items alert through their map's run.
            alert_on = self.alert_on(data)
            if alert_on is not None:
                options["alert_on"] = alert_on
        name: str | None = self.take(data, path, "name", NAME, required=top) or default_name
        for key, kind in OPTIONAL_WORKFLOW_FIELDS.items():
            value = self.take(data, path, key, kind)
            if value is not None:
                options[key] = value
        steps = self.steps(data, path, name or "")
        if steps is None or name is None or len(self.problems) > before:
            return None
        try:
            return Workflow(name, steps, **options)
        except WorkflowValidationError as exc:  # a check of Workflow's own this file missed
            for text in exc.problems:
                self.problem(path, text)
            return None

    def header(self, data: Mapping[str, Any]) -> None:
        for key, expected in (("apiVersion", API_VERSION), ("kind", "Workflow")):
            value = self.take(data, (), key, TEXT)
            if value is not None and value != expected:
                self.problem((key,), f"must be {expected!r}, got {value!r}")

    def alert_on(self, data: Mapping[str, Any]) -> list[str] | None:
        """The run statuses that send an alert: one status or a list (``[]``: none, over
        the runner's ``alert_on``), in any case, as ``Workflow(alert_on=...)`` takes."""
        value = data.get("alert_on")
        if value is None:
            return None
        choices = ", ".join(ALERTABLE)
        if isinstance(value, str):
            items: list[tuple[FieldPath, object]] = [(("alert_on",), value)]
        elif isinstance(value, list | tuple):
            items = [(("alert_on", index), item) for index, item in enumerate(value)]
        else:
            self.problem(
                ("alert_on",),
                f"must be a run status or a list of them ({choices}), got {described(value)}",
            )
            return None
        statuses = []
        for where, item in items:
            status = item.upper() if isinstance(item, str) else None
            if status in ALERTABLE:
                statuses.append(status)
                continue
            message = f"{described(item)} is not a run status to alert on"
            hint = suggestion(status, ALERTABLE) if status else ""
            # The choices are listed either way; a close one is pointed out.
            self.problem(
                where, message + (hint if "did you mean" in hint else f"; choose from {choices}")
            )
        return statuses

    def imports(self, data: Mapping[str, Any]) -> None:
        for index, module in enumerate(self.take(data, (), "imports", TEXTS) or ()):
            try:
                importlib.import_module(module)
            except Exception as exc:  # whatever the module's own code raises while importing
                self.problem(
                    ("imports", index), f"cannot import {module!r}: {describe_exception(exc)}"
                )

    def steps(
        self, data: Mapping[str, Any], path: FieldPath, workflow_name: str
    ) -> list[Step] | None:
        items = self.take(data, path, "steps", LIST, required=True)
        if items is None:
            return None
        where = (*path, "steps")
        if not items:
            self.problem(where, "is empty; a workflow needs at least one step")
            return None
        names = [item.get("name") if isinstance(item, Mapping) else None for item in items]
        known = {n for n in names if isinstance(n, str)}
        first: dict[str, int] = {}
        steps = []
        for index, item in enumerate(items):
            name = names[index]
            if isinstance(name, str) and name in first:
                self.problem(
                    (*where, index, "name"),
                    f"duplicate step name {name!r} (also {field_name((*where, first[name]))})",
                )
            elif isinstance(name, str):
                first[name] = index
            step = self.step(item, (*where, index), known, workflow_name)
            if step is not None:
                steps.append(step)
        return steps

    # -- steps -------------------------------------------------------------------

    def step(
        self, data: object, path: FieldPath, known: Collection[str], workflow_name: str
    ) -> Step | None:
        if not isinstance(data, Mapping):
            self.problem(
                path,
                f"a step is a mapping with a name and one of {', '.join(STEP_TYPES)}; "
                f"got {described(data)}",
            )
            return None
        before = len(self.problems)
        name = self.take(data, path, "name", NAME, required=True)
        types = [t for t in STEP_TYPES if t in data]
        self.step_keys(data, path, types)
        on_error = self.take(data, path, "on_error", POLICY)
        retry = self.retry(data, path)
        next_step = self.target(data, path, "next", known)
        timeout = self.take(data, path, "timeout_seconds", TIMEOUT)
        if len(types) != 1 or name is None:
            return None
        build = {
            "lambda": self.lambda_step,
            "pipeline": self.pipeline_step,
            "choice": self.choice_step,
            "wait": self.wait_step,
            "wait_until": self.wait_until_step,
            "signal": self.signal_step,
            "map": self.map_step,
        }[types[0]]
        step = build(data, path, name, known, workflow_name)
        if step is None or len(self.problems) > before:
            return None
        return replace(
            step,
            on_error=ErrorPolicy(on_error) if on_error is not None else ErrorPolicy.STOP,
            retry=retry,
            next=next_step,
            timeout_seconds=timeout,
        )

    def step_keys(self, data: Mapping[str, Any], path: FieldPath, types: Sequence[str]) -> None:
        if len(types) > 1:
            self.problem(path, f"has {' and '.join(types)}: a step has exactly one type")
        if not types:
            self.problem(path, f"missing the step's type: one of {', '.join(STEP_TYPES)}")
        # Without a type, any type's keys may be meant: suggest among all of them.
        kinds = types or STEP_TYPES
        known = {*COMMON_STEP_KEYS, *kinds, *(k for t in kinds for k in TYPE_EXTRAS[t])}
        for key in data:
            if key in known:
                continue
            owner = next((t for t, extras in TYPE_EXTRAS.items() if key in extras), None)
            if owner is not None:
                message = f"unknown key for a {types[0]} step ({key!r} belongs to {owner} steps)"
            else:
                message = "unknown key" + suggestion(key, known)
            self.problem((*path, key), message)

    def retry(self, data: Mapping[str, Any], path: FieldPath) -> RetryPolicy | None:
        body = self.take(data, path, "retry", MAPPING)
        if body is None:
            return None
        where = (*path, "retry")
        self.unknown_keys(body, where, RETRY_FIELDS)
        options: dict[str, Any] = {}
        for key, kind in RETRY_FIELDS.items():
            value = self.take(body, where, key, kind)
            if value is not None:
                options[key] = value
        if isinstance(options.get("retry_on"), str):
            options["retry_on"] = [options["retry_on"]]
        try:
            return RetryPolicy(**options)
        except ValueError as exc:
            self.problem(where, str(exc))
            return None

    def lambda_step(
        self, data: Mapping[str, Any], path: FieldPath, name: str, known: Collection[str], _: str
    ) -> Step | None:
        handler = self.reference(data["lambda"], (*path, "lambda"), "function")
        config = self.take(data, path, "config", MAPPING)
        if handler is None:
            return None
        if not callable(handler):
            self.problem(
                (*path, "lambda"), f"{data['lambda']} is {described(handler)}, not a function"
            )
            return None
        return Step.lambda_(name, handler, config=config)

    def pipeline_step(
        self, data: Mapping[str, Any], path: FieldPath, name: str, known: Collection[str], _: str
    ) -> Step | None:
        pipeline = self.take(data, path, "pipeline", NAME, required=True)
        params = self.take(data, path, "params", MAPPING)
        return Step.pipeline(name, pipeline, params=params) if pipeline is not None else None

    def choice_step(
        self, data: Mapping[str, Any], path: FieldPath, name: str, known: Collection[str], _: str
    ) -> Step | None:
        body = self.take(data, path, "choice", MAPPING, required=True)
        if body is None:
            return None
        where = (*path, "choice")
        self.unknown_keys(body, where, CHOICE_KEYS)
        when = self.take(body, where, "when", EXPRESSION, required=True)
        condition = self.condition(when, (*where, "when")) if when is not None else None
        then = self.target(body, where, "then", known, required=True)
        otherwise = self.target(body, where, "else", known)
        if condition is None or then is None:
            return None
        return Step.choice(name, condition, then_step=then, else_step=otherwise)

    def condition(self, text: str, path: FieldPath) -> Expression | None:
        try:
            return compile_condition(text)
        except ExpressionError as exc:
            for problem in exc.problems:
                self.problem(path, problem)
            return None

    def wait_step(
        self, data: Mapping[str, Any], path: FieldPath, name: str, known: Collection[str], _: str
    ) -> Step | None:
        seconds = self.take(data, path, "wait", SECONDS, required=True)
        return Step.wait(name, seconds) if seconds is not None else None

    def wait_until_step(
        self, data: Mapping[str, Any], path: FieldPath, name: str, known: Collection[str], _: str
    ) -> Step | None:
        until = self.take(data, path, "wait_until", MOMENT, required=True)
        return Step.wait(name, until=until) if until is not None else None

    def signal_step(
        self, data: Mapping[str, Any], path: FieldPath, name: str, known: Collection[str], _: str
    ) -> Step | None:
        # Its timeout_seconds (a common key) is how long it waits for the signal.
        signal_name = self.take(data, path, "signal", NAME, required=True)
        return Step.await_signal(name, signal_name) if signal_name is not None else None

    def map_step(
        self,
        data: Mapping[str, Any],
        path: FieldPath,
        name: str,
        known: Collection[str],
        workflow_name: str,
    ) -> Step | None:
        body = self.take(data, path, "map", MAPPING, required=True)
        if body is None:
            return None
        where = (*path, "map")
        self.unknown_keys(body, where, MAP_KEYS)
        items_path = self.items_path(body, where)
        options: dict[str, Any] = {}
        for key, kind in (("max_concurrency", POSITIVE), ("item_param", NAME)):
            value = self.take(body, where, key, kind)
            if value is not None:
                options[key] = value
        if body.get("workflow") is None:
            self.problem(where, "missing 'workflow' (the workflow each item runs)")
            return None
        iterated = self.nested(body["workflow"], (*where, "workflow"), f"{workflow_name}.{name}")
        if items_path is None or iterated is None:
            return None
        return Step.map(name, items_path, iterated, **options)

    def items_path(self, body: Mapping[str, Any], where: FieldPath) -> str | None:
        """The map's ``items`` as the runner's ``items_path``."""
        text: str | None = self.take(body, where, "items", NAME, required=True)
        if text is None:
            return None
        root, _, rest = text.partition(".")
        if root == "params" and rest:
            return rest
        if root == "outputs" and rest:
            return text
        self.problem((*where, "items"), f"{text!r}: write params.<key> or outputs.<step>.<key>")
        return None

    def nested(self, value: object, path: FieldPath, default_name: str) -> Workflow | None:
        """A map's workflow: inline, a YAML file, ``module:attribute``, or a registered name."""
        if isinstance(value, Mapping):
            return self.workflow(value, path, default_name)
        if not isinstance(value, str) or not value.strip():
            self.problem(
                path,
                "must be a workflow: a mapping with steps, a .yaml file, module:attribute or "
                f"the name of a registered workflow; got {described(value)}",
            )
            return None
        if value.endswith(YAML_SUFFIXES):
            return self.workflow_file(value, path)
        if ":" in value:
            found = self.reference(value, path, "workflow")
            if found is None:
                return None
            if not isinstance(found, Workflow):
                self.problem(path, f"{value} is {described(found)}, not a Workflow")
                return None
            return found
        try:
            return default_workflow_registry.get(value)
        except WorkflowError as exc:
            self.problem(path, str(exc))
            return None

    def workflow_file(self, name: str, path: FieldPath) -> Workflow | None:
        target = (self.folder / name).resolve()
        shown = os.path.normpath(os.path.join(os.path.dirname(self.source), name))
        if target in self.loading:
            self.problem(
                path, f"{name!r} is a file being loaded: a map cannot run its own workflow"
            )
            return None
        if not target.is_file():
            self.problem(path, f"no such file: {shown}")
            return None
        try:
            return load_file(target, shown, self.loading)
        except WorkflowDefinitionError as exc:
            line = self.line(path)
            self.problems.extend((line, text) for text in exc.problems)
            return None


def load_file(path: Path, shown: str, loading: tuple[Path, ...]) -> Workflow:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise WorkflowDefinitionError(shown, [f"{shown}: cannot read it: {reason}"]) from exc
    data, lines, problems = read_yaml(text, shown)
    builder = Builder(shown, lines, path.parent, (*loading, path.resolve()))
    builder.problems.extend(problems)
    return builder.build(data)


def load_workflow(path: str | os.PathLike[str]) -> Workflow:
    """The workflow the YAML file at ``path`` describes.

    Raises :class:`~spine.core.errors.WorkflowDefinitionError` listing every problem
    of the file (and of the files its maps refer to) as ``file:line: field: message``.
    """
    return load_file(Path(path), os.fspath(path), loading=())


def workflow_from_dict(
    data: Mapping[str, Any],
    *,
    source: str = "<dict>",
    folder: str | os.PathLike[str] | None = None,
) -> Workflow:
    """The workflow ``data`` describes, in the structure of a YAML workflow file
    (read from JSON, say).

    ``source`` names the data in messages (which have no line numbers); a map's
    ``workflow: other.yaml`` is found relative to ``folder`` (default: the current
    directory).
    """
    builder = Builder(source, {}, Path(folder) if folder is not None else Path.cwd(), ())
    return builder.build(data)
