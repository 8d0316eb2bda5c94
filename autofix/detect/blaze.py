"""What MediaPipe's graphs do around its BlazeFace/BlazePalm-family models, in numpy.

* SSD anchors and box/keypoint decoding (``SsdAnchorsCalculator``,
  ``TensorsToDetectionsCalculator``), weighted non-maximum suppression
  (``NonMaxSuppressionCalculator``, WEIGHTED), letterbox removal;
* the rotated region of interest a detection defines (``DetectionsToRectsCalculator``
  with a rotation vector, ``RectTransformationCalculator``) and projecting landmarks
  found in such a region back to the image (``LandmarkProjectionCalculator``).

:func:`detect_ssd` runs a whole single-shot detector (face, palm; pose detection has
the same shape) on an image through :class:`autofix.detect.litert.TFLiteModel`.
Coordinates: detections are normalised to the image (0..1) unless a function says
pixels; rois are ``(cx, cy, w, h, rotation)`` in pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .litert import TFLiteModel, roi_tensor


@dataclass(frozen=True)
class SSDSpec:
    """One SSD model's decoding options (the values of its MediaPipe graph)."""

    model: str  #: shipped model name (see ``tflite/models.json``)
    strides: tuple[int, ...]
    anchors_per_cell: tuple[int, ...]  #: one per stride group, in stride order
    num_keypoints: int
    value_range: tuple[float, float]
    suppression_iou: float = 0.3


#: BlazeFace short range: 128², 896 anchors, 6 keypoints, input in [-1, 1].
FACE_SHORT = SSDSpec("face_detection_short_range", (8, 16), (2, 6), 6, (-1.0, 1.0))
#: BlazeFace full range (sparse): 192², 2304 anchors.
FACE_FULL = SSDSpec("face_detection_full_range_sparse", (4,), (1,), 6, (-1.0, 1.0))
#: BlazePalm full: 192², 2016 anchors, 7 keypoints (0 = wrist centre, 2 = middle-finger MCP), input in [0, 1].
PALM_FULL = SSDSpec("palm_detection_full", (8, 16), (2, 6), 7, (0.0, 1.0))


@dataclass(frozen=True)
class RawDetection:
    """A decoded detection: ``box`` ``(xmin, ymin, xmax, ymax)`` and ``keypoints`` ``(K, 2)``,
    both normalised to the image, and its sigmoid ``score``."""

    box: tuple[float, float, float, float]
    keypoints: np.ndarray
    score: float


def anchor_centers(size: int, strides: Sequence[int], per_cell: Sequence[int]) -> np.ndarray:
    """``(N, 2)`` anchor centres (x, y) in 0..1 for fixed-size anchors, MediaPipe's order."""
    out = []
    for stride, count in zip(strides, per_cell):
        cells = math.ceil(size / stride)
        ys, xs = np.meshgrid(np.arange(cells), np.arange(cells), indexing="ij")
        centers = np.stack([(xs + 0.5) / cells, (ys + 0.5) / cells], axis=-1).reshape(-1, 1, 2)
        out.append(np.repeat(centers, count, axis=1).reshape(-1, 2))
    return np.concatenate(out).astype(np.float64)


def decode(
    raw_boxes: np.ndarray, raw_scores: np.ndarray, anchors: np.ndarray, size: int, num_keypoints: int,
    min_score: float,
) -> list[RawDetection]:
    """Decode ``(N, 4 + 2K)`` regressors and ``(N, 1)`` logits over ``anchors`` (tensor-normalised)."""
    raw_boxes = raw_boxes.reshape(len(anchors), -1).astype(np.float64)
    scores = 1.0 / (1.0 + np.exp(-np.clip(raw_scores.reshape(-1).astype(np.float64), -100.0, 100.0)))
    keep = np.nonzero(scores >= min_score)[0]
    out = []
    for i in keep:
        r, (ax, ay) = raw_boxes[i] / size, anchors[i]
        cx, cy, w, h = r[0] + ax, r[1] + ay, r[2], r[3]
        if w <= 0 or h <= 0:
            continue
        kps = r[4 : 4 + 2 * num_keypoints].reshape(num_keypoints, 2) + (ax, ay)
        out.append(RawDetection((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), kps, float(scores[i])))
    return out


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def weighted_nms(dets: list[RawDetection], threshold: float) -> list[RawDetection]:
    """MediaPipe's WEIGHTED suppression: each kept detection's box and keypoints are the
    score-weighted mean of all detections overlapping it by IoU > ``threshold``; its
    score is the best one's. Output in descending score."""
    remaining = sorted(dets, key=lambda d: -d.score)
    out = []
    while remaining:
        top = remaining[0]
        group = [d for d in remaining if iou(d.box, top.box) > threshold]
        remaining = [d for d in remaining if iou(d.box, top.box) <= threshold]
        weights = np.array([d.score for d in group])
        box = np.average(np.array([d.box for d in group]), axis=0, weights=weights)
        kps = np.average(np.stack([d.keypoints for d in group]), axis=0, weights=weights)
        out.append(RawDetection(tuple(float(v) for v in box), kps, top.score))  # type: ignore[arg-type]
    return out


def remove_letterbox(det: RawDetection, pad: Sequence[float]) -> RawDetection:
    """Map a tensor-normalised detection back to the un-padded region (0..1)."""
    left, top, right, bottom = pad
    sx, sy = 1.0 - left - right, 1.0 - top - bottom
    x0, y0, x1, y1 = det.box
    box = ((x0 - left) / sx, (y0 - top) / sy, (x1 - left) / sx, (y1 - top) / sy)
    kps = (det.keypoints - (left, top)) / (sx, sy)
    return RawDetection(box, kps, det.score)


def detect_ssd(model: TFLiteModel, spec: SSDSpec, image: np.ndarray, min_score: float) -> list[RawDetection]:
    """Run an SSD detector on the whole of ``image`` (letterboxed into its square input);
    detections normalised to ``image``, best first."""
    h, w = image.shape[:2]
    size = model.input_size[0]
    tensor, pad, _ = roi_tensor(image, (w / 2, h / 2, w, h, 0.0), (size, size), value_range=spec.value_range)
    raw_boxes, raw_scores = model.run(tensor)[:2]
    anchors = _anchors(spec, size)
    dets = decode(raw_boxes, raw_scores, anchors, size, spec.num_keypoints, min_score)
    return [remove_letterbox(d, pad) for d in weighted_nms(dets, spec.suppression_iou)]


_ANCHORS: dict[tuple[SSDSpec, int], np.ndarray] = {}


def _anchors(spec: SSDSpec, size: int) -> np.ndarray:
    key = (spec, size)
    if key not in _ANCHORS:
        _ANCHORS[key] = anchor_centers(size, spec.strides, spec.anchors_per_cell)
    return _ANCHORS[key]


def normalize_radians(angle: float) -> float:
    return angle - 2 * math.pi * math.floor((angle + math.pi) / (2 * math.pi))


def rotated_roi(
    det: RawDetection, width: int, height: int, *, start: int, end: int, target_degrees: float,
    scale: float, shift_y: float = 0.0, shift_x: float = 0.0,
) -> tuple[float, float, float, float, float]:
    """The square, rotated region (pixels) that a detection's box and two keypoints define:
    rotation turns keypoint ``start``→``end`` to ``target_degrees``; the box is shifted by
    ``shift_x/shift_y`` of its size along the rotated axes, squared on its long side and
    scaled (palm → hand: keypoints 0→2, 90°, scale 2.6, shift_y −0.5)."""
    x0, y0, x1, y1 = det.box
    cx, cy, w, h = (x0 + x1) / 2 * width, (y0 + y1) / 2 * height, (x1 - x0) * width, (y1 - y0) * height
    (sx, sy), (ex, ey) = det.keypoints[start] * (width, height), det.keypoints[end] * (width, height)
    rot = normalize_radians(math.radians(target_degrees) - math.atan2(-(ey - sy), ex - sx))
    cx += w * shift_x * math.cos(rot) - h * shift_y * math.sin(rot)
    cy += w * shift_x * math.sin(rot) + h * shift_y * math.cos(rot)
    side = max(w, h) * scale
    return cx, cy, side, side, rot


def project_landmarks(points: np.ndarray, roi: Sequence[float]) -> np.ndarray:
    """``(K, 2+)`` landmarks normalised to a roi's tensor (0..1) → image pixels ``(K, 2)``."""
    cx, cy, w, h, rot = roi
    x, y = points[:, 0] - 0.5, points[:, 1] - 0.5
    c, s = math.cos(rot), math.sin(rot)
    return np.stack([cx + (c * x - s * y) * w, cy + (s * x + c * y) * h], axis=1)


def roi_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """IoU of two rois' axis-aligned boxes (rotation ignored, as MediaPipe's association)."""
    def box(r: Sequence[float]) -> tuple[float, float, float, float]:
        return (r[0] - r[2] / 2, r[1] - r[3] / 2, r[0] + r[2] / 2, r[1] + r[3] / 2)

    return iou(box(a), box(b))


#: BlazePose detector: 224², 2254 anchors (strides 8, 16, 32×3), 4 keypoints (0 = mid-hip,
#: 1 = a point on the circle around the whole body, 2 = mid-shoulder, 3 = upper-body circle), input in [-1, 1].
POSE_DETECTION = SSDSpec("pose_detection", (8, 16, 32), (2, 2, 6), 4, (-1.0, 1.0))


def alignment_roi(
    center: Sequence[float], scale_point: Sequence[float], *, target_degrees: float, scale: float = 1.0,
    shift_y: float = 0.0,
) -> tuple[float, float, float, float, float]:
    """MediaPipe's ``AlignmentPointsRectsCalculator`` + ``RectTransformationCalculator``
    (square_long), in pixels: a square centred on ``center``, side twice the distance to
    ``scale_point``, rotated so that ``center``→``scale_point`` points at ``target_degrees``;
    then shifted by ``shift_y`` of its side along its rotated y axis and scaled."""
    (cx, cy), (ex, ey) = (float(v) for v in center), (float(v) for v in scale_point)
    side = 2.0 * math.hypot(ex - cx, ey - cy)
    rot = normalize_radians(math.radians(target_degrees) - math.atan2(-(ey - cy), ex - cx))
    cx -= side * shift_y * math.sin(rot)
    cy += side * shift_y * math.cos(rot)
    return cx, cy, side * scale, side * scale, rot
