"""``RetryPolicy``: how often and how long to wait before a failed step is tried again."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from spine.orchestration.step_result import ErrorCategory

if TYPE_CHECKING:
    from random import Random

DELAY_LIMIT_SECONDS = 366 * 24 * 3600
"""The longest wait step or retry delay: 366 days. Anything longer is a mistake
(``.inf``, a few zeros too many), and a wake-up time far enough ahead cannot even be
stored: timestamps overflow, and NaN or infinity would reach the runner as an
``OverflowError`` with the run left ``RUNNING``."""


def is_delay(value: object) -> bool:
    """Whether ``value`` is a number of seconds from 0 to :data:`DELAY_LIMIT_SECONDS`
    (NaN and infinities are not: the comparisons refuse them)."""
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and 0 <= value <= DELAY_LIMIT_SECONDS
    )


@dataclass(frozen=True)
class RetryPolicy:
    """Retry a failed step with exponential backoff.

    Attempt ``k`` (from 1) that fails is followed, after a delay, by attempt
    ``k + 1`` until ``max_attempts`` attempts were made. The delay before attempt
    ``k + 1`` is ``initial_delay_seconds * backoff_multiplier ** (k - 1)``, capped at
    ``max_delay_seconds``; with ``jitter`` it is drawn uniformly from the upper half
    of that value ("equal jitter"), which spreads retries of many runs apart while
    never exceeding the cap.
    """

    max_attempts: int = 3
    """Total attempts, the first included (1 means no retry)."""
    initial_delay_seconds: float = 1.0
    """Delay before the second attempt."""
    backoff_multiplier: float = 2.0
    """Factor applied to the delay after each failed attempt."""
    max_delay_seconds: float = 60.0
    """Upper bound of any single delay."""
    jitter: bool = True
    """Randomise each delay within its upper half."""
    retry_on: frozenset[str] | None = field(default=None)
    """Error categories worth retrying; ``None`` retries any failure."""

    def __post_init__(self) -> None:
        problems = []
        attempts = self.max_attempts
        if not isinstance(attempts, int) or isinstance(attempts, bool) or attempts < 1:
            problems.append(f"max_attempts must be an integer >= 1, got {attempts!r}")
        for name in ("initial_delay_seconds", "max_delay_seconds"):
            value = getattr(self, name)
            if not is_delay(value):
                problems.append(
                    f"{name} must be a number of seconds from 0 to {DELAY_LIMIT_SECONDS} "
                    f"(366 days), got {value!r}"
                )
        multiplier = self.backoff_multiplier
        # Written so that NaN fails too; infinity would make a first delay of 0 NaN.
        if (
            not isinstance(multiplier, int | float)
            or isinstance(multiplier, bool)
            or not (1 <= multiplier < math.inf)
        ):
            problems.append(f"backoff_multiplier must be a finite number >= 1, got {multiplier!r}")
        if problems:
            raise ValueError("invalid RetryPolicy: " + "; ".join(problems))
        if self.retry_on is not None:
            retry_on: Iterable[str] = (
                (self.retry_on,) if isinstance(self.retry_on, str) else self.retry_on
            )
            object.__setattr__(
                self,
                "retry_on",
                frozenset(c.value if isinstance(c, ErrorCategory) else str(c) for c in retry_on),
            )

    def should_retry(self, attempt: int, category: str | None) -> bool:
        """Whether a failure of ``category`` on ``attempt`` is followed by another attempt."""
        if attempt >= self.max_attempts:
            return False
        return self.retry_on is None or category in self.retry_on

    def delay_seconds(self, attempt: int, rng: Random | None = None) -> float:
        """Seconds to wait after failed ``attempt`` (from 1) before the next one."""
        try:
            base = self.initial_delay_seconds * self.backoff_multiplier ** (attempt - 1)
        except OverflowError:  # thousands of attempts: the cap has long been reached
            base = self.max_delay_seconds
        delay = min(base, self.max_delay_seconds)
        if self.jitter and delay > 0:
            import random  # only jitter needs it; kept off the import path

            delay = delay / 2 + (rng or random).uniform(0, delay / 2)
        return float(delay)
