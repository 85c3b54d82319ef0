"""Channels from a YAML or JSON file, a mapping, or environment variables.

A file (or mapping) looks like::

    throttle_seconds: 300
    retry: {max_attempts: 3, initial_delay_seconds: 1}
    channels:
      - type: slack
        name: ops
        min_severity: ERROR
        domains: ["finra.*"]
        webhook_url: ${SPINE_SLACK_WEBHOOK_URL}

``${NAME}`` (or ``${NAME:-default}``) in a string is replaced by that environment
variable, so secrets stay out of the file. Every problem is reported at once in
one :class:`~spine.core.errors.AlertConfigError` naming the file, the channel and
the field.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spine.core.errors import AlertConfigError
from spine.framework.alerts.channels import BaseChannel
from spine.framework.alerts.config_schema import (
    COMMON,
    RETRY_FIELDS,
    SECRET,
    TOP_LEVEL,
    TYPES,
    Bad,
    Convert,
    kind_of,
    window,
)
from spine.framework.alerts.delivery import DeliveryRetry
from spine.framework.alerts.registry import AlertRegistry, alert_registry

CONFIG_VARIABLE = "SPINE_ALERTS_CONFIG"
ENVIRONMENT = "environment"

ConfigSource = str | os.PathLike[str] | Mapping[str, Any]

_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass(frozen=True)
class _Config:
    """What a config source says: channels, and the registry options it sets."""

    channels: list[BaseChannel]
    throttle_seconds: float | None = None
    retry: DeliveryRetry | None = None


class _Reader:
    """Reads one source, collecting every problem before raising."""

    def __init__(self, source: str, environ: Mapping[str, str], *, references: bool = True) -> None:
        self.source = source
        self.environ = environ
        # Values taken from the environment are literal: a "${" in a password stays.
        self.references = references
        self.problems: list[tuple[str, str | None, str | None]] = []

    def problem(self, text: str, *, channel: str | None = None, field: str | None = None) -> None:
        self.problems.append((text, channel, field))

    def raise_problems(self) -> None:
        if not self.problems:
            return
        texts = [text for text, _, _ in self.problems]
        if len(texts) == 1:
            message = f"alert config {self.source}: {texts[0]}"
        else:
            listed = "\n".join(f"  - {t}" for t in texts)
            message = f"alert config {self.source} has {len(texts)} problems:\n{listed}"
        _, channel, field = self.problems[0]
        raise AlertConfigError(
            message, source=self.source, channel=channel, field=field, problems=texts
        )

    def expand(self, value: Any, where: str, channel: str | None, field: str) -> Any:
        """``value`` with ``${NAME}`` references replaced, in strings, lists and mappings."""
        if not self.references:
            return value
        if isinstance(value, str):

            def substitute(match: re.Match[str]) -> str:
                name, default = match.group(1), match.group(2)
                if name in self.environ:
                    return self.environ[name]
                if default is not None:
                    return default
                self.problem(
                    f"{where}: environment variable {name} is not set; set it, or write "
                    f"${{{name}:-default}}",
                    channel=channel,
                    field=field,
                )
                return ""

            return _REFERENCE.sub(substitute, value)
        if isinstance(value, list):
            return [self.expand(v, where, channel, field) for v in value]
        if isinstance(value, Mapping):
            return {k: self.expand(v, where, channel, field) for k, v in value.items()}
        return value

    def config(self, data: Any, *, labels: Mapping[str, str] | None = None) -> _Config:
        if not isinstance(data, Mapping):
            self.problem(f"must be a mapping with a 'channels' list, got {kind_of(data)}")
            return _Config([])
        for key in data:
            if key not in TOP_LEVEL:
                self.problem(f"unknown key {key!r}; known: {', '.join(TOP_LEVEL)}", field=str(key))
        throttle = self.value(data, "throttle_seconds", window, None, None)
        retry = self.retry(data["retry"]) if "retry" in data else None
        entries = data.get("channels")
        if not isinstance(entries, list):
            self.problem(
                f"'channels' must be a list of channels, got {kind_of(entries)}", field="channels"
            )
            return _Config([], throttle, retry)
        channels: list[BaseChannel] = []
        names: set[str] = set()
        for index, entry in enumerate(entries):
            channel = self.channel(entry, None if labels else index, labels or {})
            if channel is None:
                continue
            if channel.name in names:
                self.problem(
                    f"channels[{index}]: a second channel named {channel.name!r}; each name "
                    "must be unique",
                    channel=channel.name,
                    field="name",
                )
                continue
            names.add(channel.name)
            channels.append(channel)
        return _Config(channels, throttle, retry)

    def value(
        self,
        data: Mapping[str, Any],
        key: str,
        convert: Convert,
        where: str | None,
        channel: str | None,
        label: str | None = None,
    ) -> Any:
        if key not in data:
            return None
        shown = f"field {key!r}" + (f" ({label})" if label else "")
        at = f"{where}, {shown}" if where else shown
        before = len(self.problems)
        raw = self.expand(data[key], at, channel, key)
        if len(self.problems) > before:
            return None  # a missing variable, already reported
        try:
            return convert(raw)
        except Bad as exc:
            self.problem(f"{at}: {exc.describe(secret=key in SECRET)}", channel=channel, field=key)
            return None

    def retry(self, data: Any) -> DeliveryRetry | None:
        if not isinstance(data, Mapping):
            self.problem(f"'retry' must be a mapping, got {kind_of(data)}", field="retry")
            return None
        options = {}
        for key in data:
            if key not in RETRY_FIELDS:
                known = ", ".join(RETRY_FIELDS)
                self.problem(f"retry: unknown key {key!r}; known: {known}", field=f"retry.{key}")
                continue
            value = self.value(data, key, RETRY_FIELDS[key], "retry", None)
            if value is not None:
                options[key] = value
        try:
            return DeliveryRetry(**options)
        except ValueError as exc:
            self.problem(f"retry: {exc}", field="retry")
            return None

    def channel(
        self, entry: Any, index: int | None, labels: Mapping[str, str]
    ) -> BaseChannel | None:
        before = len(self.problems)
        where = f"channels[{index}]"
        if not isinstance(entry, Mapping):
            self.problem(f"{where}: must be a mapping with type and name, got {kind_of(entry)}")
            return None
        name = entry.get("name")
        if isinstance(name, str) and name.strip():
            where = f"channel {name!r}" + ("" if index is None else f" ({where})")
        else:
            self.problem(f"{where}, field 'name': required, a non-empty string", field="name")
            name = None
        kind_name = entry.get("type")
        kind = TYPES.get(kind_name) if isinstance(kind_name, str) else None
        if kind is None:
            self.problem(
                f"{where}, field 'type': {kind_name!r} is not one of {', '.join(TYPES)}",
                channel=name,
                field="type",
            )
            return None
        converters = {**COMMON, **kind.fields}
        options: dict[str, Any] = {}
        for key in entry:
            if key in ("type", "name"):
                continue
            if key not in converters:
                self.problem(
                    f"{where}, field {key!r}: unknown for {kind_name} channels; "
                    f"known: {', '.join(['type', 'name', *converters])}",
                    channel=name,
                    field=str(key),
                )
                continue
            value = self.value(entry, key, converters[key], where, name, labels.get(key))
            if value is not None:
                options[key] = value
        missing = [key for key in kind.required if key not in entry]
        for key in missing:
            shown = f"field {key!r}" + (f" ({labels[key]})" if key in labels else "")
            self.problem(
                f"{where}, {shown}: required for {kind_name} channels", channel=name, field=key
            )
        if name is None or len(self.problems) > before:
            return None
        try:
            return kind.build(name, **options)
        except ValueError as exc:
            self.problem(f"{where}: {exc}", channel=name)
            return None


def _read(source: ConfigSource, *, environ: Mapping[str, str] | None = None) -> _Config:
    """Parse and check a config file (``.json``, or YAML) or mapping; build its channels."""
    env = os.environ if environ is None else environ
    if isinstance(source, Mapping):
        reader = _Reader("(mapping)", env)
        config = reader.config(source)
    else:
        path = Path(source)
        reader = _Reader(str(path), env)
        config = reader.config(_parse_file(path))
    reader.raise_problems()
    return config


def load_channels(
    source: ConfigSource, *, environ: Mapping[str, str] | None = None
) -> list[BaseChannel]:
    """The channels a config file or mapping describes, built and checked, not registered."""
    return _read(source, environ=environ).channels


def configure_alerts(
    source: ConfigSource | None = None,
    *,
    registry: AlertRegistry | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[BaseChannel]:
    """Register the channels of ``source`` (and apply its options) on ``registry``.

    With no ``source``, the environment decides: the file named by
    ``SPINE_ALERTS_CONFIG``, plus the channels of ``SPINE_SLACK_WEBHOOK_URL``,
    ``SPINE_ALERTS_WEBHOOK_URL`` and ``SPINE_SMTP_HOST`` (see ``docs/alerts.md``).
    Nothing is registered when any problem is found. Returns the channels registered.
    """
    env = os.environ if environ is None else environ
    config = _read(source, environ=env) if source is not None else _from_environment(env)
    target = alert_registry if registry is None else registry
    target.configure(throttle_seconds=config.throttle_seconds, retry=config.retry)
    for channel in config.channels:
        target.register(channel)
    return list(config.channels)


# Environment variable -> (channel type, field). A channel exists when its first
# variable is set.
_ENV_CHANNELS: dict[str, dict[str, str]] = {
    "slack": {"SPINE_SLACK_WEBHOOK_URL": "webhook_url"},
    "webhook": {"SPINE_ALERTS_WEBHOOK_URL": "url"},
    "email": {
        "SPINE_SMTP_HOST": "smtp_host",
        "SPINE_SMTP_PORT": "smtp_port",
        "SPINE_SMTP_USER": "smtp_user",
        "SPINE_SMTP_PASSWORD": "smtp_password",
        "SPINE_SMTP_USE_TLS": "use_tls",
        "SPINE_ALERTS_EMAIL_FROM": "from_address",
        "SPINE_ALERTS_EMAIL_TO": "recipients",
    },
}
SEVERITY_VARIABLE = "SPINE_ALERTS_MIN_SEVERITY"
THROTTLE_VARIABLE = "SPINE_ALERTS_THROTTLE_SECONDS"


def environment_configures_alerts(environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``configure_alerts()`` would find channels to register in the environment:
    ``SPINE_ALERTS_CONFIG`` or a channel's variable is set (not necessarily correctly)."""
    env = os.environ if environ is None else environ
    names = [CONFIG_VARIABLE, *(v for variables in _ENV_CHANNELS.values() for v in variables)]
    return any(env.get(name) for name in names)


def _from_environment(env: Mapping[str, str]) -> _Config:
    from_file = _read(env[CONFIG_VARIABLE], environ=env) if env.get(CONFIG_VARIABLE) else None
    reader = _Reader(ENVIRONMENT, env, references=False)
    entries: list[dict[str, Any]] = []
    labels: dict[str, str] = {}
    for kind, variables in _ENV_CHANNELS.items():
        if not any(env.get(v) for v in variables):
            continue
        entry: dict[str, Any] = {"type": kind, "name": kind}
        if env.get(SEVERITY_VARIABLE):
            entry["min_severity"] = env[SEVERITY_VARIABLE]
            labels["min_severity"] = SEVERITY_VARIABLE
        for variable, field in variables.items():
            if env.get(variable):
                entry[field] = env[variable]
            labels[field] = variable
        entries.append(entry)
    config = reader.config({"channels": entries}, labels=labels)
    throttle = None
    if env.get(THROTTLE_VARIABLE):
        try:
            throttle = window(env[THROTTLE_VARIABLE])
        except Bad as exc:
            reader.problem(
                f"{THROTTLE_VARIABLE}: {exc.describe(secret=False)}", field=THROTTLE_VARIABLE
            )
    reader.raise_problems()
    if from_file is None:
        return _Config(config.channels, throttle)
    taken = {c.name for c in from_file.channels}
    clashes = [c.name for c in config.channels if c.name in taken]
    if clashes:
        raise AlertConfigError(
            f"alert config {env[CONFIG_VARIABLE]} (from {CONFIG_VARIABLE}) already has a channel "
            f"named {clashes[0]!r}, which the environment also defines; rename the one in the file",
            source=ENVIRONMENT,
            channel=clashes[0],
            field="name",
        )
    return _Config(
        [*from_file.channels, *config.channels],
        from_file.throttle_seconds if throttle is None else throttle,
        from_file.retry,
    )


def _parse_file(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AlertConfigError(
            f"alert config {path}: cannot read it ({exc.strerror or exc})", source=str(path)
        ) from exc
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise AlertConfigError(
                f"alert config {path}: not valid JSON ({exc.msg} at line {exc.lineno}, "
                f"column {exc.colno})",
                source=str(path),
            ) from exc
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or exc
        raise AlertConfigError(
            f"alert config {path}: not valid YAML ({problem}{at})", source=str(path)
        ) from exc
