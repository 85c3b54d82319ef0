"""Step logs: what a step attempt writes with ``print()`` or ``logging``, kept per attempt.

Installed once per process (:func:`install`), never undone: ``sys.stdout`` and
``sys.stderr`` become writers that send text to the log of the step attempt current
in the calling thread or task (a context variable, so map items on threads, and the
runs of one worker, each keep their own), and pass it through to the terminal
otherwise; a handler on the root logger routes records the same way. A step that
writes nothing costs one context variable set and reset: its log is made on its
first line.

Each line keeps its time, its level (``stdout``, ``stderr``, a logging level name,
``traceback`` for a failed attempt's) and its text. An attempt's log is bounded
(``limit`` bytes of text, 1 MiB by default): lines past it are dropped and one
``spine`` line at the end says how many; a traceback is always kept.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
import traceback
from contextvars import ContextVar, Token
from typing import Any, TextIO

from spine.core.records import LogLine

DEFAULT_LIMIT = 1 << 20
"""Bytes of text one step attempt's log keeps (``WorkflowRunner(log_limit_bytes=...)``)."""

_TRACEBACK_LIMIT = 64 * 1024
"""Characters of a traceback kept past the log's limit (a deep recursion's is huge)."""


class StepLog:
    """The lines of one step attempt, as they are written."""

    __slots__ = ("_lock", "_partial", "cut_bytes", "cut_lines", "limit", "lines", "size")

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self.limit = limit
        self.lines: list[LogLine] = []
        self.size = 0
        self.cut_lines = 0
        self.cut_bytes = 0
        # Text written to a stream without its newline yet, by stream.
        self._partial: dict[str, str] = {}
        # A thread executor may run a step's pipeline on another thread.
        self._lock = threading.Lock()

    def add(self, level: str, text: str, *, keep: bool = False) -> None:
        """One line; ``keep``: even past the limit (a traceback)."""
        with self._lock:
            self._add(time.time(), level, text, keep)

    def extend(self, lines: list[LogLine]) -> None:
        """Lines captured elsewhere (a pipeline in a worker process), with their times."""
        with self._lock:
            for when, level, text in lines:
                self._add(when, level, text, level == "traceback")

    def _add(self, when: float, level: str, text: str, keep: bool) -> None:
        size = len(text.encode("utf-8", "surrogatepass"))
        if not keep and self.size + size > self.limit:
            self.cut_lines += 1
            self.cut_bytes += size
            return
        self.size += size
        self.lines.append((when, level, text))

    def write(self, level: str, text: str) -> None:
        """Text written to stream ``level``: each complete line is one line of the log."""
        with self._lock:
            pending = self._partial.pop(level, "") + text
            *complete, rest = pending.split("\n")
            now = time.time()
            for line in complete:
                self._add(now, level, line, False)
            if rest:
                self._partial[level] = rest

    def finish(self) -> list[LogLine]:
        """The lines, with text still waiting for its newline, and the mark of a cut."""
        with self._lock:
            for level, rest in self._partial.items():
                self._add(time.time(), level, rest, False)
            self._partial.clear()
            if self.cut_lines:
                self.lines.append(self._cut())
                self.cut_lines = self.cut_bytes = 0
            return self.lines

    def _cut(self) -> LogLine:
        """The line that says how much was cut."""
        text = (
            f"[{self.cut_lines} lines ({self.cut_bytes} bytes) cut: a step attempt's "
            f"log keeps {self.limit} bytes (WorkflowRunner(log_limit_bytes=...))]"
        )
        return (time.time(), "spine", text)

    def so_far(self, note: str) -> list[LogLine]:
        """A copy of the lines written so far (text waiting for its newline included),
        ending with a ``spine`` line saying ``note``, while the writer may go on."""
        with self._lock:
            now = time.time()
            lines = self.lines.copy()
            room = self.limit - self.size
            for level, rest in self._partial.items():
                room -= len(rest.encode("utf-8", "surrogatepass"))
                if room >= 0:
                    lines.append((now, level, rest))
            if self.cut_lines:
                lines.append(self._cut())
        lines.append((now, "spine", note))
        return lines


class Attempt:
    """The log of the step attempt current in a thread or task, made when first written."""

    __slots__ = ("limit", "log")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.log: StepLog | None = None

    def target(self) -> StepLog:
        log = self.log
        if log is None:
            log = self.log = StepLog(self.limit)
        return log

    def lines(self) -> list[LogLine] | None:
        """What the attempt wrote (``None``: nothing)."""
        log = self.log
        return None if log is None else log.finish()

    def so_far(self, note: str) -> list[LogLine] | None:
        """What the attempt wrote until now (``None``: nothing) with ``note`` after it; its
        writer may go on (an attempt abandoned at its time limit)."""
        log = self.log
        return None if log is None else log.so_far(note)


_attempt: ContextVar[Attempt | None] = ContextVar("spine_step_log", default=None)


def begin(attempt: Attempt | None) -> Token[Attempt | None]:
    """Make ``attempt`` the one what this thread or task writes goes to (``None``: none,
    for a run's own loop, whose map item threads inherit their map step's context)."""
    return _attempt.set(attempt)


def end(token: Token[Attempt | None]) -> None:
    _attempt.reset(token)


def record_exception(exc: BaseException) -> None:
    """Put ``exc``'s traceback into the current attempt's log (if there is one)."""
    attempt = _attempt.get()
    if attempt is not None:
        text = "".join(traceback.format_exception(exc)).rstrip("\n")
        attempt.target().add("traceback", text[-_TRACEBACK_LIMIT:], keep=True)


def add_lines(lines: list[LogLine] | None) -> None:
    """Lines captured elsewhere (a pipeline in a worker process) into the current log."""
    attempt = _attempt.get()
    if attempt is not None and lines:
        attempt.target().extend(lines)


class _Router:
    """Stands in for ``sys.stdout`` or ``sys.stderr``: a step attempt's text goes to its
    log, anything else to the stream it replaced."""

    def __init__(self, stream: TextIO, level: str) -> None:
        self._stream = stream
        self._level = level

    def write(self, text: str) -> int:
        attempt = _attempt.get()
        if attempt is None:
            return self._stream.write(text)
        attempt.target().write(self._level, text)
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        # encoding, fileno, isatty, buffer...: the replaced stream's.
        return getattr(self._stream, name)


class _Handler(logging.Handler):
    """On the root logger: a record made during a step attempt goes to its log.

    Outside a step, a record no other handler takes goes to ``logging.lastResort``, as
    it would have without this handler.
    """

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.setFormatter(logging.Formatter("%(name)s: %(message)s"))

    def handle(self, record: logging.LogRecord) -> bool:
        attempt = _attempt.get()
        if attempt is not None:
            attempt.target().add(record.levelname, self.format(record))
        else:
            last = logging.lastResort
            if last is not None and record.levelno >= last.level and not _handled_elsewhere(record):
                last.handle(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        """Unused: :meth:`handle` routes every record."""


def _handled_elsewhere(record: logging.LogRecord) -> bool:
    logger: logging.Logger | None = logging.getLogger(record.name)
    while logger is not None:
        if any(type(h) is not _Handler for h in logger.handlers):
            return True
        logger = logger.parent if logger.propagate else None
    return False


_install_lock = threading.Lock()


def install() -> None:
    """Route step output to step logs from now on (once per process; cheap again)."""
    if type(sys.stdout) is _Router and type(sys.stderr) is _Router:
        return
    with _install_lock:
        if type(sys.stdout) is not _Router and sys.stdout is not None:
            sys.stdout = _Router(sys.stdout, "stdout")
        if type(sys.stderr) is not _Router and sys.stderr is not None:
            sys.stderr = _Router(sys.stderr, "stderr")
        root = logging.getLogger()
        if not any(type(h) is _Handler for h in root.handlers):
            root.addHandler(_Handler())


def terminal() -> TextIO:
    """The stream stderr was before :func:`install` (what a terminal report writes to)."""
    stream = sys.stderr
    while type(stream) is _Router:
        stream = stream._stream
    return stream


def captured(limit: int, fn: Any, *args: Any) -> tuple[Any, list[LogLine] | None]:
    """``fn(*args)``'s result and what it wrote, captured here (in a worker process)."""
    install()
    attempt = Attempt(limit)
    token = begin(attempt)
    try:
        return fn(*args), attempt.lines()
    finally:
        end(token)
