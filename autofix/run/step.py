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
from ..plan.crop import (WholeFrame, crop_window, fill_canvas, guide_window, native_window, unfill_canvas,
                         whole_frame)
from ..plan.masks import mask_bbox
from ..types import InpaintJob, InpaintResult, PlannedRegion
from .backends import Backends
from .composite import blend_window, cut_crop, paste_crop_into
from .text_prompts import region_prompts
from .records import RegionRecord, StageRecord
from .never_worse import Choice, choose


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
    settings: list[Any] = field(default_factory=list)  # per job: meta.inherit.JobSettings
    #: per job: the region (index into ``regions``) it repaints, and for whole-picture
    #: resize_and_fill the frame whose canvas the job's image fills (None otherwise)
    job_regions: list[int] = field(default_factory=list)
    frames: list[WholeFrame | None] = field(default_factory=list)
    #: regions planned but not sent to the inpainter (``crop.guide_size``), with the reason
    skipped: dict[int, str] = field(default_factory=dict)
    #: keep-and-pick (issue 14): the user's picks (region index -> candidate index) that
    #: override best-of-N, and whether to keep every candidate (filled into ``kept``)
    picks: dict[int, int] = field(default_factory=dict)
    keep_candidates: bool = False
    kept: list["KeptRegion"] = field(default_factory=list)


@dataclass(frozen=True)
class KeptRegion:
    """A region's candidates as composited (``--keep-candidates``): each at the crop's
    processing size, the soft mask under the crop box, and the windows best-of-N saw
    (original first, then each candidate blended in), for the side-by-side sheet."""

    region: int
    box: tuple[int, int, int, int]
    candidates: tuple[np.ndarray, ...]
    soft_box: np.ndarray
    windows: tuple[np.ndarray, ...]


def prepare(backends: Backends, index: int, stage: StageConfig, image: np.ndarray, *, prompts: Any = None,
            where: str = "image", info: GenerationInfo | None = None, dry_run: bool = False,
            timings: dict[str, float] | None = None) -> StagePlan:
    """Detect and plan stage ``index`` on ``image`` and cut the inpaint jobs."""
    from ..plan import plan_stage

    timings = timings if timings is not None else {}
    t = time.perf_counter()
    detector = backends.detector(stage.detector, prompts, where=where)
    detections = detector.detect(image)
    t1 = time.perf_counter()
    regions, notes = plan_stage(detections, image.shape[:2], stage)
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
        from ..meta.inherit import job_settings

        prompts_ = region_prompts(stage.inpaint, regions, info)
        plan.skipped = _large_enough(stage, regions)
        if not native and stage.crop.guide_size is not None:
            regions = [_guided(stage, r) for r in regions]
            plan.regions = regions
        frame = _canvas_frame(stage, image) if not native else None
        for i, (r, p) in enumerate(zip(regions, prompts_)):
            if i in plan.skipped:
                continue
            js = job_settings(stage.inpaint, r.index, info)  # seed/sampler: config, -1 or the image's own
            plan.settings.append(js)
            plan.jobs.append(_job(stage, image, r, *p, js, frame=frame, controls=not native, where=where))
            plan.job_regions.append(i)
            plan.frames.append(frame)
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
        out, records = _blend(backends, plan, image, results or [])
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


def _blend(backends: Backends, plan: StagePlan, image: np.ndarray, results: list[InpaintResult]
           ) -> tuple[np.ndarray, list[RegionRecord]]:
    out, records = image, []
    scorer = _scorer(plan.stage, backends)
    by_region = {r: (plan.jobs[j], results[j], plan.frames[j] if j < len(plan.frames) else None,
                     plan.settings[j] if j < len(plan.settings) else None)
                 for j, r in enumerate(plan.job_regions or range(len(plan.jobs))) if j < len(results)}
    for i, region in enumerate(plan.regions):
        if i not in by_region:
            records.append(RegionRecord.of(region, plan.stage, repainted=False,
                                           reason=plan.skipped.get(i, "not repainted: no inpaint result")))
            continue
        job, result, frame, settings = by_region[i]
        candidates = tuple(unfill_canvas(c, frame) for c in result.candidates) if frame else result.candidates
        blocked = result.info.get("blocked") or ("nothing to fill at crop size" if result.info.get("skipped")
                                                 else None)
        scored = _scored(plan.stage, out, region, candidates)
        choice = None if blocked else choose(scorer, plan.stage.label, *scored)
        picked = plan.picks.get(i)
        if choice is not None and picked is not None and 0 <= picked < len(candidates):  # the user's pick wins
            choice = Choice(picked, choice.original_score, choice.scores, f"picked by user: candidate {picked}")
        else:
            picked = None
        if plan.keep_candidates and not blocked:
            plan.kept.append(_kept(i, region, out, candidates, scored))
        keep = choice is not None and choice.index is not None
        unchanged = False
        if keep:
            out = image.copy() if out is image else out  # one copy per stage, regions pasted in place
            ys, xs = _changeable(region)
            before = out[ys, xs].copy()
            paste_crop_into(out, candidates[choice.index], region.soft_mask, region.crop)
            unchanged = not np.any(out[ys, xs] != before)  # changed no pixel: not "repainted"
            keep = not unchanged
        reason = (f"not repainted: {blocked}" if blocked else "not repainted: the repaint changed no pixels"
                  if unchanged else ("" if keep else choice.reason))
        rec = RegionRecord.of(region, plan.stage, repainted=keep, reason=reason, seed=job.seed,
                              choice=choice, info=result.info, prompt=job.prompt, negative_prompt=job.negative_prompt,
                              settings=settings)
        if picked is not None:
            rec.chosen_candidate, rec.picked_by = picked, "user"
            rec.candidate_scores = rec.candidate_scores if rec.candidate_scores is not None else []
        records.append(rec)
    return out, records


def _changeable(region: PlannedRegion) -> tuple[slice, slice]:
    """The rows and columns a paste can change: the soft mask's box inside the crop box."""
    x0, y0, x1, y1 = region.crop.box
    box = mask_bbox(region.soft_mask[y0:y1, x0:x1])
    if box is None:
        return slice(0, 0), slice(0, 0)
    return slice(y0 + box[1], y0 + box[3]), slice(x0 + box[0], x0 + box[2])


def _kept(i: int, region: PlannedRegion, image: np.ndarray, candidates: tuple[np.ndarray, ...],
          scored: tuple[np.ndarray, tuple[np.ndarray, ...], Any]) -> KeptRegion:
    x0, y0, x1, y1 = region.crop.box
    original, windows, _ = scored
    if original.size == 0:  # one candidate: not scored, so the windows were not made
        original = _window(image, region)
        windows = tuple(blend_window(image, c, region.soft_mask, region.crop) for c in candidates)
    return KeptRegion(i, region.crop.box, tuple(candidates), np.ascontiguousarray(region.soft_mask[y0:y1, x0:x1]),
                      (original, *windows))


def _scored(stage: StageConfig, image: np.ndarray, region: PlannedRegion, candidates: tuple[np.ndarray, ...]
            ) -> tuple[np.ndarray, tuple[np.ndarray, ...], tuple[float, float, float, float] | None]:
    """The original window, each candidate composited into it, and the region's detection box
    in window pixels, as best-of-N scores them (the box picks the repainted part, not another
    one in the window).

    Only-masked: the region's crop box. Whole picture: the crop box is the whole image, so the
    window is the soft mask's box padded like an only-masked crop."""
    if len(candidates) == 1:  # taken without scoring (see select.choose)
        return image[:0, :0], candidates, None
    if stage.crop.area != "whole":
        x0, y0 = region.crop.box[:2]
        windows = tuple(blend_window(image, c, region.soft_mask, region.crop) for c in candidates)
        return _window(image, region), windows, _part_box(stage, region, x0, y0)
    h, w = image.shape[:2]
    x0, y0, x1, y1 = crop_window(mask_bbox(region.soft_mask), (w, h), max(stage.crop.padding, 32),
                                 stage.crop.resolution).box
    cx0, cy0 = region.crop.box[:2]
    windows = tuple(blend_window(image, c, region.soft_mask, region.crop)[y0 - cy0:y1 - cy0, x0 - cx0:x1 - cx0]
                    for c in candidates)
    return (np.ascontiguousarray(image[y0:y1, x0:x1]), tuple(np.ascontiguousarray(v) for v in windows),
            _part_box(stage, region, x0, y0))


def _part_box(stage: StageConfig, region: PlannedRegion, dx: float, dy: float) -> tuple[float, float, float, float] | None:
    """The region's detection box shifted into a window at ``(dx, dy)``, for a region that is
    one detected part; ``None`` (score the best part in the window) for a region merged from
    several detections or inverted, whose box is a union no single part matches."""
    if len(region.detections) > 1 or stage.mask.invert or stage.mask.merge == "merge_invert":
        return None
    box = region.box
    return (float(box[0]) - dx, float(box[1]) - dy, float(box[2]) - dx, float(box[3]) - dy)


def _large_enough(stage: StageConfig, regions: list[PlannedRegion]) -> dict[int, str]:
    """Regions ``crop.guide_size`` skips: detection box's shorter side >= guide_size (Impact-Pack's
    "already large enough"), unless ``crop.force_inpaint``. Smaller ones are upscaled to it
    (:func:`_guided`)."""
    c = stage.crop
    if c.guide_size is None or c.force_inpaint:
        return {}
    out = {}
    for i, region in enumerate(regions):
        x0, y0, x1, y1 = region.box
        short = min(x1 - x0, y1 - y0)
        if short >= c.guide_size:
            out[i] = (f"not repainted: already large enough (shorter side {short:.0f} px >= guide_size "
                      f"{c.guide_size}; set crop.force_inpaint to repaint it)")
    return out


def _guided(stage: StageConfig, region: PlannedRegion) -> PlannedRegion:
    """``region`` with ``crop.guide_size``'s processing size (:func:`~autofix.plan.crop.guide_window`:
    the detection box's shorter side scaled to about guide_size, longer crop side at most
    ``crop.max_side``, default 2 x resolution), noted; unchanged when it would not enlarge it."""
    from dataclasses import replace

    c = stage.crop
    if c.guide_size is None or c.area == "whole":
        return region
    cap = c.max_side or 2 * c.resolution
    crop = guide_window(region.crop, region.box, c.guide_size, cap)
    if crop == region.crop:
        return region
    x0, y0, x1, y1 = region.box
    short = min(x1 - x0, y1 - y0)
    bx0, by0, bx1, by1 = crop.box
    capped = c.guide_size / short > cap / max(bx1 - bx0, by1 - by0)
    scale = crop.size[0] / (bx1 - bx0)
    note = (f"guide_size {c.guide_size}: processed at {crop.size[0]}x{crop.size[1]} (detection's shorter side "
            f"{short:.0f} px -> {short * scale:.0f} px{f', capped by max_side {cap}' if capped else ''})")
    return replace(region, crop=crop, notes=tuple(region.notes) + (note,))


def _canvas_frame(stage: StageConfig, image: np.ndarray) -> WholeFrame | None:
    """The whole-picture frame whose canvas differs from the picture (resize_and_fill), else None."""
    c = stage.crop
    if c.area != "whole":
        return None
    frame = whole_frame((image.shape[1], image.shape[0]), c.resolution, c.whole_size, c.resize_mode)
    return frame if frame.canvas != frame.size else None


def _native(region: PlannedRegion) -> PlannedRegion:
    from dataclasses import replace

    return replace(region, crop=native_window(region.crop))


def _job(stage: StageConfig, image: np.ndarray, region: PlannedRegion, prompt: str, negative: str,
         settings: Any, frame: WholeFrame | None = None, controls: bool = True, where: str = "image") -> InpaintJob:
    """The region's crop and mask with its resolved seed and scheduler (``settings``, a
    :class:`~autofix.meta.inherit.JobSettings`: the image's own seed/sampler when the stage says
    ``image``, a fresh seed for ``-1``)."""
    crop_rgb, crop_mask = cut_crop(image, region.hard_mask, region.crop)
    p = stage.inpaint
    params = p.model_dump(mode="json", exclude={"prompt", "negative_prompt", "region_prompts"})
    params.update(seed=settings.seed, scheduler=settings.scheduler)
    if p.controlnet and controls:  # ControlNet control images, built on the crop (issue 14)
        from ..inpaint.controlnet import control_image, given_control, region_landmarks

        hands, faces = region_landmarks(region, region.crop.box, region.crop.size)
        params["control_images"] = [
            given_control(u.image, where, image.shape[:2], region.crop) if u.image
            else control_image(u.type, crop_rgb, crop_mask, hands, faces) for u in p.controlnet]
        if frame is not None:
            params["control_images"] = [fill_canvas(c, frame) for c in params["control_images"]]
    if frame is not None:  # whole picture, resize_and_fill: the picture on the model's canvas
        crop_rgb, crop_mask = fill_canvas(crop_rgb, frame), fill_canvas(crop_mask, frame)
    return InpaintJob(image=crop_rgb, mask=crop_mask, seed=settings.seed, prompt=prompt,
                      negative_prompt=negative, params=params)


def _scorer(stage: StageConfig, backends: Backends) -> Any:
    """The detector that scores best-of-N candidates: the stage's own (this thread's
    instance), without mask refinement (scores ignore masks, and SAM would re-encode every
    window); None for ``prompt`` stages, whose user boxes mean nothing inside a crop window."""
    if stage.detector.backend == "prompt":
        return None
    detector = backends.detector(stage.detector)
    return getattr(detector, "detector", detector)


def _window(image: np.ndarray, region: PlannedRegion) -> np.ndarray:
    """The region's crop box of ``image`` at full resolution (what best-of-N scores)."""
    x0, y0, x1, y1 = region.crop.box
    return np.ascontiguousarray(image[y0:y1, x0:x1])


def _add(timings: dict[str, float], key: str, seconds: float) -> None:
    timings[key] = timings.get(key, 0.0) + seconds
