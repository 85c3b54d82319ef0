"""Pipelines (registered units of work), the dispatcher that runs them, and alerts."""

from spine.framework.dispatcher import Dispatcher
from spine.framework.pipelines import Pipeline, PipelineResult, PipelineStatus
from spine.framework.registry import (
    PipelineRegistry,
    clear_registry,
    get_pipeline,
    list_pipelines,
    pipeline,
    register_pipeline,
)

__all__ = [
    "Dispatcher",
    "Pipeline",
    "PipelineRegistry",
    "PipelineResult",
    "PipelineStatus",
    "clear_registry",
    "get_pipeline",
    "list_pipelines",
    "pipeline",
    "register_pipeline",
]
