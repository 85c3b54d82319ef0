"""Fixtures shared by the orchestration tests."""

from __future__ import annotations

import pytest

from spine.orchestration import WorkflowRunner
from spine.testing import FakeClock


@pytest.fixture
def runner(clock: FakeClock) -> WorkflowRunner:
    """A runner whose waits and retry delays are instant and recorded on ``clock``."""
    return WorkflowRunner(clock=clock)
