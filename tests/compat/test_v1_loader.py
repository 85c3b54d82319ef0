"""spine.orchestration.loader: spine-core's YAML files, directories and schema checks."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml

from spine.orchestration.exceptions import InvalidGroupSpecError
from spine.orchestration.loader import (
    SUPPORTED_API_VERSIONS,
    group_to_yaml,
    load_group_from_yaml,
    load_groups_from_directory,
    validate_yaml_schema,
)

from .spine_core_files import SAMPLE_GROUP


def _document(name: str, *steps: str) -> str:
    pipelines = "".join(f"    - {{name: {s}, pipeline: test.{s}}}\n" for s in steps or ("a",))
    return (
        f"apiVersion: spine.io/v1\nkind: PipelineGroup\nmetadata:\n  name: {name}\n"
        f"spec:\n  pipelines:\n{pipelines}"
    )


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    path = tmp_path / "sample_group.yaml"
    path.write_text(SAMPLE_GROUP, encoding="utf-8")
    return path


def test_a_spine_core_file_loads_from_a_path_or_a_string(sample: Path) -> None:
    group = load_group_from_yaml(sample)

    assert group.name == "finra.weekly_refresh"
    assert group.domain == "finra.otc_transparency"
    assert group.version == 1
    assert "FINRA" in group.description
    assert group.defaults["tier"] == "NMS_TIER_1"
    assert group.step_names == ["ingest", "normalize", "aggregate", "rolling"]
    normalize = group.get_step("normalize")
    assert normalize is not None
    assert normalize.depends_on == ("ingest",)
    assert load_group_from_yaml(str(sample)) == group


def test_a_missing_file_is_a_file_not_found_error() -> None:
    with pytest.raises(FileNotFoundError):
        load_group_from_yaml("/nonexistent/path/group.yaml")


@pytest.mark.parametrize(
    ("text", "match", "field"),
    [
        ("invalid: yaml: content: [", "invalid YAML", None),
        ("- item1\n- item2", "Expected dict", None),
        (_document("g").replace("spine.io/v1", "spine.io/v99"), "Unsupported apiVersion",
         "apiVersion"),
        (_document("g").replace("kind: PipelineGroup", "kind: WrongKind"),
         "Expected kind 'PipelineGroup'", "kind"),
    ],
)  # fmt: skip
def test_a_bad_file_is_an_invalid_group_spec_error(
    tmp_path: Path, text: str, match: str, field: str | None
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")

    with pytest.raises(InvalidGroupSpecError, match=match) as caught:
        load_group_from_yaml(path)

    assert caught.value.field == field
    assert caught.value.source == str(path)
    assert isinstance(caught.value, ValueError)


def test_spine_io_v1_is_the_supported_api_version() -> None:
    assert {"spine.io/v1"} == SUPPORTED_API_VERSIONS


def test_a_directory_loads_every_matching_file_in_path_order(tmp_path: Path) -> None:
    (tmp_path / "nested").mkdir()
    (tmp_path / "b.yaml").write_text(_document("test.b"), encoding="utf-8")
    (tmp_path / "nested" / "a.yaml").write_text(_document("test.nested"), encoding="utf-8")
    (tmp_path / "a.yaml").write_text(_document("test.a"), encoding="utf-8")
    (tmp_path / "c.yml").write_text(_document("test.yml"), encoding="utf-8")

    assert [g.name for g in load_groups_from_directory(tmp_path)] == [
        "test.a",
        "test.b",
        "test.nested",
    ]
    assert [g.name for g in load_groups_from_directory(tmp_path, pattern="*.yml")] == ["test.yml"]
    assert load_groups_from_directory(tmp_path / "nonexistent") == []


def test_a_bad_file_in_a_directory_is_raised_or_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "valid.yaml").write_text(_document("test.valid"), encoding="utf-8")
    (tmp_path / "invalid.yaml").write_text("invalid: yaml: [", encoding="utf-8")

    with pytest.raises(InvalidGroupSpecError, match=r"invalid\.yaml"):
        load_groups_from_directory(tmp_path)
    with caplog.at_level(logging.WARNING, logger="spine.framework.groups"):
        groups = load_groups_from_directory(tmp_path, ignore_errors=True)

    assert [g.name for g in groups] == ["test.valid"]
    assert "skipped pipeline group file" in caplog.text
    assert "invalid.yaml" in caplog.text


def test_a_group_written_as_yaml_is_spine_cores_document(sample: Path) -> None:
    group = load_group_from_yaml(sample)

    parsed = yaml.safe_load(group_to_yaml(group))

    assert parsed["apiVersion"] == "spine.io/v1"
    assert parsed["kind"] == "PipelineGroup"
    assert parsed["metadata"] == {
        "name": group.name,
        "domain": group.domain,
        "version": group.version,
        "description": group.description,
    }
    assert len(parsed["spec"]["pipelines"]) == len(group.steps)
    assert parsed["spec"]["policy"] == {
        "execution": "sequential",
        "max_concurrency": 4,
        "on_failure": "stop",
    }
    assert parsed["spec"]["defaults"] == group.defaults


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"metadata": {"name": "g"}, "spec": {"pipelines": [{"name": "a", "pipeline": "p"}]}}, []),
        ({"metadata": {}, "spec": {"pipelines": [{"name": "a", "pipeline": "p"}]}},
         ["metadata.name is required"]),
        ({"metadata": {"name": "g"}, "spec": {}}, ["spec.pipelines is required"]),
        ({"metadata": {"name": "g"}, "spec": {"pipelines": [{"pipeline": "p"}]}},
         ["spec.pipelines[0].name is required"]),
        ({"metadata": {"name": "g"}, "spec": {"pipelines": [{"name": "a"}]}},
         ["spec.pipelines[0].pipeline is required"]),
        ({"steps": [{"name": "a", "pipeline": "p"}]}, ["name is required"]),
        ({"name": "g"}, ["steps or pipelines is required"]),
        ({"name": "g", "pipelines": [{"name": "a", "pipeline": "p"}]}, []),
        (["not", "a", "mapping"], ["Expected dict (a PipelineGroup mapping), got a list"]),
    ],
)  # fmt: skip
def test_validate_yaml_schema_lists_the_problems_of_data(data: object, expected: list[str]) -> None:
    assert validate_yaml_schema(data) == expected
