"""Forking a run: a new run that starts with another run's recorded steps before a given
step, and executes from that step on with new params.

The rows before the step, on the path the original took, are copied to the new run's id
and stored with its row in one transaction (the original is only read). The new run then
goes on exactly as a resumed run does: :func:`~.state.replay` of its copied rows puts it
at the step, and :meth:`~.runs.Runs.held` runs it (or a worker claims it, queued), so no
rule of a run is written a second time here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from spine.core.errors import WorkflowError, WorkflowValidationError
from spine.core.records import StepRecord, StoredRun
from spine.core.status import WorkflowStatus
from spine.orchestration.engine.journal import check_definition
from spine.orchestration.engine.runs import initial_context
from spine.orchestration.engine.state import replay
from spine.orchestration.flow import Plan, plan_for

if TYPE_CHECKING:
    from spine.orchestration.engine.runs import Runs
    from spine.orchestration.results import WorkflowResult
    from spine.orchestration.workflow import Workflow


@dataclass(frozen=True, slots=True)
class Fork:
    """A fork about to be stored: its workflow, and its row with the rows it copied."""

    workflow: Workflow
    plan: Plan
    new: StoredRun


def execute_fork(
    runs: Runs,
    run_id: str,
    from_step: str,
    params: Mapping[str, Any] | None,
    workflow: Workflow | None,
    *,
    force: bool = False,
) -> WorkflowResult:
    """Fork run ``run_id`` at ``from_step`` and execute the fork here (see
    ``WorkflowRunner.fork``)."""
    fork = prepare_fork(runs, run_id, from_step, params, workflow, force=force,
                        status=WorkflowStatus.RUNNING, owner=runs.owner,
                        heartbeat_at=runs.settings.clock.time())  # fmt: skip
    store = runs.require_store("fork")
    take = runs.creating(store, fork.new.run, rows=fork.new.steps)
    state = replay(fork.new, fork.plan)
    state.fresh = True
    return runs.held(fork.workflow, state, store, take, clear=True)


def queue_fork(
    runs: Runs,
    run_id: str,
    from_step: str,
    params: Mapping[str, Any] | None,
    workflow: Workflow | None,
    *,
    force: bool = False,
    triggered_by: str = "manual",
) -> str:
    """Fork run ``run_id`` at ``from_step`` as a ``PENDING`` run a worker claims and
    continues from its copied rows; returns its id."""
    fork = prepare_fork(runs, run_id, from_step, params, workflow, force=force,
                        status=WorkflowStatus.PENDING, triggered_by=triggered_by)  # fmt: skip
    return runs.require_store("fork").create_run(fork.new.run, rows=fork.new.steps)


def prepare_fork(
    runs: Runs,
    run_id: str,
    from_step: str,
    params: Mapping[str, Any] | None,
    workflow: Workflow | None,
    *,
    force: bool,
    status: WorkflowStatus,
    **fields: Any,
) -> Fork:
    """The fork of run ``run_id`` at ``from_step``, not yet stored: its row (``status``,
    ``fields``; the original's params with ``params`` over them, its partition) and the
    original's rows before ``from_step``, copied under its id. Refuses a map item, a
    step not on the original's path, and (unless ``force``) a workflow whose steps
    changed since the original started, as resume does."""
    stored = runs.require_store("fork").load_run(run_id)
    run = stored.run
    if run.parent_run_id is not None:
        # Its row keeps only the params the item adds; the map's lie with its run.
        raise WorkflowError(
            f"run {run_id!r} is an item of a map step of run {run.parent_run_id!r}; fork "
            "that run (from the map step, or a step after it)",
            workflow=run.workflow_name,
        )
    workflow = runs.workflow_of(run, workflow)
    runs.same_kind(run, workflow, "fork")
    plan = plan_for(workflow)
    if not force:
        check_definition(stored, workflow, plan)
    if params is not None and not isinstance(params, Mapping):
        raise WorkflowValidationError(
            f"workflow {workflow.name!r}: params must be a mapping, got {params!r}",
            workflow=workflow.name,
            field="params",
        )
    before = rows_before(stored, plan, from_step)
    merged = {**run.params, **(params or {})}
    ctx = initial_context(runs.settings, workflow, merged, run.partition, None)
    record = runs.new_record(workflow, plan, ctx, status, first_step=from_step,
                             forked_from=run_id, **fields)  # fmt: skip
    # Where the spine command finds the workflow to resume the fork: the original's
    # source, unless this runner loaded it from somewhere itself.
    record.source = record.source or run.source
    copied = [replace(row, run_id=record.run_id) for row in before]
    return Fork(workflow, plan, StoredRun(record, copied))


def rows_before(stored: StoredRun, plan: Plan, from_step: str) -> list[StepRecord]:
    """``stored``'s rows before the first row of ``from_step`` (none for the workflow's
    first step, even if it never ran); a step it did not execute is refused, naming its
    path."""
    rows = stored.steps
    for index, row in enumerate(rows):
        if row.step_name == from_step:
            return rows[:index]
    if plan.steps and plan.steps[0].name == from_step:
        return []
    run = stored.run
    why = "the run never executed it"
    if from_step not in plan.index:
        why = "the workflow has no such step"
    path = list(dict.fromkeys(row.step_name for row in rows))  # in order, once each
    raise WorkflowValidationError(
        f"cannot fork run {run.run_id!r} of workflow {run.workflow_name!r} from step "
        f"{from_step!r}: {why}; fork it from a step on the path it took: "
        f"{', '.join(path) or 'none (fork it from its first step)'}",
        workflow=run.workflow_name,
        step=from_step,
        field="from_step",
    )
