"""spine-orchestration: durable, low-overhead workflows for data pipelines.

The public API lives in the layer packages: :mod:`spine.orchestration` (workflows and
the runner), :mod:`spine.framework` (pipelines and alerts), :mod:`spine.execution`
(lineage) and :mod:`spine.core` (errors and shared types).
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
