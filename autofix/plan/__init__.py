"""Plan masks and crops: detections → :class:`~autofix.types.PlannedRegion` records.

``plan_stage`` is the entry point; :mod:`.masks`, :mod:`.filters` and :mod:`.crop` hold the
pure building blocks it is made of.
"""

from .planner import StageRegions, plan_stage

__all__ = ["StageRegions", "plan_stage"]
