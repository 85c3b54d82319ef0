"""OpenTelemetry: spans and metrics read back from the SDK's in-memory exporter and reader."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from remote_steps import traced, traced_pipeline

from spine.execution import Executor, ProcessExecutor
from spine.framework.registry import register_pipeline
from spine.orchestration import (
    RetryPolicy,
    Step,
    StepResult,
    Workflow,
    WorkflowContext,
    WorkflowRunner,
    register_workflow,
)
from spine.orchestration.engine import telemetry
from spine.store import open_store
from spine.store.logs import StepLogs

pytest.importorskip("opentelemetry.sdk", reason="the tests read spans back with the SDK")


def _spans(otel: Any) -> list[Any]:
    return list(otel.spans.get_finished_spans())


def _by_name(spans: list[Any], name: str) -> list[Any]:
    return [s for s in spans if s.name == name]


def _parent(span: Any) -> int | None:
    return None if span.parent is None else span.parent.span_id


def _metrics(otel: Any) -> dict[str, list[tuple[dict[str, Any], Any]]]:
    """Each metric's points: (attributes, value) for sums and gauges, (attributes,
    count) for histograms."""
    found: dict[str, list[tuple[dict[str, Any], Any]]] = {}
    data = otel.reader.get_metrics_data()
    for resource in data.resource_metrics if data is not None else []:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                found[metric.name] = [
                    (dict(p.attributes), getattr(p, "value", getattr(p, "count", None)))
                    for p in metric.data.data_points
                ]
    return found


def _ok(ctx: WorkflowContext, config: dict[str, Any]) -> StepResult:
    print("loaded")
    return StepResult.ok(output={"n": 1})


def _flaky(ctx: WorkflowContext, config: dict[str, Any]) -> StepResult:
    if ctx.params["tries"].pop():
        return StepResult.fail("not yet", "TRANSIENT")
    return StepResult.ok()


def _bad(ctx: WorkflowContext, config: dict[str, Any]) -> StepResult:
    return StepResult.fail("the data is wrong", "DATA_QUALITY")


def test_a_run_and_each_step_attempt_are_spans_with_their_outcome(
    otel: Any, database_url: str
) -> None:
    workflow = Workflow(
        "traced",
        [
            Step.lambda_("load", _ok),
            Step.lambda_(
                "flaky", _flaky, retry=RetryPolicy(max_attempts=2, initial_delay_seconds=0)
            ),
            Step.lambda_("check", _bad),
        ],
    )
    with WorkflowRunner(database_url=database_url) as runner:
        result = runner.execute(workflow, params={"tries": [False, True]})
        stored = runner.store.load_run(result.run_id)  # type: ignore[union-attr]
    assert result.status == "FAILED"
    spans = _spans(otel)
    (run,) = _by_name(spans, "run traced")
    assert run.parent is None
    assert dict(run.attributes) == {
        "spine.workflow": "traced",
        "spine.run_id": result.run_id,
        "spine.status": "FAILED",
        "spine.error_category": "DATA_QUALITY",
    }
    assert run.status.status_code.name == "ERROR"
    steps = [s for s in spans if s.name.startswith("step ")]
    assert [
        (s.name, s.attributes["spine.attempt"], s.attributes["spine.status"]) for s in steps
    ] == [
        ("step load", 1, "COMPLETED"),
        ("step flaky", 1, "FAILED"),
        ("step flaky", 2, "COMPLETED"),
        ("step check", 1, "FAILED"),
    ]
    assert {_parent(s) for s in steps} == {run.context.span_id}
    assert {s.context.trace_id for s in spans} == {run.context.trace_id}
    check = steps[-1]
    assert check.attributes["spine.error_category"] == "DATA_QUALITY"
    assert check.attributes["spine.run_id"] == result.run_id
    assert check.status.status_code.name == "ERROR"
    assert "the data is wrong" in (check.status.description or "")
    assert steps[0].status.status_code.name == "UNSET"
    # The step's log names the trace and the span it ran in, on its first line.
    log = stored.steps[0].log
    assert [level for _, level, _ in log] == ["trace", "stdout"]
    assert log[0][2] == (
        f"trace_id={run.context.trace_id:032x} span_id={steps[0].context.span_id:016x}"
    )


def test_runs_and_step_durations_are_counted_by_workflow(otel: Any, database_url: str) -> None:
    good = Workflow("good", [Step.lambda_("load", _ok)])
    bad = Workflow("bad", [Step.lambda_("check", _bad)])
    register_workflow(good)
    register_workflow(bad)
    with WorkflowRunner(database_url=database_url) as runner:
        runner.execute(good)
        runner.execute(good)
        runner.execute(bad)
        for _ in range(3):
            runner.submit(good)
        runner.submit(bad)
        found = _metrics(otel)
        # Submitted runs wait in the queue: its depth, by workflow and database; once
        # a workflow's queue is empty it reads 0.
        depths = found["spine.queue.depth"]
        assert {a["spine.database"] for a, _ in depths} == {runner.store.where}  # type: ignore[union-attr]
        assert sorted((a["spine.workflow"], v) for a, v in depths) == [("bad", 1), ("good", 3)]
        assert len(runner.run_pending(limit=10)) == 4
        emptied = _metrics(otel)["spine.queue.depth"]
        assert sorted((a["spine.workflow"], v) for a, v in emptied) == [("bad", 0), ("good", 0)]
    assert sorted((a["spine.workflow"], v) for a, v in found["spine.runs.started"]) == [
        ("bad", 1),
        ("good", 2),
    ]
    assert found["spine.runs.completed"] == [
        ({"spine.workflow": "good", "spine.status": "COMPLETED"}, 2)
    ]
    assert found["spine.runs.failed"] == [({"spine.workflow": "bad", "spine.status": "FAILED"}, 1)]
    assert sorted(
        (a["spine.step"], a["spine.status"], n) for a, n in found["spine.step.duration"]
    ) == [
        ("check", "FAILED", 1),
        ("load", "COMPLETED", 2),
    ]


def test_a_runner_that_only_submits_reports_the_queue_depth(otel: Any, sqlite_url: str) -> None:
    workflow = Workflow("queued_only", [Step.lambda_("load", _ok)])
    register_workflow(workflow)
    with WorkflowRunner(database_url=sqlite_url) as runner:
        runner.submit(workflow)
        runner.submit(workflow)
        depths = _metrics(otel)["spine.queue.depth"]
    assert [(a["spine.workflow"], v) for a, v in depths] == [("queued_only", 2)]
    # A closed runner is no longer read.
    assert "spine.queue.depth" not in _metrics(otel)


def _wait_first(ctx: WorkflowContext, config: dict[str, Any]) -> StepResult:
    return StepResult.ok()


def test_a_resumed_run_is_started_once_and_a_wait_is_not_a_failure(
    otel: Any, sqlite_url: str
) -> None:
    from opentelemetry import trace

    # Metrics alone (no tracer provider): the wait still counts as WAITING, not FAILED.
    trace._TRACER_PROVIDER = None  # type: ignore[attr-defined]
    workflow = Workflow("paused", [Step.wait("pause", 0.3), Step.lambda_("go", _ok)])
    with WorkflowRunner(database_url=sqlite_url, block_on_waits=False) as runner:
        first = runner.execute(workflow)
        assert first.status == "WAITING"
        time.sleep(0.35)
        assert runner.resume(first.run_id, workflow).status == "COMPLETED"
    found = _metrics(otel)
    assert found["spine.runs.started"] == [({"spine.workflow": "paused"}, 1)]
    assert [v for _, v in found["spine.runs.completed"]] == [1]
    assert sorted(
        (a["spine.step"], a["spine.status"]) for a, _ in found["spine.step.duration"]
    ) == [
        ("go", "COMPLETED"),
        ("pause", "COMPLETED"),
        ("pause", "WAITING"),
    ]
    assert _spans(otel) == []


def _traced_map() -> Workflow:
    register_pipeline("traced_pipeline", traced_pipeline)
    item = Workflow("traced_item", [Step.lambda_("look", traced)])
    return Workflow(
        "traced_map",
        [
            Step.pipeline("pipe", "traced_pipeline"),
            Step.map("each", "items", item, max_concurrency=2),
        ],
    )


def check_traced_map(otel: Any, url: str | None, executor: Executor | str, elsewhere: bool) -> None:
    """A map's items on ``executor`` are spans inside its map step's attempt, in its
    run's trace; what ran in another process saw that trace (``elsewhere``)."""
    with WorkflowRunner(database_url=url, executor=executor) as runner:
        result = runner.execute(_traced_map(), params={"items": [0, 1, 2, 3]})
    assert result.status == "FAILED"  # item 2 raised
    spans = _spans(otel)
    (run,) = _by_name(spans, "run traced_map")
    trace = f"{run.context.trace_id:032x}"
    assert {f"{s.context.trace_id:032x}" for s in spans} == {trace}
    (each,) = _by_name(spans, "step each")
    items = _by_name(spans, "run traced_item")
    assert len(items) == 4
    assert {_parent(s) for s in items} == {each.context.span_id}
    looks = _by_name(spans, "step look")
    assert sorted(_parent(s) for s in looks) == sorted(s.context.span_id for s in items)
    assert sorted(s.attributes["spine.status"] for s in looks) == ["COMPLETED"] * 3 + ["FAILED"]
    for span in (*items, *looks):
        assert each.start_time <= span.start_time <= span.end_time <= each.end_time
    # (A pipeline's output is its step's: what the worker process saw.)
    assert result.outputs["pipe"]["trace"] == trace
    outputs = [o for o in result.outputs["each"]["results"] if o]
    assert {o["look"]["trace"] for o in outputs} == {trace}
    assert all((o["look"]["pid"] != os.getpid()) is elsewhere for o in outputs)
    if url is None:
        return
    with open_store(url) as store:
        _, logs = StepLogs.sharing(store).read(result.run_id)
    item_logs = [log for log in logs if log.item is not None]
    assert len(item_logs) == 4
    for log in item_logs:
        assert log.lines[0][1] == "trace"
        assert log.lines[0][2].startswith(f"trace_id={trace} ")


@pytest.fixture(scope="module")
def processes() -> Iterator[ProcessExecutor]:
    with ProcessExecutor(2) as executor:
        yield executor


@pytest.mark.parametrize("executor", ["inline", "threads"])
def test_map_items_are_spans_inside_their_map_step(
    otel: Any, sqlite_url: str, executor: str
) -> None:
    check_traced_map(otel, sqlite_url, executor, elsewhere=False)


def test_map_items_in_worker_processes_run_inside_the_runs_trace(
    otel: Any, sqlite_url: str, processes: ProcessExecutor
) -> None:
    check_traced_map(otel, sqlite_url, processes, elsewhere=True)


def test_map_items_in_worker_processes_without_history_are_spans_too(
    otel: Any, processes: ProcessExecutor
) -> None:
    check_traced_map(otel, None, processes, elsewhere=True)


def _slow(ctx: WorkflowContext, config: dict[str, Any]) -> StepResult:
    import time

    time.sleep(2)
    return StepResult.ok()


def test_a_timed_out_attempt_and_a_wait_have_their_own_status(otel: Any, sqlite_url: str) -> None:
    workflow = Workflow(
        "paced",
        [
            Step.lambda_("slow", _slow, timeout_seconds=0.2, on_error="continue"),
            Step.wait("pause", 3600),
        ],
    )
    with WorkflowRunner(database_url=sqlite_url, block_on_waits=False) as runner:
        result = runner.execute(workflow)
    assert result.status == "WAITING"
    spans = _spans(otel)
    slow, pause = _by_name(spans, "step slow")[0], _by_name(spans, "step pause")[0]
    assert slow.attributes["spine.status"] == "FAILED"
    assert slow.attributes["spine.error_category"] == "TIMEOUT"
    assert (slow.end_time - slow.start_time) / 1e9 < 1.5  # the run moved on at once
    assert pause.attributes["spine.status"] == "WAITING"
    (run,) = _by_name(spans, "run paced")
    assert run.attributes["spine.status"] == "WAITING"
    assert run.status.status_code.name == "UNSET"


def test_tracing_false_emits_nothing(otel: Any) -> None:
    workflow = Workflow("quiet", [Step.lambda_("load", _ok)])
    with WorkflowRunner(tracing=False) as runner:
        with otel.tracer.start_as_current_span("the caller's"):
            quiet = runner.execute(workflow)
        assert [s.name for s in _spans(otel)] == ["the caller's"]
        assert [level for _, level, _ in quiet.step_executions[0].log or []] == ["stdout"]
        otel.spans.clear()
        runner.tracing = True
        runner.execute(workflow)
        assert [s.name for s in _spans(otel)] == ["step load", "run quiet"]
        runner.tracing = False
        runner.execute(workflow)
    assert len(_spans(otel)) == 2
    (started,) = _metrics(otel)["spine.runs.started"]
    assert started[1] == 1


def test_spans_nest_in_the_callers_own_span(otel: Any) -> None:
    workflow = Workflow("nested", [Step.lambda_("load", _ok)])
    with otel.tracer.start_as_current_span("nightly job") as outer, WorkflowRunner() as runner:
        runner.execute(workflow)
    (run,) = _by_name(_spans(otel), "run nested")
    assert _parent(run) == outer.get_span_context().span_id


_WITHOUT = """
import sys
{block}
import spine.orchestration
from spine.orchestration import Step, StepResult, Workflow, WorkflowRunner

assert not [m for m, v in sys.modules.items() if m.startswith("opentelemetry") and v], "imported"

def hello(ctx, config):
    print("hello")
    return StepResult.ok(output={{"ok": True}})

wf = Workflow("plain", [Step.lambda_("hello", hello)])
with WorkflowRunner(database_url="sqlite:///{db}") as runner:
    result = runner.execute(wf)
    assert result.status == "COMPLETED", result.error
    log = runner.store.load_run(result.run_id).steps[0].log
    assert [level for _, level, _ in log] == ["stdout"], log
print("ok")
"""


@pytest.mark.parametrize("installed", [True, False], ids=["api-installed", "not-installed"])
def test_without_a_configured_provider_or_the_package_nothing_changes(
    tmp_path: Path, installed: bool
) -> None:
    # Not installed: every opentelemetry import fails, as it does without the package.
    block = "" if installed else "sys.modules['opentelemetry'] = None"
    script = _WITHOUT.format(block=block, db=tmp_path / "h.db")
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("ok")


def test_providers_configured_after_the_runner_was_built_are_used(
    otel: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from opentelemetry import trace

    # The fixture set them before: unset them, run, set them again, run (a runner looks
    # again after LOOK_AGAIN_SECONDS).
    provider = trace.get_tracer_provider()
    workflow = Workflow("late", [Step.lambda_("load", _ok)])
    monkeypatch.setattr(telemetry, "LOOK_AGAIN_SECONDS", 0.05)
    with WorkflowRunner() as runner:
        trace._TRACER_PROVIDER = None  # type: ignore[attr-defined]
        runner.execute(workflow)
        assert _spans(otel) == []
        trace._TRACER_PROVIDER = provider  # type: ignore[attr-defined]
        runner.execute(workflow)
        assert _spans(otel) == []  # not looked again yet
        time.sleep(0.06)
        runner.execute(workflow)
    assert [s.name for s in _spans(otel)] == ["step load", "run late"]


class _Broken:
    """A span processor that raises, as a faulty exporter's processor might."""

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        raise RuntimeError("the exporter is broken")

    def on_end(self, span: Any) -> None:
        raise RuntimeError("the exporter is broken")

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def test_a_failing_sdk_never_fails_a_run(otel: Any, sqlite_url: str) -> None:
    otel.provider.add_span_processor(_Broken())
    workflow = Workflow("sturdy", [Step.lambda_("load", _ok), Step.lambda_("again", _ok)])
    with WorkflowRunner(database_url=sqlite_url) as runner:
        result = runner.execute(workflow)
    assert result.status == "COMPLETED"


def test_work_sent_with_a_trace_runs_where_opentelemetry_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from spine.execution.tracing import attached

    monkeypatch.setitem(sys.modules, "opentelemetry", None)  # as in a worker without it
    ran = []
    with attached({"traceparent": "00-" + "ab" * 16 + "-" + "cd" * 8 + "-01"}):
        ran.append(True)
    assert ran == [True]
