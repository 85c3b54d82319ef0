"""The one error hierarchy of spine.

::

    SpineError
    ├── PipelineError                 a pipeline could not run
    │   ├── PipelineNotFoundError     no pipeline registered under that name
    │   └── BadParamsError            a pipeline rejected its parameters
    ├── WorkflowError                 a workflow could not be run as asked
    │   ├── WorkflowValidationError   an invalid definition or run request (also a ValueError)
    │   │   └── WorkflowDefinitionError   an invalid workflow file (YAML): every problem
    │   │                                 with its file, line and field
    │   ├── RunNotFoundError          no stored run has that id
    │   ├── RunEndedError             the run has ended: it takes no more signals
    │   ├── RunIsMapItemError         the run is a map item: cancel its map's run
    │   ├── RunOwnedError             the run is being executed by a live owner
    │   └── DefinitionMismatchError   the workflow changed since the stored run started
    ├── GroupError                    a pipeline group could not be used as asked
    │   ├── GroupValidationError      an invalid group definition or registration (also
    │   │   │                         a ValueError)
    │   │   ├── InvalidGroupSpecError     a definition (Python, dict or YAML) is invalid
    │   │   └── PlanResolutionError       a group cannot be planned
    │   │       ├── StepNotFoundError     a step's pipeline is not registered
    │   │       ├── DependencyError       a step depends on a step the group lacks
    │   │       └── CycleDetectedError    the dependencies form a cycle
    │   └── GroupNotFoundError        no group registered under that name (also a KeyError)
    ├── SourceError                   a data source (an API, a file) failed a pipeline
    ├── ValidationError               data failed a pipeline's checks
    ├── ExpressionError               a condition written as text cannot be compiled or
    │                                 evaluated (also a ValueError)
    ├── StoreError                    the history database cannot be used
    ├── AlertConfigError              alert channels are configured wrongly (also a
    │                                 ValueError)
    ├── ExecutorError                 an executor could not take or run the work
    │   └── NotShippableError         a function or object cannot be sent to another process
    ├── ScheduleError                 a schedule could not be used as asked (unknown name,
    │   │                             name taken)
    │   └── ScheduleValidationError   an invalid schedule: every problem, each naming its
    │                                 field (also a ValueError)
    └── ReadOnlyError                 an immutable object was changed (also a TypeError
                                      and an AttributeError)

Messages name the workflow, the step and the field concerned, and say what to do.
A step's own failure is never raised out of ``WorkflowRunner.execute``: it is
recorded in the result. These errors are for problems with the request itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


class SpineError(Exception):
    """Base class of every error spine raises on purpose."""


class PipelineError(SpineError):
    """A pipeline could not be run."""

    def __init__(self, message: str, *, pipeline: str | None = None) -> None:
        super().__init__(message)
        self.pipeline = pipeline


class PipelineNotFoundError(PipelineError, KeyError):
    """No pipeline is registered under the requested name.

    Also a ``KeyError``, so code that looks pipelines up like a dict keeps working.
    """

    def __init__(self, name: str, known: Iterable[str] = ()) -> None:
        known_names = sorted(known)
        hint = (
            f"registered: {', '.join(known_names)}"
            if known_names
            else "none are registered; decorate a function with @pipeline(name)"
        )
        super().__init__(f"Pipeline not found: {name!r} ({hint})", pipeline=name)
        self.pipeline_name = name

    def __str__(self) -> str:
        # KeyError.__str__ would wrap the message in quotes.
        return str(self.args[0])


class BadParamsError(PipelineError):
    """A pipeline rejected its parameters (missing, unknown or invalid values)."""

    def __init__(
        self,
        message: str,
        *,
        pipeline: str | None = None,
        missing_params: Sequence[str] | None = None,
        invalid_params: Sequence[str] | None = None,
    ) -> None:
        super().__init__(message, pipeline=pipeline)
        self.missing_params = list(missing_params or ())
        self.invalid_params = list(invalid_params or ())


class WorkflowError(SpineError):
    """A workflow could not be run as requested."""

    def __init__(
        self,
        message: str,
        *,
        workflow: str | None = None,
        step: str | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.workflow = workflow
        self.step = step
        self.field = field
        """The field (``name``, ``params``, ``output``...) at fault, when one is."""


class WorkflowValidationError(WorkflowError, ValueError):
    """A workflow definition or run request is invalid.

    ``problems`` lists every problem found, so that one run of the validation
    reports all of them at once.
    """

    def __init__(
        self,
        message: str,
        *,
        workflow: str | None = None,
        step: str | None = None,
        field: str | None = None,
        problems: Sequence[str] = (),
    ) -> None:
        super().__init__(message, workflow=workflow, step=step, field=field)
        self.problems = list(problems) or [message]


class WorkflowDefinitionError(WorkflowValidationError):
    """A workflow definition file (YAML) or the data read from one is invalid.

    ``problems`` holds every problem at once, one ``"file:line: field: message"``
    line each (files it refers to included); ``source`` names the file.
    """

    def __init__(
        self, source: str, problems: Sequence[str], *, workflow: str | None = None
    ) -> None:
        lines = list(problems)
        if len(lines) == 1:
            message = lines[0]
        else:
            message = f"{source}: {len(lines)} problems:\n" + "\n".join(f"  {p}" for p in lines)
        super().__init__(message, workflow=workflow, problems=lines)
        self.source = source


FATAL_EXCEPTIONS: tuple[type[BaseException], ...] = (KeyboardInterrupt, SystemExit)
"""Exceptions that end the process's work rather than a step: never caught as failures.

Everything else a step or pipeline raises (``asyncio.CancelledError`` and other
``BaseException`` subclasses included) fails that step.
"""


class RunNotFoundError(WorkflowError):
    """No stored run has the requested id."""

    def __init__(self, run_id: str, where: str) -> None:
        super().__init__(f"no run {run_id!r} in {where}")
        self.run_id = run_id


class RunEndedError(WorkflowError):
    """The run has ended, so a signal sent to it could never be consumed."""

    def __init__(self, run_id: str, status: str, signal_name: str) -> None:
        super().__init__(
            f"run {run_id!r} has ended ({status}): signal {signal_name!r} was not sent; "
            "only a PENDING, RUNNING or WAITING run takes signals"
        )
        self.run_id = run_id
        self.status = status


class RunIsMapItemError(WorkflowError):
    """The run is an item of a map step: it stops with its map's run, not by itself."""

    def __init__(self, run_id: str, parent_run_id: str, parent_step: str | None) -> None:
        step = (parent_step or "").split("#")[0]
        super().__init__(
            f"run {run_id!r} is an item of map step {step!r} of run {parent_run_id!r}: an "
            f"item is not cancelled by itself; cancel run {parent_run_id!r} (its map starts "
            "no further item, and the items in flight finish)"
        )
        self.run_id = run_id
        self.parent_run_id = parent_run_id


class RunOwnedError(WorkflowError):
    """The run is held by an owner that is still alive."""

    def __init__(self, run_id: str, workflow: str, owner: str) -> None:
        super().__init__(
            f"run {run_id!r} of workflow {workflow!r} is being executed by {owner}; "
            "wait for it to finish, or for its lease to lapse if that process is gone",
            workflow=workflow,
        )
        self.run_id = run_id
        self.owner = owner


class DefinitionMismatchError(WorkflowError):
    """The workflow's steps differ from those the stored run was started with."""


class GroupError(SpineError):
    """A pipeline group could not be defined, registered or run as requested."""

    def __init__(self, message: str, *, group: str | None = None, step: str | None = None) -> None:
        super().__init__(message)
        self.group = group
        self.step = step

    @property
    def group_name(self) -> str | None:
        """The group concerned (spine-core's name for :attr:`group`)."""
        return self.group


class GroupValidationError(GroupError, ValueError):
    """A pipeline group definition (Python, dict or YAML file) or registration is invalid.

    ``problems`` lists every problem found at once, each naming its field (and, for a
    YAML file, its line); ``source`` is the file the definition came from, if any.
    """

    def __init__(
        self,
        message: str,
        *,
        group: str | None = None,
        step: str | None = None,
        source: str | None = None,
        problems: Sequence[str] = (),
    ) -> None:
        super().__init__(message, group=group, step=step)
        self.source = source
        self.problems = list(problems) or [message]


class InvalidGroupSpecError(GroupValidationError):
    """A group definition is invalid: built in Python, or read from a dict or a YAML file.

    ``field`` is the field of the first problem (``metadata.name``,
    ``spec.pipelines[1].depends_on``), ``None`` when the problem is the whole document.
    """

    def __init__(
        self,
        message: str,
        field: str | None = None,
        *,
        group: str | None = None,
        step: str | None = None,
        source: str | None = None,
        problems: Sequence[str] = (),
    ) -> None:
        super().__init__(message, group=group, step=step, source=source, problems=problems)
        self.field = field


class PlanResolutionError(GroupValidationError):
    """A group cannot be planned: its steps or their dependencies do not fit together.

    Raised when a group is planned (``PlanResolver.resolve``, ``GroupRunner.run``) or
    registered; ``problems`` lists every problem at once, whichever subclass is raised.
    """

    def __init__(
        self,
        message: str,
        group_name: str | None = None,
        *,
        step: str | None = None,
        problems: Sequence[str] = (),
    ) -> None:
        super().__init__(message, group=group_name, step=step, problems=problems)


class StepNotFoundError(PlanResolutionError):
    """A step runs a pipeline that is not registered."""

    def __init__(
        self,
        step_name: str,
        pipeline_name: str,
        *,
        message: str | None = None,
        group_name: str | None = None,
        problems: Sequence[str] = (),
    ) -> None:
        message = message or f"Step {step_name!r} references unknown pipeline: {pipeline_name}"
        super().__init__(message, group_name, step=step_name, problems=problems)
        self.step_name = step_name
        self.pipeline_name = pipeline_name


class DependencyError(PlanResolutionError):
    """A step depends on steps the group does not have (``missing_deps``)."""

    def __init__(
        self,
        step_name: str,
        missing_deps: Sequence[str],
        *,
        message: str | None = None,
        group_name: str | None = None,
        problems: Sequence[str] = (),
    ) -> None:
        missing = list(missing_deps)
        message = message or f"Step {step_name!r} depends on unknown steps: {', '.join(missing)}"
        super().__init__(message, group_name, step=step_name, problems=problems)
        self.step_name = step_name
        self.missing_deps = missing


class CycleDetectedError(PlanResolutionError):
    """The steps' dependencies form a cycle; ``cycle`` is its path, ``[a, b, ..., a]``."""

    def __init__(
        self,
        cycle: Sequence[str],
        *,
        message: str | None = None,
        group_name: str | None = None,
        problems: Sequence[str] = (),
    ) -> None:
        path = list(cycle)
        message = message or f"Cycle detected in dependency graph: {' -> '.join(path)}"
        super().__init__(message, group_name, problems=problems)
        self.cycle = path


class GroupNotFoundError(GroupError, KeyError):
    """No pipeline group is registered under the requested name (also a ``KeyError``)."""

    def __init__(self, name: str, known: Iterable[str] = ()) -> None:
        known_names = sorted(known)
        hint = (
            f"registered: {', '.join(known_names)}"
            if known_names
            else "none are registered; call register_group(group) first"
        )
        super().__init__(f"Pipeline group not found: {name!r} ({hint})", group=name)

    def __str__(self) -> str:
        # KeyError.__str__ would wrap the message in quotes.
        return str(self.args[0])


class SourceError(SpineError):
    """A data source a pipeline reads (an API, a file, a database) failed.

    ``retryable`` says whether trying again may help (a 503, a timeout) or not (a 404);
    ``retry_after`` is the wait in seconds the source asked for, if any.
    """

    def __init__(
        self, message: str, *, retryable: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


class ValidationError(SpineError):
    """Data a pipeline read failed its checks; fixing the data, not retrying, helps.

    ``field``, ``value`` and ``constraint`` say what failed, when the pipeline knows.
    """

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        value: object = None,
        constraint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.field = field
        self.value = value
        self.constraint = constraint


class ExpressionError(SpineError, ValueError):
    """A condition written as text is outside the expression language, or met a value
    of the wrong kind when evaluated (``null > 0``).

    ``expression`` is the condition's text; ``problems`` lists every offending piece.
    """

    def __init__(self, message: str, *, expression: str, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.expression = expression
        self.problems = list(problems) or [message]


class StoreError(SpineError):
    """The history database cannot be opened, read or written."""


class LeaseLostError(StoreError):
    """This process no longer holds the run it was executing: its lease lapsed (it was
    frozen or cut off) and another process took the run over. It writes nothing more
    for that run and starts no further step of it."""

    def __init__(self, run_id: str, what: str) -> None:
        super().__init__(
            f"run {run_id}: {what}: another process took the run over (this one's lease "
            "had lapsed); this process stops it here"
        )
        self.run_id = run_id


class AlertConfigError(SpineError, ValueError):
    """Alert channels are configured wrongly (a config file, a mapping or the environment).

    ``problems`` lists every problem found at once; ``source`` (the file, or
    ``"environment"``), ``channel`` and ``field`` say where the first one is.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        channel: str | None = None,
        field: str | None = None,
        problems: Sequence[str] = (),
    ) -> None:
        super().__init__(message)
        self.source = source
        self.channel = channel
        self.field = field
        self.problems = list(problems) or [message]


class ExecutorError(SpineError):
    """An executor (threads, processes, a Dask cluster) could not take or run the work."""


class NotShippableError(ExecutorError):
    """What a step needs cannot be pickled for another process: a lambda holding a lock,
    an open file or a connection in its closure, for instance."""


class ScheduleError(SpineError):
    """A schedule could not be added, found or changed as requested."""

    def __init__(self, message: str, *, schedule: str | None = None) -> None:
        super().__init__(message)
        self.schedule = schedule


class ScheduleValidationError(ScheduleError, ValueError):
    """A schedule definition is invalid (a bad cron expression, an unknown time zone...).

    ``problems`` lists every problem found at once, each naming its field.
    """

    def __init__(
        self, message: str, *, schedule: str | None = None, problems: Sequence[str] = ()
    ) -> None:
        super().__init__(message, schedule=schedule)
        self.problems = list(problems) or [message]


def describe_exception(exc: BaseException) -> str:
    """``"Type: message"``, the form in which a failure is reported.

    Never raises: an exception whose ``__str__`` itself fails is described by its
    type alone.
    """
    name = type(exc).__name__
    try:
        text = str(exc)
    except Exception:
        return name
    return f"{name}: {text}" if text else name


class ReadOnlyError(SpineError, TypeError, AttributeError):
    """Raised on any attempt to change an immutable spine object (a context, its
    params or outputs).

    Both a ``TypeError`` (what assigning into a read-only mapping raises) and an
    ``AttributeError`` (what assigning to a frozen attribute raises), so code
    expecting either one catches it.
    """


__all__ = [
    "FATAL_EXCEPTIONS",
    "AlertConfigError",
    "BadParamsError",
    "CycleDetectedError",
    "DefinitionMismatchError",
    "DependencyError",
    "ExecutorError",
    "ExpressionError",
    "GroupError",
    "GroupNotFoundError",
    "GroupValidationError",
    "InvalidGroupSpecError",
    "LeaseLostError",
    "NotShippableError",
    "PipelineError",
    "PipelineNotFoundError",
    "PlanResolutionError",
    "ReadOnlyError",
    "RunEndedError",
    "RunIsMapItemError",
    "RunNotFoundError",
    "RunOwnedError",
    "ScheduleError",
    "ScheduleValidationError",
    "SourceError",
    "SpineError",
    "StepNotFoundError",
    "StoreError",
    "ValidationError",
    "WorkflowDefinitionError",
    "WorkflowError",
    "WorkflowValidationError",
    "describe_exception",
]
