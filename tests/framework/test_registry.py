"""The pipeline registry: decorators, look-ups and the rules for names."""

from __future__ import annotations

from typing import Any

import pytest

from spine.core.errors import PipelineNotFoundError
from spine.framework import (
    Dispatcher,
    Pipeline,
    PipelineRegistry,
    PipelineResult,
    PipelineStatus,
    clear_registry,
    get_pipeline,
    list_pipelines,
    pipeline,
    register_pipeline,
)


class _Echo(Pipeline):
    def run(self) -> PipelineResult:
        return PipelineResult(status=PipelineStatus.COMPLETED, metrics=dict(self.params))


def test_named_decorator_on_function_registers_and_returns_it() -> None:
    def ingest(params: dict[str, Any]) -> dict[str, Any]:
        return {"rows": 1}

    decorated = pipeline("data.ingest")(ingest)

    assert decorated is ingest
    assert get_pipeline("data.ingest") is ingest


def test_named_decorator_on_pipeline_subclass() -> None:
    @pipeline("data.echo")
    class Echo(_Echo):
        pass

    assert get_pipeline("data.echo") is Echo


def test_bare_decorator_uses_function_name() -> None:
    @pipeline
    def normalize(params: dict[str, Any]) -> dict[str, Any]:
        return {}

    assert get_pipeline("normalize") is normalize


def test_bare_decorator_uses_class_name_attribute() -> None:
    @pipeline
    class Named(_Echo):
        name = "class.named"

    assert list_pipelines() == ["class.named"]
    assert get_pipeline("class.named") is Named


def test_register_pipeline_as_decorator_factory() -> None:
    returned = register_pipeline("echo")(_Echo)

    assert returned is _Echo
    assert get_pipeline("echo") is _Echo


def test_register_pipeline_with_target_argument() -> None:
    def fn(params: dict[str, Any]) -> dict[str, Any]:
        return {}

    assert register_pipeline("direct", fn) is fn
    assert get_pipeline("direct") is fn


def test_list_pipelines_is_sorted_and_clear_registry_empties_it() -> None:
    for name in ("zeta", "alpha", "mid"):
        register_pipeline(name, _Echo)

    assert list_pipelines() == ["alpha", "mid", "zeta"]
    clear_registry()
    assert list_pipelines() == []
    with pytest.raises(PipelineNotFoundError):
        get_pipeline("alpha")


def test_unknown_name_raises_pipeline_not_found_listing_known_names() -> None:
    register_pipeline("known.one", _Echo)
    register_pipeline("known.two", _Echo)

    with pytest.raises(PipelineNotFoundError) as info:
        get_pipeline("missing.pipeline")

    assert isinstance(info.value, KeyError)
    text = str(info.value)
    assert "not found" in text.lower()
    assert "missing.pipeline" in text
    assert "known.one" in text
    assert "known.two" in text
    assert info.value.pipeline_name == "missing.pipeline"


def test_unknown_name_is_catchable_as_key_error() -> None:
    with pytest.raises(KeyError):
        get_pipeline("nothing")


def test_different_function_under_taken_name_is_refused() -> None:
    def first(params: dict[str, Any]) -> dict[str, Any]:
        return {"n": 1}

    def second(params: dict[str, Any]) -> dict[str, Any]:
        return {"n": 2}

    register_pipeline("taken", first)
    with pytest.raises(ValueError, match="already registered"):
        register_pipeline("taken", second)
    assert get_pipeline("taken") is first


def _make_same_function() -> Any:
    # What re-running a module (or a notebook cell) does: a new function object
    # with the same module and qualified name.
    namespace: dict[str, Any] = {"__name__": "tests.reloaded_module"}
    exec("def reloaded(params):\n    return {}\n", namespace)
    return namespace["reloaded"]


def test_re_registering_the_same_function_is_allowed() -> None:
    old = _make_same_function()
    new = _make_same_function()  # a distinct object with the same module and qualname
    assert old is not new

    register_pipeline("reloadable", old)
    register_pipeline("reloadable", old)
    register_pipeline("reloadable", new)

    assert get_pipeline("reloadable") is new


def test_two_different_lambdas_under_one_name_are_refused() -> None:
    register_pipeline("lam", lambda params: {"a": 1})
    with pytest.raises(ValueError, match="already registered"):
        register_pipeline("lam", lambda params: {"b": 2})


def test_class_not_subclassing_pipeline_is_refused() -> None:
    class NotAPipeline:
        def run(self) -> None:
            return None

    with pytest.raises(TypeError, match="Pipeline"):
        register_pipeline("bad.class", NotAPipeline)
    assert "bad.class" not in list_pipelines()


def test_non_callable_is_refused() -> None:
    with pytest.raises(TypeError):
        register_pipeline("bad.value", 42)  # type: ignore[call-overload]
    assert list_pipelines() == []


@pytest.mark.parametrize("name", ["", "   "])
def test_empty_name_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="non-empty"):
        register_pipeline(name, _Echo)


def test_scoped_registry_is_independent_of_the_default() -> None:
    scoped = PipelineRegistry()

    def local(params: dict[str, Any]) -> dict[str, Any]:
        return {"where": "scoped"}

    def default(params: dict[str, Any]) -> dict[str, Any]:
        return {"where": "default"}

    scoped.register("shared.name", local)
    register_pipeline("shared.name", default)
    register_pipeline("default.only", default)

    assert scoped.names() == ["shared.name"]
    assert "default.only" not in scoped
    assert Dispatcher(scoped).run("shared.name").metrics == {"where": "scoped"}
    assert Dispatcher().run("shared.name").metrics == {"where": "default"}
    with pytest.raises(PipelineNotFoundError):
        Dispatcher(scoped).run("default.only")


def test_unregister_removes_only_that_name() -> None:
    scoped = PipelineRegistry()
    scoped.register("a", _Echo)
    scoped.register("b", _Echo)

    scoped.unregister("a")
    scoped.unregister("never.registered")

    assert scoped.names() == ["b"]
    assert len(scoped) == 1
