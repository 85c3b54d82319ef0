"""The parts of a pipeline group definition: its steps, its policy, and their checks.

Every class checks itself when built and raises
:class:`~spine.core.errors.InvalidGroupSpecError` listing every problem at once. The
checks are plain functions returning :class:`Problem` lists, so that the document
reader can run the same checks on raw values and report each problem at its field
(and line) in the file. :func:`check_dependencies` checks the dependencies between a
group's steps; the group does not run it when built (spine-core did not), planning,
registering and the document reader do.

:class:`~spine.framework.groups.group.PipelineGroup` lives with that reader in
``group``, which builds on this module and on ``yaml_format``, neither of which
knows the class: the imports point one way.

Pipeline names are not looked up here: a group may be defined before its pipelines
are registered. :class:`~spine.framework.groups.plan.PlanResolver` checks them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeGuard, TypeVar

from spine.core.errors import InvalidGroupSpecError
from spine.core.fields import FieldPath, field_name

"""Where a problem is: ``("steps", 1, "depends_on")`` renders as ``steps[1].depends_on``."""


class ExecutionMode(StrEnum):
    """How the steps of a group are run."""

    SEQUENTIAL = "sequential"
    """One at a time, on the calling thread, in plan order."""
    PARALLEL = "parallel"
    """Up to ``max_concurrency`` at a time on a thread pool, each as soon as its
    dependencies have completed."""


class FailurePolicy(StrEnum):
    """What a group does when one of its steps fails."""

    STOP = "stop"
    """Start no further step; steps already running finish."""
    CONTINUE = "continue"
    """Go on with every step that does not depend (directly or not) on a failed one."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a group definition."""

    path: FieldPath
    """The field concerned, relative to the object checked."""
    message: str

    def within(self, *prefix: str | int) -> Problem:
        """The same problem, seen from an object that holds the checked one at ``prefix``."""
        return Problem((*prefix, *self.path), self.message)


REQUIRED = "is required"
"""The message of a missing field, rendered ``steps[0].name is required``."""


def render(problem: Problem, line: int | None = None) -> str:
    """``problem`` as one line of a message: ``line 9, steps[1].name: must be ...``."""
    where = field_name(problem.path)
    if line is not None:
        where = f"line {line}, {where}" if where else f"line {line}"
    if not where:
        return problem.message
    return f"{where}{' ' if problem.message == REQUIRED else ': '}{problem.message}"


LineOf = Callable[[FieldPath], int | None]
"""Maps a field to its line in the file a definition was read from."""


def _located(
    problems: Sequence[Problem], line_of: LineOf | None
) -> list[tuple[int | None, Problem]]:
    located = [(line_of(p.path) if line_of is not None else None, p) for p in problems]
    located.sort(key=lambda pair: pair[0] or 0)  # in file order, when read from a file
    return located


def describe(
    problems: Sequence[Problem],
    *,
    label: str,
    source: str | None = None,
    line_of: LineOf | None = None,
) -> tuple[str, list[str]]:
    """The message reporting ``problems`` of the object named by ``label``, and each
    problem rendered on its own (with its line in ``source``, when read from a file)."""
    rendered = [render(problem, line) for line, problem in _located(problems, line_of)]
    if source is not None:
        label = f"{source}: {label}"
    if len(rendered) == 1:
        return f"{label}: {rendered[0]}", rendered
    listing = "\n".join(f"  - {text}" for text in rendered)
    return f"{label} has {len(rendered)} problems:\n{listing}", rendered


def invalid(
    problems: Sequence[Problem],
    *,
    label: str,
    group: str | None = None,
    step: str | None = None,
    source: str | None = None,
    line_of: LineOf | None = None,
) -> InvalidGroupSpecError:
    """The error reporting ``problems`` of the definition named by ``label``."""
    message, rendered = describe(problems, label=label, source=source, line_of=line_of)
    _, first = _located(problems, line_of)[0]
    return InvalidGroupSpecError(
        message,
        field_name(first.path) or None,
        group=group,
        step=step,
        source=source,
        problems=rendered,
    )


def group_label(name: object) -> str:
    return f"pipeline group {name!r}" if isinstance(name, str) and name else "pipeline group"


# -- checks on raw values (shared by the classes and the dict/YAML reader) ----------------


def _described(value: object) -> str:
    return f"{type(value).__name__} {value!r}" if value is not None else "nothing"


def _text_problems(value: object, path: FieldPath, *, required: bool = True) -> list[Problem]:
    if isinstance(value, str) and (value.strip() or not required):
        return []
    if value is None and required:
        return [Problem(path, REQUIRED)]
    wanted = "a non-empty string" if required else "a string"
    return [Problem(path, f"must be {wanted}, got {_described(value)}")]


def _is_int(value: object) -> TypeGuard[int]:
    # bool is an int subclass, but `max_concurrency: true` is a mistake, not 1.
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, float) or _is_int(value)


def _mapping_problems(value: object, path: FieldPath) -> list[Problem]:
    if not isinstance(value, Mapping):
        return [Problem(path, f"must be a mapping of names to values, got {_described(value)}")]
    bad = [key for key in value if not isinstance(key, str)]
    if bad:
        return [Problem(path, f"keys must be strings, got {bad[0]!r}")]
    return []


def _names(value: object) -> tuple[str, ...] | None:
    """``depends_on`` as a tuple of names (one name alone is allowed), or None if unusable."""
    if isinstance(value, str):
        return (value,) if value.strip() else None
    if isinstance(value, Sequence) and all(isinstance(v, str) and v.strip() for v in value):
        return tuple(value)
    return None


E = TypeVar("E", bound=StrEnum)


def _enum_value(kind: type[E], value: object) -> E | None:
    """``value`` as a member of ``kind``, accepting the value in any letter case."""
    if isinstance(value, kind):
        return value
    if isinstance(value, str):
        try:
            return kind(value.lower())
        except ValueError:
            return None
    return None


def _enum_problems(kind: type[StrEnum], value: object, path: FieldPath) -> list[Problem]:
    if _enum_value(kind, value) is not None:
        return []
    allowed = ", ".join(member.value for member in kind)
    return [Problem(path, f"must be one of {allowed}, got {_described(value)}")]


STEP_KEYS = ("name", "pipeline", "depends_on", "params")
"""The fields of a step's entry in a group document."""


def present(section: Mapping[str, Any], key: str, default: Any) -> Any:
    """``section[key]``, or ``default`` when it is missing or YAML null."""
    # `depends_on:` with nothing after it is YAML null: the same as leaving it out.
    value = section.get(key)
    return default if value is None else value


def unknown_fields(
    section: Mapping[str, Any], allowed: Iterable[str], at: FieldPath
) -> list[Problem]:
    """A problem for each key of ``section`` (found at ``at``) not in ``allowed``."""
    known = list(allowed)
    return [
        Problem((*at, key), f"unknown field {key!r} (expected one of: {', '.join(known)})")
        for key in section
        if key not in known
    ]


def step_from_entry(entry: Mapping[str, Any]) -> tuple[PipelineStep | None, list[Problem]]:
    """The step of an entry in a group document, and every problem of the entry.

    The step is built unless one of its fields is invalid: an unknown field is a
    problem, but the step it is in still takes part in the group's later checks.
    """
    depends_on = present(entry, "depends_on", ())
    params = present(entry, "params", {})
    found = step_problems(entry.get("name"), entry.get("pipeline"), depends_on, params)
    step = None if found else PipelineStep(entry["name"], entry["pipeline"], depends_on, params)
    return step, unknown_fields(entry, STEP_KEYS, ()) + found


def step_problems(
    name: object, pipeline: object, depends_on: object, params: object
) -> list[Problem]:
    """What is wrong with the fields of one step, each at its field name."""
    problems = _text_problems(name, ("name",)) + _text_problems(pipeline, ("pipeline",))
    if _names(depends_on) is None:
        problems.append(
            Problem(
                ("depends_on",),
                f"must be a step name or a list of step names, got {_described(depends_on)}",
            )
        )
    return problems + _mapping_problems(params, ("params",))


def policy_problems(
    mode: object, max_concurrency: object, on_failure: object, timeout_minutes: object
) -> list[Problem]:
    """What is wrong with the fields of an execution policy, each at its field name."""
    problems = _enum_problems(ExecutionMode, mode, ("mode",))
    if not _is_int(max_concurrency) or max_concurrency < 1:
        problems.append(
            Problem(
                ("max_concurrency",),
                f"must be an integer >= 1, got {_described(max_concurrency)}",
            )
        )
    problems += _enum_problems(FailurePolicy, on_failure, ("on_failure",))
    if timeout_minutes is not None and (not _is_number(timeout_minutes) or timeout_minutes <= 0):
        problems.append(
            Problem(
                ("timeout_minutes",),
                f"must be a number of minutes > 0, or left out, got {_described(timeout_minutes)}",
            )
        )
    return problems


def group_problems(
    name: object,
    *,
    domain: object = "",
    description: object = "",
    version: object = 1,
    defaults: object = None,
    policy: object = None,
    tags: object = None,
) -> list[Problem]:
    """What is wrong with a group's fields other than its steps."""
    problems = _text_problems(name, ("name",))
    problems += _text_problems(domain, ("domain",), required=False)
    problems += _text_problems(description, ("description",), required=False)
    if not _is_int(version):
        problems.append(Problem(("version",), f"must be an integer, got {_described(version)}"))
    if defaults is not None:
        problems += _mapping_problems(defaults, ("defaults",))
    if policy is not None and not isinstance(policy, ExecutionPolicy):
        problems.append(
            Problem(("policy",), f"must be an ExecutionPolicy, got {type(policy).__name__}")
        )
    if tags is not None and (
        isinstance(tags, str)
        or not isinstance(tags, Sequence)
        or not all(isinstance(t, str) for t in tags)
    ):
        problems.append(Problem(("tags",), f"must be a list of strings, got {_described(tags)}"))
    return problems


def steps_problems(steps: object) -> list[Problem]:
    """What is wrong with a group's list of steps: its type, and duplicate step names.

    Dependencies are checked when the group is planned or registered
    (:func:`check_dependencies`), as spine-core did.
    """
    if steps is None:
        return [Problem(("steps",), REQUIRED)]
    if isinstance(steps, str) or not isinstance(steps, Sequence):
        return [Problem(("steps",), f"must be a list of steps, got {_described(steps)}")]
    if not steps:
        return [Problem(("steps",), "a group needs at least one step")]
    wrong = [
        Problem(("steps", index), f"must be a PipelineStep, got {type(step).__name__}")
        for index, step in enumerate(steps)
        if not isinstance(step, PipelineStep)
    ]
    if wrong:
        return wrong
    problems: list[Problem] = []
    index: dict[str, int] = {}
    for position, step in enumerate(steps):
        first = index.setdefault(step.name, position)
        if first != position:
            problems.append(
                Problem(
                    ("steps", position, "name"),
                    f"Duplicate step names: {step.name!r} is also steps[{first}]",
                )
            )
    return problems


@dataclass(frozen=True, slots=True)
class DependencyCheck:
    """What is wrong with the dependencies between a group's steps."""

    missing: dict[str, list[str]]
    """Each step depending on steps the group lacks, with those names, in step order."""
    cycles: list[list[str]]
    """Each dependency cycle as its path, ``[a, b, ..., a]``."""
    problems: list[Problem]
    """All of it, each problem at its step's ``depends_on``."""


def check_dependencies(steps: Sequence[PipelineStep]) -> DependencyCheck:
    """Dependencies on unknown steps and dependency cycles among ``steps``."""
    index: dict[str, int] = {}
    for position, step in enumerate(steps):
        index.setdefault(step.name, position)
    known = ", ".join(index)
    missing: dict[str, list[str]] = {}
    problems: list[Problem] = []
    for position, step in enumerate(steps):
        for dependency in step.depends_on:
            if dependency not in index:
                missing.setdefault(step.name, []).append(dependency)
                problems.append(
                    Problem(
                        ("steps", position, "depends_on"),
                        f"step {step.name!r} depends on unknown step {dependency!r} "
                        f"(steps: {known})",
                    )
                )
    dependencies: dict[str, Sequence[str]] = {}
    for step in steps:
        dependencies.setdefault(step.name, step.depends_on)
    cycles = find_cycles(dependencies)
    problems += [
        Problem(
            ("steps", index[cycle[0]], "depends_on"),
            f"dependency cycle {' -> '.join(cycle)} (each step depends on the next); "
            "remove one of these dependencies",
        )
        for cycle in cycles
    ]
    return DependencyCheck(missing, cycles, problems)


def find_cycles(dependencies: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """Every cycle closed by a back edge of a depth-first walk, as ``[a, b, ..., a]``.

    Steps are visited in mapping order, so the result is deterministic. Names not in
    ``dependencies`` are ignored (they are reported as unknown elsewhere). The walk
    keeps its own stack: a long chain of steps must not hit the recursion limit.
    """
    on_path: dict[str, int] = {}
    done: set[str] = set()
    cycles: list[list[str]] = []
    for root in dependencies:
        if root in done:
            continue
        path = [root]
        on_path[root] = 0
        stack = [iter(dependencies[root])]
        while stack:
            for dependency in stack[-1]:
                if dependency not in dependencies or dependency in done:
                    continue
                if dependency in on_path:
                    cycles.append([*path[on_path[dependency] :], dependency])
                    continue
                on_path[dependency] = len(path)
                path.append(dependency)
                stack.append(iter(dependencies[dependency]))
                break
            else:
                stack.pop()
                finished = path.pop()
                del on_path[finished]
                done.add(finished)
    return cycles


# -- the definition classes ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExecutionPolicy:
    """How a group runs its steps. Strings are accepted for the enums (``"parallel"``)."""

    mode: ExecutionMode = ExecutionMode.SEQUENTIAL
    """Sequential (the default) or parallel; ``execution`` in YAML, as in spine-core."""
    max_concurrency: int = 4
    """Most steps running at once in parallel mode (ignored when sequential)."""
    on_failure: FailurePolicy = FailurePolicy.STOP
    """Stop the group at the first failure, or continue with the independent steps."""
    timeout_minutes: float | None = None
    """After this long no further step starts and the group fails; steps already
    running are not interrupted (a Python thread cannot be). ``None``: no limit."""

    def __post_init__(self) -> None:
        problems = policy_problems(
            self.mode, self.max_concurrency, self.on_failure, self.timeout_minutes
        )
        if problems:
            raise invalid(problems, label="execution policy")
        object.__setattr__(self, "mode", _enum_value(ExecutionMode, self.mode))
        object.__setattr__(self, "on_failure", _enum_value(FailurePolicy, self.on_failure))

    @classmethod
    def sequential(cls, on_failure: FailurePolicy = FailurePolicy.STOP) -> ExecutionPolicy:
        return cls(ExecutionMode.SEQUENTIAL, on_failure=on_failure)

    @classmethod
    def parallel(
        cls, max_concurrency: int = 4, on_failure: FailurePolicy = FailurePolicy.STOP
    ) -> ExecutionPolicy:
        return cls(ExecutionMode.PARALLEL, max_concurrency, on_failure)


@dataclass(frozen=True, slots=True)
class PipelineStep:
    """One step of a group: a registered pipeline, its params and what it waits for."""

    name: str
    """Unique within the group."""
    pipeline: str
    """Name of a registered pipeline (looked up when the group is planned)."""
    depends_on: Sequence[str] = ()
    """Names of steps of the same group that must complete first (one name alone is
    accepted and stored as a tuple)."""
    params: Mapping[str, Any] = field(default_factory=dict)
    """Params of this step; they win over the run's params and the group's defaults."""

    def __post_init__(self) -> None:
        problems = step_problems(self.name, self.pipeline, self.depends_on, self.params)
        if problems:
            raise _invalid_step(self.name, problems)
        object.__setattr__(self, "depends_on", _names(self.depends_on))
        object.__setattr__(self, "params", dict(self.params))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PipelineStep:
        """A step from its entry in a group document (``name``, ``pipeline``,
        ``depends_on``, ``params``); unknown fields are refused."""
        step, problems = step_from_entry(data)
        if step is None or problems:
            raise _invalid_step(data.get("name"), problems)
        return step

    def to_dict(self) -> dict[str, Any]:
        """The step's entry in a group document (empty fields left out)."""
        entry: dict[str, Any] = {"name": self.name, "pipeline": self.pipeline}
        if self.depends_on:
            entry["depends_on"] = list(self.depends_on)
        if self.params:
            entry["params"] = dict(self.params)
        return entry


def _invalid_step(name: object, problems: Sequence[Problem]) -> InvalidGroupSpecError:
    named = name if isinstance(name, str) and name else None
    label = f"pipeline step {named!r}" if named else "pipeline step"
    return invalid(problems, label=label, step=named)
