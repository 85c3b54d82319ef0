"""Identifiers for runs and executions."""

from __future__ import annotations

import uuid


def new_id() -> str:
    """A fresh random identifier (a UUID4 in its canonical text form)."""
    return str(uuid.uuid4())
