"""Loading workflows from YAML: the format, and errors naming file, line and field."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from spine.core.errors import WorkflowDefinitionError, WorkflowValidationError
from spine.framework import list_pipelines
from spine.orchestration import (
    ErrorPolicy,
    Expression,
    RetryPolicy,
    Step,
    StepType,
    Workflow,
    WorkflowRunner,
    load_workflow,
    register_workflow,
    workflow_from_dict,
)

from . import yaml_steps

M = yaml_steps.__name__
SECONDS = "must be a number of seconds from 0 to 31622400 (366 days)"


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Files are loaded by their relative names, so messages read "flow.yaml:3: ...".
    monkeypatch.chdir(tmp_path)


def write(text: str, name: str = "flow.yaml") -> str:
    Path(name).write_text(textwrap.dedent(text).lstrip("\n"))
    return name


def problems(text: str) -> list[str]:
    with pytest.raises(WorkflowDefinitionError) as caught:
        load_workflow(write(text))
    return caught.value.problems


FULL = f"""
apiVersion: spine.io/v2
kind: Workflow
name: finra.weekly_refresh
domain: finra.otc_transparency
version: 3
description: Weekly refresh
defaults: {{tier: NMS_TIER_1, week_ending: 2026-01-10}}
tags: [weekly, finra]
max_concurrent_runs: 2
alert_on: [failed, PARTIAL]
steps:
  - name: ingest
    pipeline: finra.otc.ingest_week
    params: {{source: api}}
    retry: {{max_attempts: 4, initial_delay_seconds: 0.5, backoff_multiplier: 3,
             max_delay_seconds: 10, jitter: false, retry_on: [TRANSIENT, TIMEOUT]}}
    on_error: continue
  - name: validate
    lambda: {M}:extract
    config: {{per_week: 2}}
  - name: route
    choice: {{when: "outputs.validate.record_count > 0", then: per_week, else: alert}}
  - name: per_week
    map:
      items: params.weeks
      max_concurrency: 3
      workflow: {{steps: [{{name: sq, lambda: "{M}:square"}}]}}
    next: pause
  - name: alert
    lambda: {M}:alert
  - name: pause
    wait: 1.5
"""


def test_a_full_file_gives_the_workflow_it_describes() -> None:
    workflow = load_workflow(write(FULL))

    assert isinstance(workflow, Workflow)
    assert (workflow.name, workflow.domain, workflow.version) == (
        "finra.weekly_refresh", "finra.otc_transparency", 3,
    )  # fmt: skip
    assert workflow.description == "Weekly refresh"
    # Dates stay text, as they would in JSON params.
    assert workflow.defaults == {"tier": "NMS_TIER_1", "week_ending": "2026-01-10"}
    assert workflow.tags == ["weekly", "finra"]
    assert workflow.max_concurrent_runs == 2
    assert workflow.alert_on == frozenset({"FAILED", "PARTIAL"})  # any case, as in Python
    ingest, validate, route, per_week, alert, pause = workflow.steps
    assert ingest.step_type is StepType.PIPELINE
    assert (ingest.pipeline_name, ingest.params) == ("finra.otc.ingest_week", {"source": "api"})
    assert ingest.on_error is ErrorPolicy.CONTINUE
    assert ingest.retry == RetryPolicy(
        max_attempts=4, initial_delay_seconds=0.5, backoff_multiplier=3, max_delay_seconds=10,
        jitter=False, retry_on=frozenset({"TRANSIENT", "TIMEOUT"}),
    )  # fmt: skip
    assert validate.handler is yaml_steps.extract
    assert validate.config == {"per_week": 2}
    assert validate.retry is None
    assert validate.on_error is ErrorPolicy.STOP
    assert isinstance(route.condition, Expression)
    assert route.condition.source == "outputs.validate.record_count > 0"
    assert (route.then_step, route.else_step) == ("per_week", "alert")
    assert per_week.items_path == "weeks"
    assert per_week.max_concurrency == 3
    assert per_week.next == "pause"
    assert per_week.iterator_workflow is not None
    assert per_week.iterator_workflow.name == "finra.weekly_refresh.per_week"
    assert alert.handler is yaml_steps.alert
    assert pause.duration_seconds == 1.5


@pytest.mark.parametrize(
    ("given", "statuses"),
    [("COMPLETED", {"COMPLETED"}), ("[]", set()), ("[cancelled, FAILED]", {"CANCELLED", "FAILED"})],
)
def test_alert_on_takes_a_status_or_a_list(given: str, statuses: set[str]) -> None:
    workflow = load_workflow(write(f"name: x\nalert_on: {given}\nsteps: [{{name: a, wait: 1}}]\n"))

    assert workflow.alert_on == statuses  # [] sends no alert, whatever the runner's alert_on
    assert load_workflow(write("name: x\nsteps: [{name: a, wait: 1}]\n")).alert_on is None


def test_workflow_from_dict_reads_the_same_structure() -> None:
    import yaml

    data = yaml.safe_load(FULL.replace("2026-01-10", "'2026-01-10'"))

    assert workflow_from_dict(data).to_dict() == load_workflow(write(FULL)).to_dict()


def test_a_file_runs() -> None:
    path = write(f"""
        name: yaml.runs
        steps:
          - name: extract
            lambda: {M}:extract
            config: {{per_week: 5}}
          - name: route
            choice: {{when: "outputs.extract.record_count >= 10", then: big, else: small}}
          - name: big
            lambda: {M}:alert
          - name: small
            wait: 0
    """)
    with WorkflowRunner() as runner:
        big = runner.execute(load_workflow(path), params={"weeks": [1, 2]})
        small = runner.execute(load_workflow(path), params={"weeks": [1]})

    assert big.completed_steps == ["extract", "route", "big"]
    assert small.completed_steps == ["extract", "route", "small"]


def test_yaml_conveniences_anchors_merge_keys_and_aliases() -> None:
    path = write(f"""
        name: yaml.anchors
        steps:
          - name: a
            lambda: {M}:alert
            retry: &patient {{max_attempts: 5, jitter: false}}
          - name: b
            lambda: {M}:alert
            retry:
              <<: *patient
              max_attempts: 2
          - name: c
            lambda: {M}:alert
            retry: *patient
    """)
    a, b, c = load_workflow(path).steps

    assert a.retry == c.retry == RetryPolicy(max_attempts=5, jitter=False)
    assert b.retry == RetryPolicy(max_attempts=2, jitter=False)


def test_a_yml_suffix_and_a_path_object_work() -> None:
    path = Path(write(f"name: short\nsteps: [{{name: a, lambda: '{M}:alert'}}]\n", "flow.yml"))

    assert load_workflow(path).step_names() == ["a"]


# -- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: x\nsteps:\n  - name: a\n    wait: -1\n",
         f"flow.yaml:4: steps[0].wait: {SECONDS}, got -1 (int)"),
        ("name: x\nsteps:\n  - name: a\n    wait: 1\n    nxt: a\n",
         "flow.yaml:5: steps[0].nxt: unknown key; did you mean 'next'?"),
        ("name: x\nsteps:\n  - name: a\n    wait: 1\n    next: b\n",
         "flow.yaml:5: steps[0].next: 'b' names no step of this workflow; expected one of a"),
        ("name: x\nsteps:\n  - name: a\n    wait: 1\n  - {name: b, wait: 1, next: aa}\n",
         "flow.yaml:5: steps[1].next: 'aa' names no step of this workflow; did you mean 'a'?"),
        ("name: x\nsteps:\n  - name: a\n    lambda: nope\n",
         "flow.yaml:4: steps[0].lambda: must be module:function (e.g. mypkg.checks:validate), "
         "got 'nope' (str)"),
        (f"name: x\nsteps:\n  - name: a\n    lambda: {M}:missing\n",
         f"flow.yaml:4: steps[0].lambda: module '{M}' has no attribute 'missing'"),
        (f"name: x\nsteps:\n  - name: a\n    lambda: {M}:NOT_A_FUNCTION\n",
         f"flow.yaml:4: steps[0].lambda: {M}:NOT_A_FUNCTION is 42 (int), not a function"),
        ("name: x\nsteps:\n  - name: a\n    lambda: no_such_module_here:f\n",
         "flow.yaml:4: steps[0].lambda: cannot import module 'no_such_module_here': "
         "ModuleNotFoundError: No module named 'no_such_module_here'"),
        ("name: x\nsteps:\n  - name: a\n    wait: 1\n    config: {}\n",
         "flow.yaml:5: steps[0].config: unknown key for a wait step ('config' belongs to "
         "lambda steps)"),
        ("name: x\nsteps:\n  - name: a\n    wait: 1\n    pipeline: p\n",
         "flow.yaml:3: steps[1]: has pipeline and wait: a step has exactly one type"
         .replace("steps[1]", "steps[0]")),
        ("name: x\nsteps:\n  - name: a\n",
         "flow.yaml:3: steps[0]: missing the step's type: one of lambda, pipeline, choice, "
         "wait, wait_until, signal, map"),
        ("name: x\nsteps:\n  - wait: 1\n",
         "flow.yaml:3: steps[0]: missing 'name' (non-empty text)"),
        ("name: x\nsteps:\n  - name: a\n    choice: {then: a}\n",
         "flow.yaml:4: steps[0].choice: missing 'when' (an expression written as text)"),
        ("name: x\nsteps:\n  - name: a\n    choice: {when: yes, then: a}\n",
         "flow.yaml:4: steps[0].choice.when: must be an expression written as text, "
         "got True (bool)"),
        ("name: x\nsteps:\n  - name: a\n    choice:\n      when: params.x >\n      then: a\n",
         "flow.yaml:5: steps[0].choice.when: not a valid expression: invalid syntax"),
        ("name: x\nsteps:\n  - name: a\n    map: {items: params.xs}\n",
         "flow.yaml:4: steps[0].map: missing 'workflow' (the workflow each item runs)"),
        ("name: x\nsteps:\n  - name: a\n"
         "    map: {items: xs, workflow: {steps: [{name: s, wait: 1}]}}\n",
         "flow.yaml:4: steps[0].map.items: 'xs': write params.<key> or outputs.<step>.<key>"),
        ("name: x\nsteps:\n  - name: a\n    map: {items: params.xs, workflow: not.registered}\n",
         "flow.yaml:4: steps[0].map.workflow: workflow 'not.registered' is not registered"),
        ("name: x\nsteps:\n  - name: a\n    map: {items: params.xs, workflow: other.yaml}\n",
         "flow.yaml:4: steps[0].map.workflow: no such file: other.yaml"),
        (f"name: x\nsteps:\n  - name: a\n    map: {{items: params.xs, workflow: '{M}:alert'}}\n",
         f"flow.yaml:4: steps[0].map.workflow: {M}:alert is <function alert"),
        ("name: x\nsteps:\n  - name: a\n    wait: 1\n    on_error: ignore\n",
         "flow.yaml:5: steps[0].on_error: must be one of stop, continue, retry, got 'ignore'"),
        ("name: x\nsteps:\n  - name: a\n    wait: 1\n    retry: {max_attempts: 2, backoff: 3}\n",
         "flow.yaml:5: steps[0].retry.backoff: unknown key; did you mean 'backoff_multiplier'?"),
        ("name: x\nsteps:\n  - name: a\n    wait: 1\n    retry: {backoff_multiplier: 0.5}\n",
         "flow.yaml:5: steps[0].retry.backoff_multiplier: must be a finite number >= 1, "
         "got 0.5 (float)"),
        ("name: x\nsteps:\n  - name: a\n    wait: 1\n    retry: {backoff_multiplier: .inf}\n",
         "flow.yaml:5: steps[0].retry.backoff_multiplier: must be a finite number >= 1, "
         "got inf (float)"),
        ("name: x\nsteps:\n  - name: a\n    wait: .inf\n",
         f"flow.yaml:4: steps[0].wait: {SECONDS}, got inf (float)"),
        ("name: x\nsteps:\n  - name: a\n    wait: .nan\n",
         f"flow.yaml:4: steps[0].wait: {SECONDS}, got nan (float)"),
        ("name: x\nsteps:\n  - name: a\n    wait: 99999999999999999999999\n",
         f"flow.yaml:4: steps[0].wait: {SECONDS}, got 99999999999999999999999 (int)"),
        ("name: x\nsteps:\n  - name: a\n    wait: 31622401\n",
         f"flow.yaml:4: steps[0].wait: {SECONDS}, got 31622401 (int)"),
        ("name: x\nsteps:\n  - name: a\n    wait: 1\n    retry: {max_delay_seconds: .inf}\n",
         f"flow.yaml:5: steps[0].retry.max_delay_seconds: {SECONDS}, got inf (float)"),
        ("name: x\nsteps:\n  - name: a\n    wait: 1\n"
         "    retry: {initial_delay_seconds: 40000000}\n",
         f"flow.yaml:5: steps[0].retry.initial_delay_seconds: {SECONDS}, got 40000000 (int)"),
        ("name: x\nalert_on: [FAILED, FAIL]\nsteps: [{name: a, wait: 1}]\n",
         "flow.yaml:2: alert_on[1]: 'FAIL' (str) is not a run status to alert on; "
         "did you mean 'FAILED'?"),
        ("name: x\nalert_on:\n  - FAILED\n  - 3\nsteps: [{name: a, wait: 1}]\n",
         "flow.yaml:4: alert_on[1]: 3 (int) is not a run status to alert on; choose from "
         "FAILED, PARTIAL, CANCELLED, COMPLETED"),
        ("name: x\nalert_on: everything\nsteps: [{name: a, wait: 1}]\n",
         "flow.yaml:2: alert_on: 'everything' (str) is not a run status to alert on"),
        ("name: x\nalert_on: {FAILED: true}\nsteps: [{name: a, wait: 1}]\n",
         "flow.yaml:2: alert_on: must be a run status or a list of them (FAILED, PARTIAL, "
         "CANCELLED, COMPLETED), got a mapping"),
        ("name: x\nsteps:\n  - name: a\n"
         "    map: {items: params.xs,\n"
         "          workflow: {alert_on: [FAILED], steps: [{name: s, wait: 1}]}}\n",
         "flow.yaml:5: steps[0].map.workflow.alert_on: unknown key"),
        ("name: x\nsteps:\n  - name: a\n    wait: 1\n    retry: {retry_on: 3}\n",
         "flow.yaml:5: steps[0].retry.retry_on: must be an error category or a list of them"),
        ("name: x\nsteps: []\n",
         "flow.yaml:2: steps: is empty; a workflow needs at least one step"),
        ("name: x\nsteps:\n  - just text\n",
         "flow.yaml:3: steps[0]: a step is a mapping with a name and one of lambda, pipeline, "
         "choice, wait, wait_until, signal, map; got 'just text' (str)"),
        ("steps:\n  - {name: a, wait: 1}\n", "flow.yaml:1: missing 'name' (non-empty text)"),
        ("name: x\n", "flow.yaml:1: missing 'steps' (a list)"),
        ("name: x\nversion: one\nsteps: [{name: a, wait: 1}]\n",
         "flow.yaml:2: version: must be an integer >= 1, got 'one' (str)"),
        ("apiVersion: spine.io/v1\nname: x\nsteps: [{name: a, wait: 1}]\n",
         "flow.yaml:1: apiVersion: must be 'spine.io/v2', got 'spine.io/v1'"),
        ("kind: Pipeline\nname: x\nsteps: [{name: a, wait: 1}]\n",
         "flow.yaml:1: kind: must be 'Workflow', got 'Pipeline'"),
        ("name: x\nimports: [no_such_module_here]\nsteps: [{name: a, wait: 1}]\n",
         "flow.yaml:2: imports[0]: cannot import 'no_such_module_here': ModuleNotFoundError"),
        ("name: x\nname: y\nsteps: [{name: a, wait: 1}]\n",
         "flow.yaml:2: name: duplicate key (the earlier value would be lost)"),
        ("name: x\n1: y\nsteps: [{name: a, wait: 1}]\n",
         "flow.yaml:2: keys must be text, got 1 (int)"),
        ("name: !!binary aGVsbG8=\nsteps: [{name: a, wait: 1}]\n",
         "flow.yaml:1: name: unsupported YAML tag tag:yaml.org,2002:binary"),
        ("name: !!python/object:os.system x\nsteps: [{name: a, wait: 1}]\n",
         "flow.yaml:1: name: unsupported YAML tag tag:yaml.org,2002:python/object:os.system"),
        ("name: x\ndefaults: !!python/object:builtins.dict {a: 1}\nsteps: [{name: a, wait: 1}]\n",
         "flow.yaml:2: defaults: unsupported YAML tag "
         "tag:yaml.org,2002:python/object:builtins.dict"),
        ("name: x\nsteps:\n  - name: a\n    wait: 0\n    retry: !custom {max_attempts: 2}\n",
         "flow.yaml:5: steps[0].retry: unsupported YAML tag !custom"),
        ("name: x\nsteps:\n  - !!python/name:os.system {name: b, wait: 0}\n",
         "flow.yaml:3: steps[0]: unsupported YAML tag tag:yaml.org,2002:python/name:os.system"),
        ("name: x\ndefaults: !!set {a: null}\nsteps: [{name: a, wait: 1}]\n",
         "flow.yaml:2: defaults: unsupported YAML tag tag:yaml.org,2002:set"),
        ("name: x\ntags: !!python/tuple [a]\nsteps: [{name: a, wait: 1}]\n",
         "flow.yaml:2: tags: unsupported YAML tag tag:yaml.org,2002:python/tuple"),
        ("- name: x\n", "flow.yaml:1: must be a mapping describing a workflow, got a list"),
        ("name: x\nsteps: [\n",
         "flow.yaml:3: not valid YAML: while parsing a flow node, expected the node content"),
        ("name: x\n---\nname: y\n",
         "flow.yaml:2: not valid YAML: expected a single document in the stream, but found "
         "another document"),
        ("", "flow.yaml: empty; it should describe a workflow"),
        ("# only a comment\n", "flow.yaml: empty; it should describe a workflow"),
    ],
)  # fmt: skip
def test_each_problem_names_file_line_and_field(text: str, expected: str) -> None:
    found = problems(text)

    assert len(found) == 1, found
    assert found[0].startswith(expected), found[0]


def test_every_problem_is_reported_at_once_in_file_order() -> None:
    found = problems(f"""
        name: broken
        descripton: typo
        steps:
          - name: load
            lamda: {M}:extract
          - name: route
            choice:
              when: "__import__('os') or params.x.__class__"
              then: lod
          - name: load
            wait: soon
          - name: fan
            map:
              items: params.xs
              max_concurrency: 0
              workflow: {{steps: [{{name: s, wait: -2}}]}}
    """)

    assert found == [
        "flow.yaml:2: descripton: unknown key; did you mean 'description'?",
        "flow.yaml:4: steps[0]: missing the step's type: one of lambda, pipeline, choice, "
        "wait, wait_until, signal, map",
        "flow.yaml:5: steps[0].lamda: unknown key; did you mean 'lambda'?",
        "flow.yaml:8: steps[1].choice.when: `__import__('os')` is not allowed: the only "
        "functions are len(), abs(), min(), max()",
        "flow.yaml:8: steps[1].choice.when: `params.x.__class__` is not allowed: '__class__': "
        "names starting with __ cannot be read",
        "flow.yaml:9: steps[1].choice.then: 'lod' names no step of this workflow; "
        "did you mean 'load'?",
        "flow.yaml:10: steps[2].name: duplicate step name 'load' (also steps[0])",
        f"flow.yaml:11: steps[2].wait: {SECONDS}, got 'soon' (str)",
        "flow.yaml:15: steps[3].map.max_concurrency: must be an integer >= 1, got 0 (int)",
        f"flow.yaml:16: steps[3].map.workflow.steps[0].wait: {SECONDS}, got -2 (int)",
    ]


def test_the_error_is_a_validation_error_with_a_summary() -> None:
    with pytest.raises(WorkflowDefinitionError) as caught:
        load_workflow(write("name: x\nsteps:\n  - {name: a, wait: -1}\n  - {name: b, wait: -2}\n"))
    error = caught.value

    assert isinstance(error, WorkflowValidationError)
    assert isinstance(error, ValueError)
    assert error.source == "flow.yaml"
    assert error.workflow == "x"
    assert str(error).splitlines() == [
        "flow.yaml: 2 problems:",
        f"  flow.yaml:3: steps[0].wait: {SECONDS}, got -1 (int)",
        f"  flow.yaml:4: steps[1].wait: {SECONDS}, got -2 (int)",
    ]


def test_a_missing_file_cannot_be_read() -> None:
    with pytest.raises(WorkflowDefinitionError, match=r"nothing\.yaml: cannot read it: No such"):
        load_workflow("nothing.yaml")


def test_a_dict_is_reported_without_lines() -> None:
    with pytest.raises(WorkflowDefinitionError) as caught:
        workflow_from_dict({"name": "x", "steps": [{"name": "a", "wait": -1}]}, source="api")

    assert caught.value.problems == [f"api: steps[0].wait: {SECONDS}, got -1 (int)"]


def test_too_many_values_once_aliases_expand_are_refused() -> None:
    laughs = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 7):
        previous = chr(ord("a") + level - 1)
        name = chr(ord("a") + level)
        laughs.append(f"{name}: &{name} [{', '.join([f'*{previous}'] * 10)}]")
    text = "name: x\ndefaults:\n" + "\n".join(f"  {line}" for line in laughs)

    found = problems(text + "\nsteps: [{name: a, wait: 1}]\n")

    assert len(found) == 1
    assert "too large: more than 100000 values" in found[0]


# -- nested workflows and imports ---------------------------------------------------------


def test_a_map_runs_a_workflow_from_another_file() -> None:
    Path("items").mkdir()
    write(f"name: items.square\nsteps: [{{name: sq, lambda: '{M}:square'}}]\n", "items/sq.yaml")
    path = write("""
        name: outer
        steps:
          - name: fan
            map: {items: params.weeks, item_param: week, workflow: items/sq.yaml}
    """)
    with WorkflowRunner() as runner:
        result = runner.execute(load_workflow(path), params={"weeks": [2, 3]})

    assert result.status == "COMPLETED"
    squares = [r["sq"]["square"] for r in result.context.get_output("fan")["results"]]
    assert squares == [4, 9]


def test_problems_of_a_referenced_file_name_that_file() -> None:
    Path("items").mkdir()
    write("name: inner\nsteps:\n  - {name: s, wait: -1}\n", "items/inner.yaml")

    found = problems("""
        name: outer
        steps:
          - {name: fan, map: {items: params.xs, workflow: items/inner.yaml}}
          - {name: bad, wait: -3}
    """)

    assert found == [
        f"items/inner.yaml:3: steps[0].wait: {SECONDS}, got -1 (int)",
        f"flow.yaml:4: steps[1].wait: {SECONDS}, got -3 (int)",
    ]


def test_a_file_cannot_map_over_itself() -> None:
    write("name: b\nsteps: [{name: fan, map: {items: params.xs, workflow: flow.yaml}}]\n", "b.yaml")

    found = problems("name: a\nsteps: [{name: fan, map: {items: params.xs, workflow: b.yaml}}]\n")

    assert found == [
        "b.yaml:2: steps[0].map.workflow: 'flow.yaml' is a file being loaded: a map cannot "
        "run its own workflow"
    ]


def test_a_map_runs_a_workflow_named_by_module_attribute_or_registration() -> None:
    reference = f"{M}:item_workflow"
    by_reference = load_workflow(
        write(f"name: o\nsteps: [{{name: f, map: {{items: params.xs, workflow: '{reference}'}}}}]")
    )
    register_workflow(yaml_steps.item_workflow)
    by_name = load_workflow(
        write("name: o\nsteps: [{name: f, map: {items: outputs.s.xs, workflow: yaml.items}}]\n")
    )

    assert by_reference.steps[0].iterator_workflow is yaml_steps.item_workflow
    assert by_name.steps[0].iterator_workflow is yaml_steps.item_workflow
    assert by_name.steps[0].items_path == "outputs.s.xs"


def test_imports_are_imported_before_the_steps_are_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = f"yaml_imports_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(
        "from spine.framework import pipeline\n\n"
        "@pipeline('imported.pipeline')\n"
        "def run(params):\n"
        "    return {'ok': True}\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))

    workflow = load_workflow(
        write(f"name: x\nimports: [{module}]\nsteps: [{{name: p, pipeline: imported.pipeline}}]\n")
    )

    assert "imported.pipeline" in list_pipelines()
    with WorkflowRunner() as runner:
        assert runner.execute(workflow).context.get_output("p") == {"ok": True}


def test_importing_orchestration_does_not_import_yaml() -> None:
    code = "import json, sys\nimport spine.orchestration\nprint(json.dumps(sorted(sys.modules)))\n"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )

    assert "yaml" not in json.loads(done.stdout)


def test_timeouts_are_read_from_the_file_and_checked_like_in_python() -> None:
    workflow = workflow_from_dict({
        "name": "yaml.timeouts",
        "timeout_seconds": 60,
        "steps": [{"name": "load", "pipeline": "p.load", "timeout_seconds": 2.5},
                  {"name": "pause", "wait": 1}],
    })  # fmt: skip
    assert workflow.timeout_seconds == 60
    assert [s.timeout_seconds for s in workflow.steps] == [2.5, None]
    for step, expected in [
        (
            {"name": "load", "pipeline": "p.load", "timeout_seconds": -1},
            "steps[0].timeout_seconds: must be a positive finite number of seconds",
        ),
        ({"name": "pause", "wait": 1, "timeout_seconds": 5}, "does not apply to a wait step"),
    ]:
        with pytest.raises(WorkflowValidationError) as refused:
            workflow_from_dict({"name": "yaml.bad_timeouts", "steps": [step]})
        assert expected in "\n".join(refused.value.problems)


def test_waits_until_a_moment_and_for_a_signal_are_read_from_the_file(sqlite_url: str) -> None:
    path = write("""
        name: yaml.approval
        steps:
          - {name: hold, wait_until: 2027-01-04T06:00:00+00:00}
          - {name: then, wait_until: params.deadline}
          - {name: approve, signal: approved, timeout_seconds: 86400}
    """)
    workflow = load_workflow(path)
    hold, then, approve = workflow.steps
    assert [s.step_type for s in workflow.steps] == [StepType.WAIT] * 3
    assert hold.until is not None
    assert then.until == "params.deadline"
    assert (approve.signal_name, approve.timeout_seconds) == ("approved", 86400)
    python = Workflow(
        "yaml.approval",
        [
            Step.wait("hold", until="2027-01-04T06:00:00+00:00"),
            Step.wait("then", until="params.deadline"),
            Step.await_signal("approve", "approved", timeout_seconds=86400),
        ],
    )
    assert workflow.to_dict()["steps"] == python.to_dict()["steps"]
    # It runs as the Python one does: due waits pass, the signal step waits for its signal.
    register_workflow(workflow)
    past = {"deadline": "2020-01-01T00:00:00+00:00"}
    runnable = load_workflow(
        write(
            """
        name: yaml.approval_now
        steps:
          - {name: then, wait_until: params.deadline}
          - {name: approve, signal: approved}
    """,
            "now.yaml",
        )
    )
    with WorkflowRunner(database_url=sqlite_url, block_on_waits=False) as runner:
        waiting = runner.execute(runnable, params=past)
        assert waiting.status == "WAITING"
        runner.signal(waiting.run_id, "approved", {"by": "ops"})
        done = runner.resume(waiting.run_id, runnable)
    assert done.status == "COMPLETED"
    assert done.context.outputs["approve"] == {"by": "ops"}


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        (
            {"wait_until": "2027-01-04T06:00:00"},
            "steps[0].wait_until: must be an ISO-8601 time with an offset",
        ),
        ({"wait_until": 5}, "steps[0].wait_until: must be an ISO-8601 time with an offset"),
        ({"signal": ""}, "steps[0].signal: must be non-empty text"),
        ({"wait_until": "params.x", "timeout_seconds": 5}, "does not apply to a wait step"),
        ({"signal": "ok", "retry": {"max_attempts": 3}}, "a signal step takes no retry"),
        ({"signal": "ok", "on_error": "retry"}, "a signal step takes no retry"),
    ],
)
def test_a_bad_wait_until_or_signal_is_named(step: dict[str, object], expected: str) -> None:
    with pytest.raises(WorkflowValidationError) as refused:
        workflow_from_dict({"name": "yaml.bad_wait", "steps": [{"name": "s", **step}]})
    assert expected in "\n".join(refused.value.problems)
