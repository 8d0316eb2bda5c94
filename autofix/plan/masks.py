"""Mask building blocks: boxes, ellipses, hand landmark masks, dilation/erosion, the
hand-plus-wrist rule, feathering.

Formats (see :mod:`autofix.types`): a *hard mask* is ``(H, W)`` ``uint8`` with values exactly
0 or 255; a *soft mask* is ``(H, W)`` ``uint8`` in 0–255. Boxes are ``(x0, y0, x1, y1)`` float
pixels with ``x1``/``y1`` exclusive; pixel ``(col, row)`` covers ``[col, col+1) × [row, row+1)``
and has its centre at ``(col + 0.5, row + 0.5)``.

Every function here is pure: inputs are never modified, a new array is returned.
"""

from __future__ import annotations

import math
from typing import Iterable, Literal

import cv2
import numpy as np

from ..types import (  # noqa: F401 - PALM_LENGTH_PER_WIDTH re-exported with palm_scale
    HAND_FINGER_CHAINS,
    HAND_MIDDLE_MCP,
    HAND_PINKY_MCP,
    HAND_WRIST,
    PALM_LENGTH_PER_WIDTH,
    Box,
    Detection,
    IntBox,
    palm_scale,
)

#: Float noise tolerated on box edges when rounding outward (pixels).
EDGE_EPS = 1e-6
#: Index of MediaPipe's thumb CMC landmark (with the pinky MCP: the wrist-width estimate).
HAND_THUMB_CMC = 1
#: Hand size = this × the wrist→middle-MCP distance (the palm is about half the hand's length).
HAND_SIZE_PER_PALM = 2.0
#: The forearm stub is never narrower than this × the wrist→middle-MCP distance.
MIN_WRIST_WIDTH_PER_PALM = 0.5

#: Hand landmark masks (:func:`hand_landmark_mask`), in units of the hand's palm scale
#: (see :func:`palm_scale`). Measured on the open photos' hands (zidane's pointing hand,
#: bus's three visible hands) against their hand-made boxes and skin pixels: finger radius
#: 0.16 covers the fingers' width (a finger is ~0.2 palm lengths wide, plus landmark jitter)
#: and, as the round cap of the last segment, the fingertip beyond landmark 4/8/12/16/20;
#: the tip segment is prolonged by a further 0.25 of its length because MediaPipe's tip
#: landmark sits on the pad, short of the nail's end.
FINGER_RADIUS_PER_PALM = 0.16
TIP_EXTENSION = 0.25
#: The palm polygon (wrist, thumb CMC and MCP, the four finger MCPs) is grown by this:
#: the landmarks are joint centres, the palm's edges (thumb web, pinky side, heel of the
#: hand) lie outside them.
PALM_MARGIN_PER_PALM = 0.22
#: The palm's landmarks (wrist, thumb CMC and MCP, the four finger MCPs).
HAND_PALM_POINTS = (0, 1, 2, 5, 9, 13, 17)

MaskShape = Literal["auto", "box", "ellipse"]


def _binary(condition: np.ndarray) -> np.ndarray:
    """255 where ``condition`` holds, else 0, as uint8 (no wide temporaries)."""
    return np.where(condition, np.uint8(255), np.uint8(0))


def _hw(shape_hw: tuple[int, ...]) -> tuple[int, int]:
    h, w = int(shape_hw[0]), int(shape_hw[1])
    if h <= 0 or w <= 0:
        raise ValueError(f"mask shape must be positive (H, W), is {tuple(shape_hw)}")
    return h, w


def pixel_box(box: Box, shape_hw: tuple[int, ...]) -> IntBox:
    """Round a float box outward to whole pixels and clamp it to ``(H, W)``.

    ``x0``/``y0`` are floored and ``x1``/``y1`` ceiled, so every pixel the box overlaps by
    more than :data:`EDGE_EPS` px is included (a box on integer edges keeps them exactly).
    The result may be empty (``x1 <= x0`` or ``y1 <= y0``) for degenerate or off-image boxes.
    """
    h, w = _hw(shape_hw)
    x0, y0, x1, y1 = (float(v) for v in box)
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)):
        raise ValueError(f"box has non-finite coordinates: {box}")
    ix0 = min(max(math.floor(x0 + EDGE_EPS), 0), w)
    iy0 = min(max(math.floor(y0 + EDGE_EPS), 0), h)
    ix1 = min(max(math.ceil(x1 - EDGE_EPS), 0), w)
    iy1 = min(max(math.ceil(y1 - EDGE_EPS), 0), h)
    return ix0, iy0, max(ix1, ix0), max(iy1, iy0)


def box_mask(shape_hw: tuple[int, ...], box: Box) -> np.ndarray:
    """Hard mask ``(H, W)`` uint8 0/255 of ``box``, rounded outward (see :func:`pixel_box`)."""
    h, w = _hw(shape_hw)
    out = np.zeros((h, w), np.uint8)
    x0, y0, x1, y1 = pixel_box(box, (h, w))
    out[y0:y1, x0:x1] = 255
    return out


def ellipse_mask(shape_hw: tuple[int, ...], box: Box) -> np.ndarray:
    """Hard mask of the axis-aligned ellipse inscribed in ``box``.

    A pixel is set when its centre lies inside or on the ellipse with centre
    ``((x0+x1)/2, (y0+y1)/2)`` and semi-axes ``(x1-x0)/2``, ``(y1-y0)/2``; so the result is
    always a subset of :func:`box_mask` of the same box. Boxes too small to contain a pixel
    centre give an empty mask.
    """
    h, w = _hw(shape_hw)
    out = np.zeros((h, w), np.uint8)
    bx0, by0, bx1, by1 = (float(v) for v in box)
    a, b = (bx1 - bx0) / 2.0, (by1 - by0) / 2.0
    x0, y0, x1, y1 = pixel_box(box, (h, w))
    if a <= 0 or b <= 0 or x1 <= x0 or y1 <= y0:
        return out
    cx, cy = (bx0 + bx1) / 2.0, (by0 + by1) / 2.0
    xs = (np.arange(x0, x1, dtype=np.float64) + 0.5 - cx) / a
    ys = (np.arange(y0, y1, dtype=np.float64) + 0.5 - cy) / b
    inside = ys[:, None] ** 2 + xs[None, :] ** 2 <= 1.0
    out[y0:y1, x0:x1] = _binary(inside)
    return out


def detection_mask(det: Detection, shape_hw: tuple[int, ...], shape: MaskShape = "auto") -> np.ndarray:
    """Hard mask of one detection in an ``(H, W)`` image.

    ``"auto"``: the detector's own mask (nonzero → 255) when ``det.mask`` is set, else the box;
    ``"box"``: :func:`box_mask`; ``"ellipse"``: :func:`ellipse_mask`. A ``det.mask`` of a
    different size than ``shape_hw`` is a detector bug and raises :class:`ValueError`.
    """
    h, w = _hw(shape_hw)
    if shape == "box" or (shape == "auto" and det.mask is None):
        return box_mask((h, w), det.box)
    if shape == "ellipse":
        return ellipse_mask((h, w), det.box)
    if shape != "auto":
        raise ValueError(f"mask shape must be auto, box or ellipse, is {shape!r}")
    own = np.asarray(det.mask)
    if own.shape[:2] != (h, w) or own.ndim != 2:
        raise ValueError(f"detection mask has shape {own.shape}, image is {(h, w)}")
    return _binary(own != 0)


def _hand_points(landmarks: np.ndarray) -> np.ndarray:
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.ndim != 2 or lm.shape[0] != 21 or lm.shape[1] < 2:
        raise ValueError(f"expected 21 hand landmarks of (x, y), got shape {lm.shape}")
    return lm[:, :2]


def _segment_dist2(xs: np.ndarray, ys: np.ndarray, p0: np.ndarray, p1: np.ndarray) -> np.ndarray:
    """Squared distance of points ``(xs, ys)`` (broadcast) to the segment ``p0``–``p1``."""
    d = p1 - p0
    length2 = float(d @ d)
    t = ((xs - p0[0]) * d[0] + (ys - p0[1]) * d[1]) / length2 if length2 > 0 else 0.0
    t = np.clip(t, 0.0, 1.0)
    return (xs - p0[0] - t * d[0]) ** 2 + (ys - p0[1] - t * d[1]) ** 2


def convex_hull(points: np.ndarray) -> np.ndarray:
    """Convex hull ``(M, 2)`` float64 of ``(N, 2)`` points, in order round it (OpenCV's
    ``convexHull`` on the points as float32, returning the original float64 points;
    collinear and inner points dropped)."""
    pts = np.asarray(points, np.float64)[:, :2]
    if len(pts) < 3:
        return pts.copy()
    index = cv2.convexHull(pts.astype(np.float32), clockwise=False, returnPoints=False)
    return pts[np.asarray(index).reshape(-1)]


def polygon_mask(shape_hw: tuple[int, ...], polygon: np.ndarray) -> np.ndarray:
    """``(H, W)`` bool mask of the pixels whose centre lies inside ``polygon`` (``(N, 2)``
    x, y pixels, closed implicitly; even-odd rule: a centre exactly on a left/top edge is
    in, on a right/bottom edge out). Parts outside
    the image are clipped."""
    h, w = int(shape_hw[0]), int(shape_hw[1])
    if h <= 0 or w <= 0:
        raise ValueError(f"mask shape must be positive (H, W), is {tuple(shape_hw)}")
    poly = np.asarray(polygon, np.float64)
    if poly.ndim != 2 or poly.shape[1] != 2 or len(poly) < 3:
        raise ValueError(f"polygon must be (N >= 3, 2) points, got shape {poly.shape}")
    out = np.zeros((h, w), bool)
    if not np.isfinite(poly).all():
        raise ValueError("polygon has non-finite points")
    # only the rows/columns whose centres can be inside
    c0 = max(0, int(np.floor(poly[:, 0].min() - 0.5)))
    c1 = min(w, int(np.ceil(poly[:, 0].max() + 0.5)))
    r0 = max(0, int(np.floor(poly[:, 1].min() - 0.5)))
    r1 = min(h, int(np.ceil(poly[:, 1].max() + 0.5)))
    if c0 >= c1 or r0 >= r1:
        return out
    ys = np.arange(r0, r1, dtype=np.float64) + 0.5
    ncols = c1 - c0
    # even-odd by toggles: a crossing at x flips every pixel whose centre is at or right
    # of x (centre >= x, i.e. column >= ceil(x - c0 - 0.5)); parity of the running count
    toggles = np.zeros((r1 - r0, ncols + 1), np.int32)
    a, b = poly, np.roll(poly, -1, axis=0)
    for (ax, ay), (bx, by) in zip(a, b):
        if ay == by:
            continue  # horizontal edges never cross a horizontal ray
        lo, hi = min(ay, by), max(ay, by)
        rows = np.nonzero((ys >= lo) & (ys < hi))[0]  # half-open: a shared vertex counts once
        if not len(rows):
            continue
        x_cross = ax + (ys[rows] - ay) / (by - ay) * (bx - ax)
        start = np.clip(np.ceil(x_cross - c0 - 0.5), 0, ncols).astype(np.intp)
        np.add.at(toggles, (rows, start), 1)
    inside = (np.cumsum(toggles[:, :ncols], axis=1) & 1).astype(bool)
    out[r0:r1, c0:c1] = inside
    return out


def hand_landmark_mask(shape_hw: tuple[int, ...], landmarks: np.ndarray) -> np.ndarray:
    """Hard mask of a hand from its 21 MediaPipe landmarks (``(21, 2|3)`` pixels).

    With ``s`` = :func:`palm_scale`, a pixel is set when its centre lies

    * within ``PALM_MARGIN_PER_PALM × s`` of the convex hull of the palm points
      (:data:`HAND_PALM_POINTS`: wrist, thumb CMC and MCP, the four finger MCPs), or
    * within ``FINGER_RADIUS_PER_PALM × s`` of a finger's chain (:data:`HAND_FINGER_CHAINS`,
      base joint → tip), whose last segment is prolonged beyond the tip by
      ``TIP_EXTENSION`` × its length.

    Landmarks may lie outside the image (clipped). A degenerate hand (palm scale 0, or
    non-finite points) gives an empty mask. The forearm is not included: that is the
    wrist rule (:func:`extend_past_wrist`).
    """
    h, w = _hw(shape_hw)
    out = np.zeros((h, w), np.uint8)
    lm = _hand_points(landmarks)
    if not np.isfinite(lm).all():
        return out
    s = palm_scale(lm)
    if s <= 1e-6:
        return out
    r_finger, r_palm = FINGER_RADIUS_PER_PALM * s, PALM_MARGIN_PER_PALM * s
    segments = []
    for chain in HAND_FINGER_CHAINS:
        pts = lm[list(chain)]
        tip = pts[-1] + TIP_EXTENSION * (pts[-1] - pts[-2])
        segments += [(pts[i], pts[i + 1]) for i in range(len(pts) - 1)] + [(pts[-1], tip)]
    ends = np.array([p for seg in segments for p in seg] + list(lm[list(HAND_PALM_POINTS)]))
    reach = max(r_finger, r_palm)
    lo, hi = ends.min(axis=0) - reach, ends.max(axis=0) + reach
    x0, y0, x1, y1 = pixel_box((lo[0], lo[1], hi[0], hi[1]), (h, w))
    if x1 <= x0 or y1 <= y0:
        return out
    xs = np.arange(x0, x1, dtype=np.float64)[None, :] + 0.5
    ys = np.arange(y0, y1, dtype=np.float64)[:, None] + 0.5
    inside = np.zeros((y1 - y0, x1 - x0), bool)
    for p0, p1 in segments:
        inside |= _segment_dist2(xs, ys, p0, p1) <= r_finger * r_finger
    hull = convex_hull(lm[list(HAND_PALM_POINTS)])
    near = np.zeros_like(inside)
    for i in range(len(hull)):
        near |= _segment_dist2(xs, ys, hull[i], hull[(i + 1) % len(hull)]) <= r_palm * r_palm
    if len(hull) >= 3:  # inside: on the inner side of every edge (the hull turns one way)
        turn = np.sign(np.sum(hull[:, 0] * np.roll(hull[:, 1], -1) - np.roll(hull[:, 0], -1) * hull[:, 1]))
        poly = np.ones_like(inside)
        for i in range(len(hull)):
            a, b = hull[i], hull[(i + 1) % len(hull)]
            poly &= turn * ((b[0] - a[0]) * (ys - a[1]) - (b[1] - a[1]) * (xs - a[0])) >= 0
        near |= poly
    out[y0:y1, x0:x1] = _binary(inside | near)
    return out


def _roi_apply(mask: np.ndarray, margin: int, fn) -> np.ndarray:
    """Run ``fn`` on the mask's bbox grown by ``margin`` (clamped); zero elsewhere.

    Correct for operations whose output is zero farther than ``margin`` from the input's
    support and that treat the image edge like OpenCV does (the ROI edge inside the image
    only ever sees background, which the margin keeps inside the ROI).
    """
    bbox = mask_bbox(mask)
    out = np.zeros_like(mask)
    if bbox is None:
        return out
    h, w = mask.shape
    x0, y0 = max(bbox[0] - margin, 0), max(bbox[1] - margin, 0)
    x1, y1 = min(bbox[2] + margin, w), min(bbox[3] + margin, h)
    out[y0:y1, x0:x1] = fn(np.ascontiguousarray(mask[y0:y1, x0:x1]))
    return out


def dilate_erode(mask: np.ndarray, px: int) -> np.ndarray:
    """Grow (``px > 0``) or shrink (``px < 0``) a hard mask by ``|px|`` pixels; 0 = copy.

    The structuring element is the Euclidean disk ``{(dx, dy): dx² + dy² <= px²}`` (an
    elliptical kernel of size ``2|px|+1``), computed exactly with a distance transform, so
    cost does not grow with ``|px|``. Like ``cv2.erode``'s default, the image edge is not
    background: a mask touching the edge is not eroded from that side.
    """
    px = int(px)
    hard = _binary(mask != 0)
    if px == 0:
        return hard
    r2 = float(px) * float(px) + 0.5  # distances² are integers; 0.5 absorbs float32 error

    def grow(roi: np.ndarray) -> np.ndarray:
        dist = cv2.distanceTransform(255 - roi, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        return _binary(dist.astype(np.float64) ** 2 <= r2)

    def shrink(roi: np.ndarray) -> np.ndarray:
        dist = cv2.distanceTransform(roi, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        return _binary(dist.astype(np.float64) ** 2 > r2)

    return _roi_apply(hard, px + 1, grow) if px > 0 else _roi_apply(hard, 1, shrink)


def _capsule(shape_hw: tuple[int, int], p0: np.ndarray, p1: np.ndarray, radius: float) -> np.ndarray:
    """Hard mask of pixel centres within ``radius`` of the segment ``p0``–``p1`` (clipped)."""
    h, w = shape_hw
    out = np.zeros((h, w), np.uint8)
    lo, hi = np.minimum(p0, p1) - radius, np.maximum(p0, p1) + radius
    x0, y0, x1, y1 = pixel_box((lo[0], lo[1], hi[0], hi[1]), (h, w))
    if x1 <= x0 or y1 <= y0:
        return out
    xs = np.arange(x0, x1, dtype=np.float64)[None, :] + 0.5
    ys = np.arange(y0, y1, dtype=np.float64)[:, None] + 0.5
    d = p1 - p0
    length2 = float(d @ d)
    t = ((xs - p0[0]) * d[0] + (ys - p0[1]) * d[1]) / length2 if length2 > 0 else 0.0
    t = np.clip(t, 0.0, 1.0)
    dist2 = (xs - p0[0] - t * d[0]) ** 2 + (ys - p0[1] - t * d[1]) ** 2
    out[y0:y1, x0:x1] = _binary(dist2 <= radius * radius)
    return out


def wrist_geometry(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float] | None:
    """``(wrist, direction, hand_size, wrist_width)`` from 21 MediaPipe hand landmarks.

    * direction: unit vector from the middle-finger MCP (9) to the wrist (0), i.e. along
      the forearm, away from the fingers;
    * hand_size: ``2 × |wrist − MCP9|`` (the palm is about half the hand's length; unlike
      the landmarks' bbox this does not change when the fingers curl);
    * wrist_width: ``|thumb CMC (1) − pinky MCP (17)|``, but at least ``0.5 × |wrist − MCP9|``
      so a hand seen edge-on still gets a forearm of plausible thickness.

    ``None`` when the wrist and MCP coincide (no direction).
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.ndim != 2 or lm.shape[0] != 21 or lm.shape[1] < 2:
        raise ValueError(f"expected 21 hand landmarks of (x, y), got shape {lm.shape}")
    lm = lm[:, :2]
    wrist = lm[HAND_WRIST]
    along = wrist - lm[HAND_MIDDLE_MCP]
    palm = float(np.hypot(*along))
    if not math.isfinite(palm) or palm < 1e-6:
        return None
    span = float(np.hypot(*(lm[HAND_THUMB_CMC] - lm[HAND_PINKY_MCP])))
    width = max(span, MIN_WRIST_WIDTH_PER_PALM * palm)
    return wrist, along / palm, HAND_SIZE_PER_PALM * palm, width


def extend_past_wrist(mask: np.ndarray, landmarks: np.ndarray, fraction: float) -> np.ndarray:
    """The hand-plus-wrist rule: add a forearm stub to a hand's hard mask.

    Adds a capsule (thick segment with round ends) from the wrist landmark to
    ``wrist + fraction × hand_size × direction``, of diameter ``wrist_width`` (see
    :func:`wrist_geometry`), clipped to the image, OR-ed into ``mask``. ``fraction <= 0`` or
    a degenerate hand (wrist on MCP9) returns the mask unchanged (as a copy).
    """
    hard = _binary(mask != 0)
    geometry = wrist_geometry(landmarks)
    if fraction <= 0 or geometry is None:
        return hard
    wrist, direction, hand_size, width = geometry
    end = wrist + direction * (float(fraction) * hand_size)
    return np.maximum(hard, _capsule(hard.shape, wrist, end, width / 2.0))


def extend_box_fallback(mask: np.ndarray, box: Box, fraction: float, image_shape: tuple[int, ...]) -> np.ndarray:
    """Wrist rule without landmarks (box-only hand detectors such as YOLO).

    A box carries no forearm direction, so the box is grown by ``fraction × width`` left and
    right and ``fraction × height`` up and down, clamped to the image, and OR-ed into
    ``mask``. All sides, not just the bottom: a hanging arm has its wrist *above* the hand,
    a pointing arm beside it, so only growing everywhere is sure to reach the wrist (at the
    cost of repainting more background). ``fraction <= 0`` returns the mask unchanged.
    """
    hard = _binary(mask != 0)
    if tuple(int(v) for v in image_shape[:2]) != hard.shape:
        raise ValueError(f"mask shape {hard.shape} differs from image shape {tuple(image_shape[:2])}")
    if fraction <= 0:
        return hard
    x0, y0, x1, y1 = (float(v) for v in box)
    dx, dy = fraction * max(x1 - x0, 0.0), fraction * max(y1 - y0, 0.0)
    return np.maximum(hard, box_mask(hard.shape, (x0 - dx, y0 - dy, x1 + dx, y1 + dy)))


def feather_sigma(radius: int) -> float:
    """Gaussian sigma used by :func:`feather`: ``radius / 3`` (kernel truncated at 3σ)."""
    return radius / 3.0


def feather(mask: np.ndarray, radius: int) -> np.ndarray:
    """Soft mask: the hard mask Gaussian-blurred with a ``(2r+1)²`` kernel, σ = r/3.

    The kernel is finite, so the soft mask is exactly 0 farther than ``radius`` px
    (Chebyshev distance) from the hard mask, and exactly 255 where the hard mask's
    ``(2r+1)²`` square erosion is set; values between are rounded, so tails below 0.5
    become 0. The support therefore extends up to ``radius`` px *past* the hard mask (the
    0.5 contour sits on the hard edge). Edges use replicate: a mask touching the image
    edge stays solid there. ``radius`` 0 returns the hard mask unchanged (as a copy).
    """
    r = int(radius)
    if r < 0:
        raise ValueError(f"feather radius must be >= 0, is {radius}")
    hard = _binary(mask != 0)
    if r == 0:
        return hard

    def blur(roi: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(roi, (2 * r + 1, 2 * r + 1), feather_sigma(r), borderType=cv2.BORDER_REPLICATE)

    return _roi_apply(hard, 2 * r, blur)


def merge_masks(masks: Iterable[np.ndarray]) -> np.ndarray:
    """Pixel-wise maximum (union for hard masks) of one or more same-shape masks."""
    items = [np.asarray(m) for m in masks]
    if not items:
        raise ValueError("merge_masks needs at least one mask")
    shapes = {m.shape for m in items}
    if len(shapes) != 1:
        raise ValueError(f"masks differ in shape: {sorted(shapes)}")
    return np.maximum.reduce(items).astype(np.uint8)


def invert(mask: np.ndarray) -> np.ndarray:
    """``255 − mask`` (the complement of a hard mask; also valid for soft masks)."""
    return (255 - np.asarray(mask, dtype=np.uint8)).astype(np.uint8)


def mask_bbox(mask: np.ndarray) -> IntBox | None:
    """Integer box ``(x0, y0, x1, y1)`` (exclusive ends) of the nonzero pixels of an
    ``(H, W)`` mask; ``None`` if none. Raises ValueError for any other shape."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask_bbox needs an (H, W) mask, got shape {mask.shape}")
    rows = np.flatnonzero(np.any(mask != 0, axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(np.any(mask != 0, axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1
