"""Fixtures of the pipeline group tests."""

from __future__ import annotations

import pytest
from group_recorder import Recorder


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()
