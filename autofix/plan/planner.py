"""Turn one stage's detections into :class:`~autofix.types.PlannedRegion` records.

Pipeline (:func:`plan_stage_full`):

1. keep detections whose ``label`` equals ``stage.label`` (a detector configured with
   ``detector.label`` has already relabelled its detections, so matching on the stage's
   label is all that is needed; detections of other classes are ignored);
2. filters, in this order: confidence → area ratio → top-k → order (:mod:`.filters`);
3. per detection: :func:`~.masks.detection_mask` → for ``stage.label == "hand"`` with
   ``mask.wrist_extension > 0`` the hand-plus-wrist rule (landmarks when the detection has
   21 of them, else the box fallback; noted) → :func:`~.masks.dilate_erode` by
   ``mask.dilate``; masks empty at this point are dropped (noted);
4. grouping by ``mask.merge``: ``separate`` (one region per detection), ``merge`` (one
   region, the union), ``merge_invert`` (one region, the complement of the union); then
   ``mask.invert`` complements each region's mask (so ``merge_invert`` + ``invert`` is the
   plain union). No surviving detection gives no region, even for ``merge_invert``;
5. soft mask = :func:`~.masks.feather` by ``mask.blur``; regions whose hard or soft mask is
   empty are dropped (noted); the crop is :func:`~.crop.bucket_window` around the soft mask's
   support (an aspect bucket; classical inpainters then work at the window's own size); ``index`` is the position among the regions returned.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from ..config import StageConfig
from ..types import Box, Detection, PlannedRegion
from . import filters
from .crop import bucket_window
from .masks import (
    detection_mask,
    dilate_erode,
    extend_box_fallback,
    extend_past_wrist,
    feather,
    invert,
    mask_bbox,
    merge_masks,
    wrist_geometry,
)

NOTE_WRIST_LANDMARKS = "wrist: landmarks"
NOTE_WRIST_FALLBACK = "wrist: box fallback"


class StagePlan(NamedTuple):
    """What :func:`plan_stage_full` returns: the regions and stage-level notes (for the sidecar)."""

    regions: list[PlannedRegion]
    notes: list[str]


class _Piece(NamedTuple):
    dets: tuple[Detection, ...]
    hard: np.ndarray
    notes: tuple[str, ...]


def select_detections(
    detections: Sequence[Detection], image_shape_hw: tuple[int, ...], stage: StageConfig
) -> tuple[list[Detection], list[str]]:
    """Label match → confidence → area ratio → top-k → order; returns the kept list and notes."""
    f = stage.filters
    h, w = int(image_shape_hw[0]), int(image_shape_hw[1])
    notes: list[str] = []
    dets = [d for d in detections if d.label == stage.label]
    steps = (
        (f"below confidence {f.confidence}", lambda ds: filters.by_confidence(ds, f.confidence)),
        (
            f"area ratio outside [{f.min_area_ratio}, {f.max_area_ratio}]",
            lambda ds: filters.by_area_ratio(ds, float(h * w), f.min_area_ratio, f.max_area_ratio),
        ),
        (f"beyond top {f.top_k} by {f.top_k_by}", lambda ds: filters.top_k(ds, f.top_k, f.top_k_by)),
    )
    for why, step in steps:
        kept = step(dets)
        if len(kept) < len(dets):
            notes.append(f"dropped {len(dets) - len(kept)} detection(s): {why}")
        dets = kept
    return filters.order(dets, f.order, (h, w)), notes


def build_mask(
    det: Detection, image_shape_hw: tuple[int, ...], stage: StageConfig
) -> tuple[np.ndarray, tuple[str, ...]]:
    """One detection's hard mask (shape → wrist rule for hands → dilate/erode) and its notes."""
    h, w = int(image_shape_hw[0]), int(image_shape_hw[1])
    cfg = stage.mask
    hard = detection_mask(det, (h, w), cfg.shape)
    notes: tuple[str, ...] = ()
    if stage.label == "hand" and cfg.wrist_extension > 0:
        if _usable_hand_landmarks(det.landmarks):
            hard, notes = extend_past_wrist(hard, det.landmarks, cfg.wrist_extension), (NOTE_WRIST_LANDMARKS,)
        else:
            hard, notes = extend_box_fallback(hard, det.box, cfg.wrist_extension, (h, w)), (NOTE_WRIST_FALLBACK,)
    return dilate_erode(hard, cfg.dilate), notes


def _usable_hand_landmarks(landmarks: np.ndarray | None) -> bool:
    """21 finite ``(x, y[, z])`` points with the wrist apart from the middle MCP."""
    if landmarks is None:
        return False
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.ndim != 2 or lm.shape[0] != 21 or lm.shape[1] < 2 or not np.isfinite(lm[:, :2]).all():
        return False
    return wrist_geometry(lm) is not None


def _unique(items: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _group(pieces: list[_Piece], stage: StageConfig, dropped: list[str]) -> list[_Piece]:
    """Apply ``mask.merge`` and ``mask.invert`` to the per-detection pieces."""
    mode = stage.mask.merge
    if mode != "separate" and pieces:
        notes = _unique([n for p in pieces for n in p.notes] + dropped)
        hard = merge_masks(p.hard for p in pieces)
        hard = invert(hard) if mode == "merge_invert" else hard
        pieces = [_Piece(tuple(d for p in pieces for d in p.dets), hard, notes + (f"merge: {mode}",))]
    if stage.mask.invert:
        pieces = [_Piece(p.dets, invert(p.hard), p.notes + ("inverted",)) for p in pieces]
    return pieces


def _union_box(dets: Sequence[Detection]) -> Box:
    boxes = np.array([d.box for d in dets], dtype=np.float64)
    return (float(boxes[:, 0].min()), float(boxes[:, 1].min()), float(boxes[:, 2].max()), float(boxes[:, 3].max()))


def _finish(
    pieces: list[_Piece], image_shape_hw: tuple[int, ...], stage: StageConfig, notes: list[str]
) -> list[PlannedRegion]:
    """Feather, crop and index the grouped pieces; drop (and note) empty ones."""
    h, w = int(image_shape_hw[0]), int(image_shape_hw[1])
    regions: list[PlannedRegion] = []
    for piece in pieces:
        soft = feather(piece.hard, stage.mask.blur)
        support = mask_bbox(soft)
        if not piece.hard.any() or support is None:
            what = "hard mask" if not piece.hard.any() else f"soft mask (blur {stage.mask.blur})"
            notes.append(f"dropped a region of {len(piece.dets)} detection(s): {what} empty")
            continue
        regions.append(
            PlannedRegion(
                index=len(regions),
                label=stage.label,
                score=max(float(d.score) for d in piece.dets),
                box=_union_box(piece.dets),
                hard_mask=piece.hard,
                soft_mask=soft,
                crop=bucket_window(support, (w, h), stage.crop.padding, stage.crop.resolution,
                                   stage.crop.large, stage.crop.max_side),
                detections=piece.dets,
                notes=piece.notes,
            )
        )
    return regions


def plan_stage_full(
    detections: Sequence[Detection], image_shape_hw: tuple[int, ...], stage: StageConfig
) -> StagePlan:
    """Plan one stage (see the module docstring); ``image_shape_hw`` is ``(H, W[, C])``."""
    dets, notes = select_detections(detections, image_shape_hw, stage)
    pieces: list[_Piece] = []
    dropped: list[str] = []
    for det in dets:
        hard, det_notes = build_mask(det, image_shape_hw, stage)
        if not hard.any():
            where = tuple(round(float(v), 1) for v in det.box)
            dropped.append(f"dropped 1 detection at {where}: mask empty after dilate {stage.mask.dilate}")
            continue
        pieces.append(_Piece((det,), hard, det_notes))
    notes.extend(dropped)
    regions = _finish(_group(pieces, stage, dropped), image_shape_hw, stage, notes)
    return StagePlan(regions, notes)


def plan_stage(
    detections: Sequence[Detection], image_shape_hw: tuple[int, ...], stage: StageConfig
) -> list[PlannedRegion]:
    """The stage's regions in processing order (:func:`plan_stage_full` without the stage notes)."""
    return plan_stage_full(detections, image_shape_hw, stage).regions
