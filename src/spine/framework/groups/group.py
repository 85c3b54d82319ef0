"""A pipeline group, and its ``apiVersion: spine.io/v1``, ``kind: PipelineGroup``
document (spine-core's)::

    apiVersion: spine.io/v1
    kind: PipelineGroup
    metadata: {name: ..., domain: ..., version: 1, description: ..., tags: [...]}
    spec:
      defaults: {...}
      pipelines:
        - {name: ingest, pipeline: finra.otc.ingest_week, params: {...}}
        - {name: normalize, pipeline: finra.otc.normalize_week, depends_on: [ingest]}
      policy: {execution: parallel, max_concurrency: 4, on_failure: stop, timeout_minutes: 60}

spine-core's flat dict form (``name``, ``steps`` or ``pipelines``, ``policy`` ... at
the top level) is read too. Unknown fields are refused rather than ignored: a
misspelt ``depends_on`` would otherwise silently drop a dependency. A document is
checked whole, its dependencies included; every problem is reported at once, as an
:class:`~spine.core.errors.InvalidGroupSpecError` naming the file, the field and (for
YAML) the line.

The class and its document share this module because ``PipelineGroup.from_dict``
and its kin are spine-core's API: the reader they call builds the class.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from spine.core.errors import GroupError
from spine.core.fields import FieldPath
from spine.framework.groups.model import (
    ExecutionPolicy,
    LineOf,
    PipelineStep,
    Problem,
    check_dependencies,
    group_label,
    group_problems,
    invalid,
    policy_problems,
    present,
    render,
    step_from_entry,
    steps_problems,
    unknown_fields,
)
from spine.framework.groups.yaml_format import (
    YamlDocument,
    read_yaml,
    read_yaml_file,
    write_yaml,
)


@dataclass(frozen=True, slots=True)
class PipelineGroup:
    """A named set of registered pipelines with dependencies between them.

    Construction checks the definition's fields (names, duplicate steps, the policy)
    and raises :class:`~spine.core.errors.InvalidGroupSpecError` listing every problem.
    Dependencies on unknown steps and dependency cycles are reported when the group
    is planned or registered, as spine-core did.
    """

    name: str
    """Unique among registered groups (and pipelines, when registered as a pipeline)."""
    steps: Sequence[PipelineStep]
    """The steps, stored as a tuple; their order breaks ties in the plan."""
    domain: str = ""
    description: str = ""
    version: int = 1
    defaults: Mapping[str, Any] = field(default_factory=dict)
    """Params of every step, overridden by the run's params and then the step's."""
    policy: ExecutionPolicy = field(default_factory=ExecutionPolicy)
    tags: Sequence[str] = ()

    def __post_init__(self) -> None:
        problems = group_problems(
            self.name,
            domain=self.domain,
            description=self.description,
            version=self.version,
            defaults=self.defaults,
            policy=self.policy,
            tags=self.tags,
        )
        problems += steps_problems(self.steps)
        if problems:
            name = self.name if isinstance(self.name, str) else None
            raise invalid(problems, label=group_label(name), group=name)
        object.__setattr__(self, "steps", tuple(self.steps))
        # Copies: the caller's objects may change after the group is defined.
        object.__setattr__(self, "defaults", dict(self.defaults or {}))
        object.__setattr__(self, "tags", tuple(self.tags or ()))

    @property
    def step_names(self) -> list[str]:
        """Step names in definition order."""
        return [step.name for step in self.steps]

    def get_step(self, name: str) -> PipelineStep | None:
        return next((step for step in self.steps if step.name == name), None)

    @classmethod
    def from_steps(cls, name: str, steps: Sequence[PipelineStep], **fields: Any) -> PipelineGroup:
        """``PipelineGroup(name, steps, **fields)``, spine-core's factory."""
        return cls(name, steps, **fields)

    # -- the spine.io/v1 document format (spine-core's) ----------------------------------

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PipelineGroup:
        """A group from the YAML document's data, or spine-core's flat form."""
        return group_from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        """spine-core's flat form, as plain JSON-ready data: ``name``, ``domain``,
        ``description``, ``version``, ``tags``, ``defaults``, ``steps`` and ``policy``
        at the top level (:func:`group_to_dict` gives the YAML document instead)."""
        policy = self.policy
        return {
            "name": self.name,
            "domain": self.domain,
            "description": self.description,
            "version": self.version,
            "tags": list(self.tags),
            "defaults": dict(self.defaults),
            "steps": [step.to_dict() for step in self.steps],
            "policy": {**_policy_to_dict(policy), "timeout_minutes": policy.timeout_minutes},
        }

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str]) -> PipelineGroup:
        """Load a group from a YAML file."""
        return load_group_from_yaml(path)

    def to_yaml(self) -> str:
        """The group as YAML text (``from_yaml`` of it gives an equal group)."""
        return group_to_yaml(self)


# -- reading and writing the document ----------------------------------------------------


logger = logging.getLogger("spine.framework.groups")

API_VERSION = "spine.io/v1"
SUPPORTED_API_VERSIONS = frozenset({API_VERSION})
"""The ``apiVersion`` values a group document may have (or it may leave it out)."""
KIND = "PipelineGroup"

_METADATA_KEYS = ("name", "domain", "version", "description", "tags")
_SPEC_KEYS = ("defaults", "pipelines", "policy")
_POLICY_KEYS = {
    "execution": "mode",
    "max_concurrency": "max_concurrency",
    "on_failure": "on_failure",
    "timeout_minutes": "timeout_minutes",
}
"""YAML key -> ``ExecutionPolicy`` field (spine-core calls the mode ``execution``)."""


class _Reader:
    """Reads one document into a group, collecting problems at document paths."""

    def __init__(self, data: object) -> None:
        self.problems: list[Problem] = []
        self.readable = isinstance(data, Mapping)
        self.data: Mapping[str, Any] = data if isinstance(data, Mapping) else {}
        if not self.readable:
            what = "nothing" if data is None else f"a {type(data).__name__}"
            self.problems.append(Problem((), f"Expected dict (a {KIND} mapping), got {what}"))
        self.flat = not any(key in self.data for key in ("apiVersion", "kind", "metadata", "spec"))
        if not self.flat:
            self._header()
            self.meta_at: FieldPath = ("metadata",)
            self.spec_at: FieldPath = ("spec",)
            self.metadata = self._section(self.data, "metadata")
            self.spec = self._section(self.data, "spec")
            self.problems += unknown_fields(self.metadata, _METADATA_KEYS, self.meta_at)
            self.problems += unknown_fields(self.spec, _SPEC_KEYS, self.spec_at)
            self.steps_key = "pipelines"
        else:
            self.meta_at = self.spec_at = ()
            self.metadata = self.spec = self.data
            self.steps_key = "steps" if "steps" in self.data else "pipelines"
            allowed = (*_METADATA_KEYS, "defaults", "policy", self.steps_key)
            self.problems += unknown_fields(self.data, allowed, ())
        self.steps_at: FieldPath = (*self.spec_at, self.steps_key)

    @property
    def name(self) -> str | None:
        name = self.metadata.get("name")
        return name if isinstance(name, str) else None

    def _header(self) -> None:
        version = self.data.get("apiVersion")
        if version is not None and version not in SUPPORTED_API_VERSIONS:
            supported = ", ".join(sorted(SUPPORTED_API_VERSIONS))
            self.problems.append(
                Problem(
                    ("apiVersion",),
                    f"Unsupported apiVersion {version!r} (supported: {supported})",
                )
            )
        kind = self.data.get("kind")
        if kind is not None and kind != KIND:
            self.problems.append(Problem(("kind",), f"Expected kind {KIND!r}, got {kind!r}"))

    def _section(self, data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
        value = present(data, key, {})
        if isinstance(value, Mapping):
            return value
        self.problems.append(Problem((key,), f"must be a mapping, got {type(value).__name__}"))
        return {}

    def _document_path(self, path: FieldPath) -> FieldPath:
        """Where a field of the model (``steps[1].depends_on``) is in the document."""
        head, rest = path[0], path[1:]
        if head == "steps":
            return (*self.steps_at, *rest)
        if head == "defaults":
            return (*self.spec_at, *path)
        return (*self.meta_at, *path)

    def group(self) -> PipelineGroup | None:
        """The group, or None when :attr:`problems` says why it cannot be built."""
        if not self.readable:
            return None
        steps = self._steps()
        policy = self._policy()
        metadata = self.metadata
        options: dict[str, Any] = {
            key: metadata[key]
            for key in ("domain", "description", "version", "tags")
            if metadata.get(key) is not None
        }
        if self.spec.get("defaults") is not None:
            options["defaults"] = self.spec["defaults"]
        found = group_problems(metadata.get("name"), **options)
        if steps is not None:
            # A file is checked whole: its dependencies too, so that each problem is
            # reported at its line.
            found += steps_problems(steps) or check_dependencies(steps).problems
        self.problems += [Problem(self._document_path(p.path), p.message) for p in found]
        if self.problems or steps is None or policy is None:
            return None
        return PipelineGroup(metadata["name"], steps, policy=policy, **options)

    def _steps(self) -> list[PipelineStep] | None:
        raw = self.spec.get(self.steps_key)
        if raw is None and self.flat:
            self.problems.append(Problem((), "steps or pipelines is required"))
            return None
        if not isinstance(raw, list):
            found = steps_problems(raw)
            self.problems += [Problem(self.steps_at, p.message) for p in found]
            return None
        steps: list[PipelineStep] | None = []
        for index, entry in enumerate(raw):
            at = (*self.steps_at, index)
            if not isinstance(entry, Mapping):
                self.problems.append(
                    Problem(at, f"must be a mapping with name and pipeline, got {entry!r}")
                )
                steps = None
                continue
            step, found = step_from_entry(entry)
            self.problems += [p.within(*at) for p in found]
            if step is None:
                steps = None
            elif steps is not None:
                steps.append(step)
        return steps

    def _policy(self) -> ExecutionPolicy | None:
        at = (*self.spec_at, "policy")
        raw = present(self.spec, "policy", {})
        if not isinstance(raw, Mapping):
            self.problems.append(Problem(at, f"must be a mapping, got {type(raw).__name__}"))
            return None
        self.problems += unknown_fields(raw, _POLICY_KEYS, at)
        given = {attr: raw[key] for key, attr in _POLICY_KEYS.items() if raw.get(key) is not None}
        default = ExecutionPolicy()
        values = {f.name: given.get(f.name, getattr(default, f.name)) for f in fields(default)}
        found = policy_problems(**values)
        yaml_key = {attr: key for key, attr in _POLICY_KEYS.items()}
        self.problems += [Problem((*at, yaml_key[str(p.path[0])]), p.message) for p in found]
        return None if found else ExecutionPolicy(**given)


def _read(
    data: object,
    *,
    source: str | None,
    problems: Iterable[Problem] = (),
    line_of: LineOf | None = None,
) -> PipelineGroup:
    reader = _Reader(data)
    group = reader.group()
    found = [*problems, *reader.problems]
    if found or group is None:
        name = reader.name
        raise invalid(found, label=group_label(name), group=name, source=source, line_of=line_of)
    return group


def validate_yaml_schema(data: object) -> list[str]:
    """Every problem of a group document's data (YAML read into dicts), one line each,
    such as ``spec.pipelines[0].name is required``; empty when the data is a valid group.
    """
    reader = _Reader(data)
    reader.group()
    return [render(problem) for problem in reader.problems]


def group_from_dict(data: Mapping[str, Any]) -> PipelineGroup:
    """A group from a ``spine.io/v1`` document's data (or spine-core's flat form)."""
    return _read(data, source=None)


def group_to_dict(group: PipelineGroup) -> dict[str, Any]:
    """The ``spine.io/v1`` document of ``group``, as plain JSON-ready data."""
    metadata: dict[str, Any] = {
        "name": group.name,
        "domain": group.domain,
        "version": group.version,
    }
    if group.description:
        metadata["description"] = group.description
    if group.tags:
        metadata["tags"] = list(group.tags)
    spec: dict[str, Any] = {}
    if group.defaults:
        spec["defaults"] = dict(group.defaults)
    spec["pipelines"] = [step.to_dict() for step in group.steps]
    policy = group.policy
    spec["policy"] = _policy_to_dict(policy)
    if policy.timeout_minutes is not None:
        spec["policy"]["timeout_minutes"] = policy.timeout_minutes
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": metadata, "spec": spec}


def _policy_to_dict(policy: ExecutionPolicy) -> dict[str, Any]:
    return {
        "execution": policy.mode.value,
        "max_concurrency": policy.max_concurrency,
        "on_failure": policy.on_failure.value,
    }


def parse_group_yaml(text: str, *, source: str = "<string>") -> PipelineGroup:
    """A group from YAML text; ``source`` names it in error messages."""
    return _read_yaml(read_yaml(text, source=source))


def load_group_from_yaml(path: str | os.PathLike[str]) -> PipelineGroup:
    """Load a group from a YAML file (UTF-8)."""
    return _read_yaml(read_yaml_file(path))


def load_groups_from_directory(
    directory: str | os.PathLike[str], pattern: str = "**/*.yaml", ignore_errors: bool = False
) -> list[PipelineGroup]:
    """Load every file under ``directory`` matching ``pattern``, in path order.

    A directory that does not exist holds no groups. With ``ignore_errors`` a file that
    cannot be read or holds an invalid group is logged (WARNING, logger
    ``spine.framework.groups``) and skipped; otherwise its error is raised.
    """
    folder = Path(directory)
    if not folder.is_dir():
        return []
    groups = []
    for path in sorted(p for p in folder.glob(pattern) if p.is_file()):
        try:
            groups.append(load_group_from_yaml(path))
        except (GroupError, OSError) as exc:
            if not ignore_errors:
                raise
            logger.warning("skipped pipeline group file %s: %s", path, exc)
    return groups


def _read_yaml(document: YamlDocument) -> PipelineGroup:
    return _read(
        document.data,
        source=document.source,
        problems=document.problems,
        line_of=document.line_of,
    )


def group_to_yaml(group: PipelineGroup) -> str:
    """``group`` as a ``spine.io/v1`` YAML document."""
    return write_yaml(group_to_dict(group), group=group.name)
