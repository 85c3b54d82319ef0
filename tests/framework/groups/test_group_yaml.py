"""The spine.io/v1 YAML document: spine-core's files load, groups round-trip, and bad
files are reported with their file name, fields and lines."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from spine.core.errors import GroupError, GroupValidationError
from spine.framework.groups import (
    ExecutionMode,
    ExecutionPolicy,
    FailurePolicy,
    PipelineGroup,
    PipelineStep,
    group_to_dict,
    load_group_from_yaml,
    parse_group_yaml,
)

SPINE_CORE_FILE = """\
# A group file as spine-core wrote them.
apiVersion: spine.io/v1
kind: PipelineGroup

metadata:
  name: finra.weekly_refresh
  domain: finra.otc_transparency
  version: 1
  description: Weekly FINRA OTC Transparency data refresh
  tags: [finra, weekly]

spec:
  defaults:
    tier: NMS_TIER_1
    week_ending: "{{ params.week_ending }}"

  pipelines:
    - name: ingest
      pipeline: finra.otc_transparency.ingest_week
      params:
        source_type: api

    - name: normalize
      pipeline: finra.otc_transparency.normalize_week
      depends_on: [ingest]

    - name: aggregate
      pipeline: finra.otc_transparency.aggregate_week
      depends_on: normalize

  policy:
    execution: parallel
    max_concurrency: 2
    on_failure: continue
    timeout_minutes: 60
"""


def _write(tmp_path: Path, text: str, name: str = "group.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_a_spine_core_file_loads(tmp_path: Path) -> None:
    group = PipelineGroup.from_yaml(_write(tmp_path, SPINE_CORE_FILE))

    assert group.name == "finra.weekly_refresh"
    assert group.domain == "finra.otc_transparency"
    assert group.tags == ("finra", "weekly")
    assert group.defaults == {"tier": "NMS_TIER_1", "week_ending": "{{ params.week_ending }}"}
    assert group.step_names == ["ingest", "normalize", "aggregate"]
    assert group.steps[0].params == {"source_type": "api"}
    assert group.steps[2].depends_on == ("normalize",)
    assert group.policy == ExecutionPolicy(
        ExecutionMode.PARALLEL, 2, FailurePolicy.CONTINUE, timeout_minutes=60
    )


def test_a_group_round_trips_through_yaml_and_dicts(tmp_path: Path) -> None:
    group = PipelineGroup(
        "g",
        [
            PipelineStep("a", "p.a", params={"n": 1, "when": "2026-01-03", "on": True}),
            PipelineStep("b", "p.b", depends_on=["a"]),
        ],
        domain="d",
        description="désolé: unicode survives",
        version=2,
        defaults={"tier": "T1", "list": [1, 2]},
        policy=ExecutionPolicy.parallel(3, FailurePolicy.CONTINUE),
        tags=["x"],
    )
    path = tmp_path / "g.yaml"
    path.write_text(group.to_yaml(), encoding="utf-8")

    assert load_group_from_yaml(path) == group
    assert PipelineGroup.from_dict(group.to_dict()) == group
    assert PipelineGroup.from_dict(group_to_dict(group)) == group
    assert group_to_dict(group)["spec"]["policy"] == {
        "execution": "parallel",
        "max_concurrency": 3,
        "on_failure": "continue",
    }
    assert group.to_dict()["policy"] == {
        "execution": "parallel",
        "max_concurrency": 3,
        "on_failure": "continue",
        "timeout_minutes": None,
    }


def test_spine_core_flat_dicts_are_read() -> None:
    group = PipelineGroup.from_dict(
        {
            "name": "flat",
            "steps": [
                {"name": "a", "pipeline": "p"},
                {"name": "b", "pipeline": "p", "depends_on": "a"},
            ],
            "policy": {"execution": "sequential", "on_failure": "stop", "timeout_minutes": None},
            "tags": [],
        }
    )

    assert group.step_names == ["a", "b"]
    assert group.policy == ExecutionPolicy()


def test_every_problem_of_a_file_is_reported_with_its_line(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """\
        apiVersion: spine.io/v2
        kind: PipelineGroup
        metadata:
          name: broken
          version: one
        spec:
          pipelines:
            - name: ingest
              pipeline: p.ingest
              depend_on: [nothing]
            - name: normalize
              pipeline: p.normalize
              depends_on: [ingest]
              depends_on: [ghost]
          policy:
            execution: paralel
            max_concurrency: 0
        """,
    )

    with pytest.raises(GroupValidationError) as caught:
        load_group_from_yaml(path)

    error = caught.value
    assert error.group == "broken"
    assert error.source == str(path)
    assert error.problems == [
        "line 1, apiVersion: Unsupported apiVersion 'spine.io/v2' (supported: spine.io/v1)",
        "line 5, metadata.version: must be an integer, got str 'one'",
        "line 10, spec.pipelines[0].depend_on: unknown field 'depend_on' (expected one of: "
        "name, pipeline, depends_on, params)",
        "line 14, spec.pipelines[1].depends_on: duplicate key 'depends_on' (first on line 13); "
        "only this one would be used",
        "line 14, spec.pipelines[1].depends_on: step 'normalize' depends on unknown step "
        "'ghost' (steps: ingest, normalize)",
        "line 16, spec.policy.execution: must be one of sequential, parallel, got str 'paralel'",
        "line 17, spec.policy.max_concurrency: must be an integer >= 1, got int 0",
    ]
    assert str(error).startswith(f"{path}: pipeline group 'broken' has 7 problems:\n")


def test_graph_problems_of_a_file_point_at_the_steps(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """\
        metadata: {name: cyclic}
        spec:
          pipelines:
            - {name: a, pipeline: p, depends_on: [b]}
            - {name: b, pipeline: p, depends_on: [a]}
            - {name: c, pipeline: p, depends_on: [missing]}
        """,
    )

    with pytest.raises(GroupValidationError) as caught:
        load_group_from_yaml(path)

    assert caught.value.problems == [
        "line 4, spec.pipelines[0].depends_on: dependency cycle a -> b -> a (each step "
        "depends on the next); remove one of these dependencies",
        "line 6, spec.pipelines[2].depends_on: step 'c' depends on unknown step 'missing' "
        "(steps: a, b, c)",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "metadata: {name: g\nspec: {}\n",
            "pipeline group: line 2: invalid YAML: expected ',' or '}', but got ':'",
        ),
        ("", "pipeline group: Expected dict (a PipelineGroup mapping), got nothing"),
        (
            "- a\n- b\n",
            "pipeline group: line 1: Expected dict (a PipelineGroup mapping), got a list",
        ),
        (
            "kind: Workflow\nmetadata: {name: g}\nspec: {pipelines: [{name: a, pipeline: p}]}\n",
            "pipeline group 'g': line 1, kind: Expected kind 'PipelineGroup', got 'Workflow'",
        ),
        (
            "metadata: {name: g}\nspec: {pipelines: []}\n",
            "pipeline group 'g': line 2, spec.pipelines: a group needs at least one step",
        ),
        (
            "metadata: {domain: d}\nspec:\n  pipelines:\n    - {pipeline: p}\n",
            "pipeline group has 2 problems:\n"
            "  - line 1, metadata.name is required\n"
            "  - line 4, spec.pipelines[0].name is required",
        ),
        (
            "metadata: {name: g}\nspec: {pipelines: [a, b]}\n",
            "pipeline group 'g' has 2 problems:\n"
            "  - line 2, spec.pipelines[0]: must be a mapping with name and pipeline, got 'a'",
        ),
    ],
)
def test_bad_files_name_the_file_the_field_and_the_line(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = _write(tmp_path, text, "bad.yaml")

    with pytest.raises(GroupValidationError) as caught:
        load_group_from_yaml(path)

    assert str(caught.value).startswith(f"{path}: {expected}")


def test_text_without_a_file_is_named_by_its_source() -> None:
    with pytest.raises(GroupValidationError) as caught:
        parse_group_yaml("metadata: {name: g, colour: red}\n", source="inline")

    assert str(caught.value) == (
        "inline: pipeline group 'g' has 2 problems:\n"
        "  - line 1, metadata.colour: unknown field 'colour' (expected one of: name, domain, "
        "version, description, tags)\n"
        "  - line 1, spec.pipelines is required"
    )


def test_a_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("metadata: {name: caf\xe9}\n".encode("latin-1"))

    with pytest.raises(GroupValidationError, match=r"latin1\.yaml: pipeline group: not UTF-8"):
        load_group_from_yaml(path)


def test_params_that_yaml_cannot_hold_are_refused_when_dumping() -> None:
    group = PipelineGroup("g", [PipelineStep("a", "p", params={"handle": object()})])

    with pytest.raises(GroupError, match="pipeline group 'g' cannot be written as YAML"):
        group.to_yaml()
