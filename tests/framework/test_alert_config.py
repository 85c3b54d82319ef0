"""Channels from YAML/JSON files, mappings and the environment; the run alert."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spine.core.errors import AlertConfigError, SpineError
from spine.framework.alerts import (
    AlertRegistry,
    AlertSeverity,
    ConsoleChannel,
    DeliveryRetry,
    EmailChannel,
    SlackChannel,
    WebhookChannel,
    alert_registry,
    configure_alerts,
    load_channels,
    run_alert,
)

GOOD_YAML = """\
throttle_seconds: 60
retry:
  max_attempts: 5
  initial_delay_seconds: 0.5
channels:
  - type: slack
    name: ops-slack
    min_severity: warning
    domains: ["finra.*", sec]
    webhook_url: ${SLACK_URL}
  - type: email
    name: oncall
    min_severity: CRITICAL
    smtp_host: smtp.example.com
    smtp_port: ${SMTP_PORT:-2525}
    smtp_user: spine
    smtp_password: ${SMTP_PASSWORD}
    from_address: spine@example.com
    recipients: [oncall@example.com, lead@example.com]
  - type: webhook
    name: monitor
    url: https://monitor.example.com/api/alerts
    headers: {Authorization: "Bearer ${TOKEN}"}
    timeout_seconds: 3
  - type: console
    name: console
    enabled: false
"""
ENV = {
    "SLACK_URL": "https://hooks.slack.com/services/T/B/x",
    "SMTP_PASSWORD": "pw",
    "TOKEN": "t0k",
}


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_yaml_file_builds_every_kind_of_channel(tmp_path: Path) -> None:
    channels = load_channels(_write(tmp_path, "alerts.yaml", GOOD_YAML), environ=ENV)

    slack, email, webhook, console = channels
    assert isinstance(slack, SlackChannel)
    assert (slack.name, slack.min_severity, slack.domains) == (
        "ops-slack",
        AlertSeverity.WARNING,
        ["finra.*", "sec"],
    )
    assert isinstance(email, EmailChannel)
    assert email.min_severity is AlertSeverity.CRITICAL
    assert email.message(run_alert("wf", "r1", "FAILED"))["To"] == (
        "oncall@example.com, lead@example.com"
    )
    assert isinstance(webhook, WebhookChannel)
    assert webhook.min_severity is AlertSeverity.ERROR
    assert isinstance(console, ConsoleChannel)
    assert console.enabled is False


def test_json_files_and_mappings_are_read_alike(tmp_path: Path) -> None:
    config = {
        "channels": [
            {"type": "webhook", "name": "hook", "url": "${HOOK:-http://127.0.0.1:9/x}"},
            {"type": "console", "name": "console", "stream": "stderr", "min_severity": "INFO"},
        ]
    }
    from_file = load_channels(_write(tmp_path, "alerts.json", json.dumps(config)), environ={})
    from_mapping = load_channels(config, environ={})

    for channels in (from_file, from_mapping):
        assert [(c.name, c.channel_type.value) for c in channels] == [
            ("hook", "webhook"),
            ("console", "console"),
        ]


def test_configure_alerts_registers_the_channels_and_the_options(tmp_path: Path) -> None:
    registry = AlertRegistry()
    path = _write(tmp_path, "alerts.yml", GOOD_YAML)

    channels = configure_alerts(path, registry=registry, environ=ENV)

    assert registry.list_channels() == sorted(c.name for c in channels)
    assert registry.throttle_seconds == 60
    assert registry.retry == DeliveryRetry(max_attempts=5, initial_delay_seconds=0.5)


BAD_YAML = """\
throtle_seconds: 60
channels:
  - type: slack
    name: ops-slack
    min_severity: FATAL
  - type: teams
    name: chat
  - type: email
    name: oncall
    smtp_host: smtp.example.com
    smtp_password: 12345
    from_address: spine@example.com
    recipients: ops@example.com
    colour: red
  - type: webhook
    name: hook
    url: ${MISSING_URL}
"""


def test_a_bad_file_reports_every_problem_naming_file_channel_and_field(tmp_path: Path) -> None:
    path = _write(tmp_path, "alerts.yaml", BAD_YAML)
    registry = AlertRegistry()

    with pytest.raises(AlertConfigError) as info:
        configure_alerts(path, registry=registry, environ={})

    error = info.value
    assert isinstance(error, SpineError)
    assert isinstance(error, ValueError)
    assert (error.source, error.channel, error.field) == (str(path), None, "throtle_seconds")
    message = str(error)
    assert message.startswith(f"alert config {path} has 7 problems:")
    expected = [
        "unknown key 'throtle_seconds'",
        "channel 'ops-slack' (channels[0]), field 'min_severity': 'FATAL' is not one of",
        "channel 'ops-slack' (channels[0]), field 'webhook_url': required for slack channels",
        "channel 'chat' (channels[1]), field 'type': 'teams' is not one of",
        "channel 'oncall' (channels[2]), field 'smtp_password': must be a non-empty string",
        "channel 'oncall' (channels[2]), field 'colour': unknown for email channels",
        "channel 'hook' (channels[3]), field 'url': environment variable MISSING_URL is not set",
    ]
    for text, problem in zip(expected, error.problems, strict=True):
        assert text in problem
    assert "got int" in error.problems[4]
    assert "12345" not in message  # a password's value is never shown
    assert registry.list_channels() == []


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("broken.yaml", "channels:\n  - type: slack\n   name: x\n", "not valid YAML"),
        ("broken.json", '{"channels": [}', "not valid JSON (Expecting value at line 1"),
        ("list.yaml", "- type: slack\n", "must be a mapping with a 'channels' list"),
        (
            "dup.yaml",
            "channels:\n  - {type: console, name: c}\n  - {type: console, name: c}\n",
            "a second channel named 'c'",
        ),
    ],
)
def test_unreadable_files_are_named(tmp_path: Path, name: str, text: str, expected: str) -> None:
    path = _write(tmp_path, name, text)

    with pytest.raises(AlertConfigError, match=r"alert config .*" + name) as info:
        load_channels(path)

    assert expected in str(info.value)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(AlertConfigError, match=r"nowhere\.yaml: cannot read it"):
        load_channels(tmp_path / "nowhere.yaml")


def test_the_environment_configures_simple_channels_and_a_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "alerts.yaml", "channels:\n  - {type: console, name: console}\n")
    env = {
        "SPINE_ALERTS_CONFIG": str(path),
        "SPINE_SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/${not-expanded}",
        "SPINE_SMTP_HOST": "smtp.example.com",
        "SPINE_SMTP_PORT": "465",
        "SPINE_ALERTS_EMAIL_FROM": "spine@example.com",
        "SPINE_ALERTS_EMAIL_TO": "a@example.com, b@example.com",
        "SPINE_ALERTS_MIN_SEVERITY": "warning",
        "SPINE_ALERTS_THROTTLE_SECONDS": "30",
    }

    configure_alerts(environ=env)

    assert alert_registry.list_channels() == ["console", "email", "slack"]
    slack = alert_registry.get("slack")
    assert slack is not None
    assert slack.min_severity is AlertSeverity.WARNING
    assert alert_registry.throttle_seconds == 30


def test_an_incomplete_environment_names_the_missing_variable() -> None:
    env = {"SPINE_SMTP_HOST": "smtp.example.com", "SPINE_SMTP_PORT": "smtp"}

    with pytest.raises(AlertConfigError) as info:
        configure_alerts(environ=env)

    message = str(info.value)
    assert message.startswith("alert config environment has 3 problems")
    assert "field 'smtp_port' (SPINE_SMTP_PORT): must be a whole number" in message
    assert "field 'from_address' (SPINE_ALERTS_EMAIL_FROM): required" in message
    assert "field 'recipients' (SPINE_ALERTS_EMAIL_TO): required" in message
    assert alert_registry.list_channels() == []


def test_no_configuration_registers_nothing() -> None:
    assert configure_alerts(environ={}) == []
    assert alert_registry.list_channels() == []


# ---- the run alert -----------------------------------------------------------------


def test_a_failed_run_alert_names_workflow_run_step_and_error_with_a_link(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SPINE_UI_URL", "http://spine.example.com:8000/")

    alert = run_alert("finra.weekly", "run-42", "FAILED", "normalize", "KeyError: 'week'")

    assert alert.severity is AlertSeverity.ERROR
    assert alert.title == "Workflow finra.weekly failed"
    assert alert.source == "finra.weekly"
    assert alert.run_id == "run-42"
    assert alert.message.splitlines() == [
        "Run run-42 of workflow finra.weekly failed at step 'normalize'.",
        "Error: KeyError: 'week'",
        "Details: http://spine.example.com:8000/runs/run-42",
    ]
    assert alert.metadata["url"] == "http://spine.example.com:8000/runs/run-42"


def test_run_alerts_by_status(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPINE_UI_URL", raising=False)

    partial = run_alert("wf", "r1", "PARTIAL", "load", "timeout", domain="finra")
    other_run = run_alert("wf", "r2", "PARTIAL", "check", "bad rows", domain="finra")

    assert partial.severity is AlertSeverity.WARNING
    assert partial.title == "Workflow wf partially failed"
    assert "Details" not in partial.message
    assert partial.fingerprint == other_run.fingerprint
    assert run_alert("wf", "r3", "COMPLETED", ui_url="").severity is AlertSeverity.INFO
    with pytest.raises(ValueError, match="status 'RUNNING' of run 'r4'"):
        run_alert("wf", "r4", "RUNNING")


# ---- numbers, and which values an error shows --------------------------------------


def test_nan_is_refused_in_files_and_in_the_environment() -> None:
    with pytest.raises(AlertConfigError) as info:
        configure_alerts(
            {
                "throttle_seconds": "nan",
                "retry": {"initial_delay_seconds": float("nan"), "max_total_seconds": "inf"},
                "channels": [{"type": "webhook", "name": "w", "url": "http://127.0.0.1:1/x",
                              "timeout_seconds": "nan"}],
            },
            environ={},
        )  # fmt: skip
    assert info.value.problems == [
        "field 'throttle_seconds': must be a number of seconds, 0 or more (inf: for ever), "
        "got 'nan'",
        "retry, field 'initial_delay_seconds': must be a finite number, 0 or more, got nan",
        "retry, field 'max_total_seconds': must be a finite number, 0 or more, got 'inf'",
        "channel 'w' (channels[0]), field 'timeout_seconds': must be a finite number, 0 or "
        "more, got 'nan'",
    ]
    env = {"SPINE_ALERTS_WEBHOOK_URL": "http://127.0.0.1:1/x"}
    with pytest.raises(AlertConfigError, match=r"SPINE_ALERTS_THROTTLE_SECONDS: .* got 'nan'"):
        configure_alerts(environ={**env, "SPINE_ALERTS_THROTTLE_SECONDS": "nan"})
    assert alert_registry.list_channels() == []


def test_an_infinite_throttle_window_means_for_ever(tmp_path: Path) -> None:
    env = {"SPINE_ALERTS_WEBHOOK_URL": "http://127.0.0.1:1/x"}
    configure_alerts(environ={**env, "SPINE_ALERTS_THROTTLE_SECONDS": "inf"})
    assert alert_registry.throttle_seconds == float("inf")

    registry = AlertRegistry()
    path = _write(tmp_path, "alerts.yaml", "throttle_seconds: .inf\nchannels: []\n")
    configure_alerts(path, registry=registry)
    assert registry.throttle_seconds == float("inf")


def test_errors_show_the_value_unless_the_field_is_secret(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "alerts.yaml",
        "retry: {max_attempts: 0}\n"
        "channels:\n"
        "  - {type: webhook, name: w, url: http://h/x, timeout_seconds: -1,\n"
        "     headers: Bearer-s3cret-token}\n",
    )
    with pytest.raises(AlertConfigError) as info:
        load_channels(path)
    assert info.value.problems == [
        "retry, field 'max_attempts': must be a whole number, 1 or more, got 0",
        "channel 'w' (channels[0]), field 'timeout_seconds': must be a finite number, 0 or "
        "more, got -1",
        "channel 'w' (channels[0]), field 'headers': must be a mapping of names to strings, "
        "got str",
    ]
    assert "s3cret" not in str(info.value)

    with pytest.raises(AlertConfigError) as from_env:
        configure_alerts(environ={"SPINE_SMTP_HOST": "smtp.example.com", "SPINE_SMTP_PORT": "abc",
                                  "SPINE_SMTP_USE_TLS": "maybe", "SPINE_SMTP_PASSWORD": "",
                                  "SPINE_ALERTS_EMAIL_FROM": "a@example.com",
                                  "SPINE_ALERTS_EMAIL_TO": "b@example.com"})  # fmt: skip
    assert from_env.value.problems == [
        "channel 'email', field 'smtp_port' (SPINE_SMTP_PORT): must be a whole number, 1 or "
        "more, got 'abc'",
        "channel 'email', field 'use_tls' (SPINE_SMTP_USE_TLS): must be true or false, got 'maybe'",
    ]
