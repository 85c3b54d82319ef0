"""Shared fixtures: every test starts with empty process-wide registries."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from spine.framework.alerts import alert_registry
from spine.framework.registry import default_registry
from spine.orchestration.registry import default_workflow_registry
from spine.testing import FakeClock


@pytest.fixture(autouse=True)
def _clean_registries() -> Iterator[None]:
    default_registry.clear()
    default_workflow_registry.clear()
    alert_registry.clear()
    yield
    default_registry.clear()
    default_workflow_registry.clear()
    alert_registry.clear()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
