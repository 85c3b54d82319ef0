"""Pipelines for group tests that record their calls, the threads they ran on and
how many of them ran at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from spine.execution import ExecutionContext, current_execution
from spine.framework.registry import default_registry


class Recorder:
    """Registers pipelines whose calls it records (thread-safe)."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.params: dict[str, dict[str, Any]] = {}
        self.threads: dict[str, str] = {}
        self.lineage: dict[str, ExecutionContext | None] = {}
        self.spans: dict[str, tuple[float, float]] = {}
        self.active = 0
        self.peak = 0
        self._lock = threading.Lock()

    def add(
        self,
        name: str,
        *,
        fail: bool = False,
        seconds: float = 0.0,
        during: Callable[[], object] | None = None,
    ) -> None:
        """Register pipeline ``name``: it sleeps ``seconds``, calls ``during`` and then
        raises if ``fail``; otherwise its output is ``{"ran": name}``."""

        def run(params: dict[str, Any]) -> dict[str, Any]:
            start = time.monotonic()
            with self._lock:
                self.calls.append(name)
                self.params[name] = dict(params)
                self.threads[name] = threading.current_thread().name
                self.lineage[name] = current_execution()
                self.active += 1
                self.peak = max(self.peak, self.active)
            try:
                time.sleep(seconds)
                if during is not None:
                    during()
                if fail:
                    raise RuntimeError(f"{name} broke")
                return {"ran": name}
            finally:
                with self._lock:
                    self.active -= 1
                    self.spans[name] = (start, time.monotonic())

        default_registry.register(name, run)
