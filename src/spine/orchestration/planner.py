"""spine-core's ``spine.orchestration.planner``, for code written against it: the plan
resolver lives in :mod:`spine.framework.groups`."""

from spine.framework.groups import PlanResolver

__all__ = ["PlanResolver"]
