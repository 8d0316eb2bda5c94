"""Turn one stage's detections into :class:`~autofix.types.PlannedRegion` records.

Pipeline (:func:`plan_stage`):

1. keep detections whose ``label`` equals ``stage.label`` (a detector configured with
   ``detector.label`` has already relabelled its detections, so matching on the stage's
   label is all that is needed; detections of other classes are ignored);
2. filters, in this order: confidence → area ratio → ``drop_size`` (box's shorter side in
   px) → top-k → order (:mod:`.filters`);
3. per detection: :func:`~.masks.detection_mask`, or with ``mask.shape: auto`` for a
   detection with 21 usable hand landmarks and no mask of its own the hand's landmark mask
   (:func:`~.masks.hand_landmark_mask`: finger capsules + palm polygon; noted) → for
   ``stage.label == "hand"`` with ``mask.wrist_extension > 0`` the hand-plus-wrist rule
   (landmarks when the detection has 21 of them, else the box fallback; noted) →
   :func:`~.masks.dilate_erode` by ``mask.dilate``; masks empty at this point are dropped
   (noted);
4. grouping by ``mask.merge``: ``separate`` (one region per detection), ``merge`` (one
   region, the union), ``merge_invert`` (one region, the complement of the union); then
   ``mask.invert`` complements the union of the regions' masks as one region (so
   ``merge_invert`` + ``invert`` is the plain union). No surviving detection gives no region, even for ``merge_invert``;
5. soft mask = :func:`~.masks.feather` by ``mask.blur``; regions whose hard or soft mask is
   empty are dropped (noted); the crop is :func:`~.crop.bucket_window` around the soft mask's
   support (an aspect bucket, padded by ``crop.padding`` or scaled by ``crop.crop_factor``;
   classical inpainters then work at the window's own size), or with ``crop.area: whole``
   the whole picture (:func:`~.crop.whole_frame`; for ``crop_and_resize`` the masks are
   cut to the part of the image the canvas shows); ``index`` is the position among the
   regions returned.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from ..config import CropConfig, StageConfig
from ..types import FACE_MESH_POINTS, Box, Detection, PlannedRegion
from . import filters
from .crop import WholeFrame, bucket_window, whole_frame
from .face_masks import face_mask
from .masks import (
    detection_mask,
    dilate_erode,
    extend_box_fallback,
    extend_past_wrist,
    feather,
    hand_landmark_mask,
    invert,
    mask_bbox,
    merge_masks,
    wrist_geometry,
)

NOTE_WRIST_LANDMARKS = "wrist: landmarks"
NOTE_WRIST_FALLBACK = "wrist: box fallback"
NOTE_HAND_LANDMARK_MASK = "mask: hand landmarks"
NOTE_FACE_MESH_MASK = "mask: face mesh"
NOTE_FACE_UNCONFIRMED = "mask: face mesh not confirmed, ellipse of the box"


class StageRegions(NamedTuple):
    """What :func:`plan_stage` returns: the regions and stage-level notes (for the sidecar)."""

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
        (f"box side below drop_size {f.drop_size} px", lambda ds: [d for d in ds if _min_side(d) >= f.drop_size]),
        (f"beyond top {f.top_k} by {f.top_k_by}", lambda ds: filters.top_k(ds, f.top_k, f.top_k_by)),
    )
    for why, step in steps:
        kept = step(dets)
        if len(kept) < len(dets):
            notes.append(f"dropped {len(dets) - len(kept)} detection(s): {why}")
        dets = kept
    return filters.order(dets, f.order, (h, w)), notes


def _min_side(det: Detection) -> float:
    x0, y0, x1, y1 = (float(v) for v in det.box)
    return min(x1 - x0, y1 - y0)


def build_mask(
    det: Detection, image_shape_hw: tuple[int, ...], stage: StageConfig
) -> tuple[np.ndarray, tuple[str, ...]]:
    """One detection's hard mask (shape → wrist rule for hands → dilate/erode) and its notes.

    ``mask.shape: auto`` on a detection with no mask of its own: 21 usable hand landmarks
    (MediaPipe Hands) give the hand landmark mask; a MediaPipe face's 468/478-point mesh the
    face-mesh mask (forehead to chin, :func:`~autofix.plan.face_masks.face_mask`), and a
    MediaPipe face whose mesh was not confirmed (only BlazeFace's 6 keypoints) the ellipse
    of its box; box detectors (YOLO) keep their box or segmentation mask, and
    ``box``/``ellipse`` are honoured as configured."""
    h, w = int(image_shape_hw[0]), int(image_shape_hw[1])
    cfg = stage.mask
    notes: tuple[str, ...] = ()
    auto_own = cfg.shape == "auto" and det.mask is None
    if auto_own and _usable_hand_landmarks(det.landmarks):
        hard, notes = hand_landmark_mask((h, w), det.landmarks), (NOTE_HAND_LANDMARK_MASK,)
    elif auto_own and _mediapipe_face(det) and _usable_face_mesh(det.landmarks):
        hard = np.where(face_mask((h, w), det.landmarks), np.uint8(255), np.uint8(0))
        notes = (NOTE_FACE_MESH_MASK,)
    elif auto_own and _mediapipe_face(det):  # BlazeFace's keypoints only (or an unusable mesh)
        hard, notes = detection_mask(det, (h, w), "ellipse"), (NOTE_FACE_UNCONFIRMED,)
    else:
        hard = detection_mask(det, (h, w), cfg.shape)
    if stage.label == "hand" and cfg.wrist_extension > 0:
        if _usable_hand_landmarks(det.landmarks):
            hard, notes = extend_past_wrist(hard, det.landmarks, cfg.wrist_extension), notes + (NOTE_WRIST_LANDMARKS,)
        else:
            hard = extend_box_fallback(hard, det.box, cfg.wrist_extension, (h, w))
            notes += (NOTE_WRIST_FALLBACK,)
    return dilate_erode(hard, cfg.dilate), notes


def _mediapipe_face(det: Detection) -> bool:
    """A detection of the ``mediapipe_face`` detector (any label), with its landmarks."""
    return det.source.startswith("mediapipe_face:") and det.landmarks is not None


def _usable_face_mesh(landmarks: np.ndarray) -> bool:
    """A 468/478-point mesh, finite, with extent (a collapsed one would give no outline)."""
    lm = np.asarray(landmarks, dtype=np.float64)
    return (lm.ndim == 2 and lm.shape[0] in FACE_MESH_POINTS and lm.shape[1] >= 2
            and bool(np.isfinite(lm[:, :2]).all()) and float(np.ptp(lm[:, 1])) > 0 and float(np.ptp(lm[:, 0])) > 0)


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
    if stage.mask.invert and pieces:
        # The complement of the UNION, as one region: inverting each mask on its own would
        # repaint everything but face 1, then everything but face 2 (i.e. every face again).
        if len(pieces) > 1:
            notes = _unique([n for p in pieces for n in p.notes] + dropped)
            pieces = [_Piece(tuple(d for p in pieces for d in p.dets), merge_masks(p.hard for p in pieces),
                             notes + (f"invert: complement of the union of {len(pieces)} masks",))]
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
    c = stage.crop
    frame = whole_frame((w, h), c.resolution, c.whole_size, c.resize_mode) if c.area == "whole" else None
    regions: list[PlannedRegion] = []
    for piece in pieces:
        hard = piece.hard
        soft = feather(hard, stage.mask.blur)
        extra: tuple[str, ...] = ()
        if frame is not None:
            extra = (_whole_note(frame, c),)
            if frame.box != (0, 0, w, h):  # crop_and_resize: only the part the canvas shows
                hard, soft = _inside(hard, frame.box), _inside(soft, frame.box)
        support = mask_bbox(soft)
        if not hard.any() or support is None:
            what = "hard mask" if not hard.any() else f"soft mask (blur {stage.mask.blur})"
            if frame is not None and piece.hard.any() and frame.box != (0, 0, w, h):
                what += f" inside the crop_and_resize box {frame.box}"
            notes.append(f"dropped a region of {len(piece.dets)} detection(s): {what} empty")
            continue
        crop = frame.window if frame is not None else bucket_window(
            support, (w, h), c.padding, c.resolution, c.large, c.max_side, c.crop_factor)
        regions.append(
            PlannedRegion(
                index=len(regions),
                label=stage.label,
                score=max(float(d.score) for d in piece.dets),
                box=_union_box(piece.dets),
                hard_mask=hard,
                soft_mask=soft,
                crop=crop,
                detections=piece.dets,
                notes=piece.notes + extra,
            )
        )
    return regions


def _whole_note(frame: WholeFrame, crop: CropConfig) -> str:
    mode = f" ({crop.resize_mode})" if crop.whole_size is not None else ""
    return f"inpaint area: whole picture at {frame.canvas[0]}x{frame.canvas[1]}{mode}"


def _inside(mask: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """``mask`` zeroed outside ``box``."""
    x0, y0, x1, y1 = box
    out = np.zeros_like(mask)
    out[y0:y1, x0:x1] = mask[y0:y1, x0:x1]
    return out


def plan_stage(
    detections: Sequence[Detection], image_shape_hw: tuple[int, ...], stage: StageConfig
) -> StageRegions:
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
    return StageRegions(regions, notes)
