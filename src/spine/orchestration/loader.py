"""spine-core's ``spine.orchestration.loader``, for code written against it: pipeline
group YAML is read and written by :mod:`spine.framework.groups`."""

from spine.framework.groups import (
    SUPPORTED_API_VERSIONS,
    group_to_yaml,
    load_group_from_yaml,
    load_groups_from_directory,
    validate_yaml_schema,
)

__all__ = [
    "SUPPORTED_API_VERSIONS",
    "group_to_yaml",
    "load_group_from_yaml",
    "load_groups_from_directory",
    "validate_yaml_schema",
]
