"""One stage on one image, as two pure halves around the inpainter.

:func:`prepare` detects on the current image, plans regions and cuts their only-masked
crops into :class:`~autofix.types.InpaintJob` s (at the region's bucket size for generative
inpainters, at the crop's own size for classical ones). The scheduler sends the jobs of many
images to the inpainter at once. :func:`composite` then blends each result back through its
region's feathered mask (best-of-N with the never-worse guard) and returns the new image and
the stage's :class:`~.records.StageRecord`. Neither half touches files: the folder scheduler,
the in-memory API and the diffusers hook all run these same two functions.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..config import StageConfig
from ..io.metadata import GenerationInfo
from ..plan.crop import native_window
from ..types import InpaintJob, InpaintResult, PlannedRegion
from .backends import Backends
from .composite import blend_window, cut_crop, paste_crop_into
from .prompts import region_prompts
from .records import RegionRecord, StageRecord
from .select import choose


@dataclass
class StagePlan:
    """A stage between planning and compositing: the regions and the jobs to inpaint.

    ``inpainter`` is the registry name of the inpainter that repaints the stage, or None
    (then ``skip_reason`` says why and ``jobs`` is empty)."""

    index: int
    stage: StageConfig
    detector: Any
    detections: int
    regions: list[PlannedRegion]
    notes: list[str]
    inpainter: str | None
    skip_reason: str
    jobs: list[InpaintJob] = field(default_factory=list)


def prepare(backends: Backends, index: int, stage: StageConfig, image: np.ndarray, *, prompts: Any = None,
            where: str = "image", info: GenerationInfo | None = None, dry_run: bool = False,
            timings: dict[str, float] | None = None) -> StagePlan:
    """Detect and plan stage ``index`` on ``image`` and cut the inpaint jobs."""
    from ..plan import plan_stage_full

    timings = timings if timings is not None else {}
    t = time.perf_counter()
    detector = backends.detector(stage.detector, prompts, where=where)
    detections = detector.detect(image)
    t1 = time.perf_counter()
    regions, notes = plan_stage_full(detections, image.shape[:2], stage)
    t2 = time.perf_counter()
    _add(timings, "detect", t1 - t)
    _add(timings, "plan", t2 - t1)
    name = None if dry_run else backends.inpainter_name(stage)
    reason = "dry run" if dry_run else (backends.skip_reason(stage) if name is None else "")
    plan = StagePlan(index, stage, detector, len(detections), regions, notes, name, reason)
    if name is not None and regions:
        native = not backends.inpainter(name).generative
        if native:  # classical fills work at the crop's own pixels (512² is for diffusion models)
            regions = [_native(r) for r in regions]
            plan.regions = regions
        prompts_ = region_prompts(stage.inpaint, regions, info)
        plan.jobs = [_job(stage, image, r, *p) for r, p in zip(regions, prompts_)]
    return plan


def composite(backends: Backends, plan: StagePlan, image: np.ndarray, results: list[InpaintResult] | None,
              timings: dict[str, float] | None = None) -> tuple[np.ndarray, StageRecord]:
    """Blend ``results`` (one per job, or None when the stage is not repainted) into ``image``."""
    timings = timings if timings is not None else {}
    t = time.perf_counter()
    stage = plan.stage
    if plan.inpainter is None or not plan.regions:
        records = [RegionRecord.of(r, stage, repainted=False, reason=plan.skip_reason) for r in plan.regions]
        out, inpainter_info = image, None
    else:
        inpainter = backends.inpainter(plan.inpainter)
        out, records = _blend(plan, image, results or [])
        inpainter_info = {"name": inpainter.name, **inpainter.describe()}
    _add(timings, "composite", time.perf_counter() - t)
    record = StageRecord(stage=stage.name, index=plan.index, label=stage.label, detector=plan.detector.name,
                         detections=plan.detections, inpainter=inpainter_info, regions=records, notes=plan.notes)
    return out, record


def union_mask(regions: list[PlannedRegion], shape_hw: tuple[int, int]) -> np.ndarray:
    """The stage's compositing weight: the maximum of its regions' soft masks."""
    union = np.zeros(shape_hw, np.uint8)
    for region in regions:
        x0, y0, x1, y1 = region.crop.box
        np.maximum(union[y0:y1, x0:x1], region.soft_mask[y0:y1, x0:x1], out=union[y0:y1, x0:x1])
    return union


def _blend(plan: StagePlan, image: np.ndarray, results: list[InpaintResult]
           ) -> tuple[np.ndarray, list[RegionRecord]]:
    out, records = image, []
    scorer = _scorer(plan.stage, plan.detector)
    for region, job, result in zip(plan.regions, plan.jobs, results):
        blocked = result.info.get("blocked") or ("nothing to fill at crop size" if result.info.get("skipped")
                                                 else None)
        choice = None if blocked else choose(scorer, plan.stage.label, _window(out, region), tuple(
            blend_window(out, c, region.soft_mask, region.crop) for c in result.candidates))
        keep = choice is not None and choice.index is not None
        if keep:
            out = image.copy() if out is image else out  # one copy per stage, regions pasted in place
            paste_crop_into(out, result.candidates[choice.index], region.soft_mask, region.crop)
        reason = f"not repainted: {blocked}" if blocked else ("" if keep else choice.reason)
        records.append(RegionRecord.of(region, plan.stage, repainted=keep, reason=reason, seed=job.seed,
                                       choice=choice, info=result.info, prompt=job.prompt,
                                       negative_prompt=job.negative_prompt))
    return out, records


def _native(region: PlannedRegion) -> PlannedRegion:
    from dataclasses import replace

    return replace(region, crop=native_window(region.crop))


def _job(stage: StageConfig, image: np.ndarray, region: PlannedRegion, prompt: str, negative: str) -> InpaintJob:
    crop_rgb, crop_mask = cut_crop(image, region.hard_mask, region.crop)
    p = stage.inpaint
    params = p.model_dump(mode="json", exclude={"prompt", "negative_prompt", "region_prompts"})
    return InpaintJob(image=crop_rgb, mask=crop_mask, seed=p.seed + region.index, prompt=prompt,
                      negative_prompt=negative, params=params)


def _scorer(stage: StageConfig, detector: Any) -> Any:
    """The detector that scores best-of-N candidates: the stage's own, without mask
    refinement (scores ignore masks, and SAM would re-encode every window); None for
    ``prompt`` stages, whose user boxes mean nothing inside a crop window."""
    if stage.detector.backend == "prompt":
        return None
    return getattr(detector, "detector", detector)


def _window(image: np.ndarray, region: PlannedRegion) -> np.ndarray:
    """The region's crop box of ``image`` at full resolution (what best-of-N scores)."""
    x0, y0, x1, y1 = region.crop.box
    return np.ascontiguousarray(image[y0:y1, x0:x1])


def _add(timings: dict[str, float], key: str, seconds: float) -> None:
    timings[key] = timings.get(key, 0.0) + seconds
