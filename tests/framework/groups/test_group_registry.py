"""Registering groups by name, and as the pipeline of their name."""

from __future__ import annotations

import pytest
from group_recorder import Recorder

from spine.core.errors import GroupNotFoundError, GroupValidationError
from spine.framework import Dispatcher, PipelineRegistry, list_pipelines, pipeline
from spine.framework.groups import (
    GroupRegistry,
    PipelineGroup,
    PipelineStep,
    clear_group_registry,
    get_group,
    group_exists,
    list_groups,
    register_group,
    unregister_group,
)


def _group(
    name: str = "finra.weekly_refresh", pipeline_name: str = "p", domain: str = ""
) -> PipelineGroup:
    return PipelineGroup(name, [PipelineStep("only", pipeline_name)], domain=domain)


def test_register_get_and_list() -> None:
    weekly = register_group(_group("finra.weekly", domain="finra"))
    register_group(_group("sec.daily", domain="sec"))

    assert get_group("finra.weekly") is weekly
    assert group_exists("sec.daily")
    assert list_groups() == ["finra.weekly", "sec.daily"]
    assert list_groups(domain="finra") == ["finra.weekly"]


def test_an_unknown_group_is_a_key_error_naming_the_registered_ones() -> None:
    register_group(_group("known"))

    with pytest.raises(KeyError) as caught:
        get_group("unknown")

    assert isinstance(caught.value, GroupNotFoundError)
    assert str(caught.value) == "Pipeline group not found: 'unknown' (registered: known)"


def test_an_equal_group_replaces_itself_and_a_different_one_is_refused() -> None:
    register_group(_group())
    register_group(_group())

    with pytest.raises(
        GroupValidationError, match=r"'finra\.weekly_refresh' is already registered"
    ):
        register_group(_group(pipeline_name="other"))
    assert get_group("finra.weekly_refresh").steps[0].pipeline == "p"


def test_a_factory_function_can_be_decorated() -> None:
    @register_group
    def weekly() -> PipelineGroup:
        return _group("decorated")

    assert weekly is get_group("decorated")


def test_a_group_is_registered_as_the_pipeline_of_its_name(recorder: Recorder) -> None:
    recorder.add("p")
    register_group(_group())

    result = Dispatcher().run("finra.weekly_refresh", {"tier": "T1"})

    assert "finra.weekly_refresh" in list_pipelines()
    assert result.succeeded
    assert result.metrics["steps"]["only"]["status"] == "COMPLETED"
    assert recorder.params["p"] == {"tier": "T1"}


def test_as_pipeline_false_leaves_the_pipeline_registry_alone() -> None:
    register_group(_group(), as_pipeline=False)

    assert group_exists("finra.weekly_refresh")
    assert "finra.weekly_refresh" not in list_pipelines()


def test_a_name_taken_by_a_pipeline_is_refused_unless_as_pipeline_is_false() -> None:
    @pipeline("finra.weekly_refresh")
    def real(params: dict[str, object]) -> None:
        return None

    with pytest.raises(GroupValidationError, match="pass as_pipeline=False"):
        register_group(_group())
    assert not group_exists("finra.weekly_refresh")

    register_group(_group(), as_pipeline=False)
    assert group_exists("finra.weekly_refresh")


def test_unregister_and_clear_remove_the_pipeline_entries() -> None:
    register_group(_group("one"))
    register_group(_group("two"))

    unregister_group("one")
    assert not group_exists("one")
    assert "one" not in list_pipelines()
    assert "two" in list_pipelines()

    clear_group_registry()
    assert list_groups() == []
    assert "two" not in list_pipelines()


def test_a_scoped_registry_uses_its_own_pipeline_registry() -> None:
    pipelines = PipelineRegistry()
    groups = GroupRegistry(pipelines)
    pipelines.register("scoped.member", lambda params: {"scoped": True})
    groups.register(_group("scoped", pipeline_name="scoped.member"))

    result = Dispatcher(pipelines).run("scoped")

    assert result.succeeded
    assert result.metrics["steps"]["only"]["metrics"] == {"scoped": True}
    assert list_groups() == []
    assert "scoped" not in list_pipelines()
    assert len(groups) == 1
    assert "scoped" in groups
