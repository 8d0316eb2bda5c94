"""Classical box/click → mask refinement with OpenCV GrabCut (no model file needed).

Same call shape as :class:`autofix.detect.sam.SamRefiner`: ``refine(image, box, points,
labels) -> (mask (H, W) bool, score)``.

How the seeds are laid out (all in a crop around the prompt, downscaled so its long side
is at most ``max_side`` px, because GrabCut at full size takes seconds):

* inside the box: *probable foreground*;
* between the box and the box grown by ``margin`` × its size: *probable background*, so
  the mask may grow past a tight box (hair, fingers) but not beyond that margin;
* a 2 px ring at the crop's edge, where the crop is not at the image border: *background*;
* clicks: discs of *foreground* (label 1) or *background* (label 0).

Without a box, the crop is the positive clicks' bounding box grown by
``point_context`` × the image's longer side, all of it probable background except a
*probable foreground* disc around each positive click (:data:`_CLICK_REACH` of the crop) and
the clicked discs themselves. The result is upscaled back to the crop and pasted into a full-size mask;
components smaller than 10 % of the largest are dropped unless a positive click is in
them. If a box-only prompt comes out (nearly) empty — it happens on low-contrast or grey
photos, e.g. the face in scikit-image's ``camera`` — GrabCut is run once more with a
central ellipse (``core`` × the box's width/height as semi-axes) marked as definite
foreground; if that is empty too, the empty mask is returned. OpenCV's RNG is reseeded
before each call, so results are deterministic. The score is 1.0 for a non-empty mask
and 0.0 for an empty one (GrabCut has no confidence).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..types import Box
from .base import check_image
from .sam import margin_box

_RING = 2
_MIN_SAMPLES = 5  # OpenCV GrabCut's GMM components per side (k-means needs as many samples)


class GrabCutRefiner:
    """GrabCut refinement; see the module docstring for the seeding.

    Args:
        margin: how far the mask may grow past the box (fraction of box width/height).
        max_side: long side of the downscaled crop GrabCut runs on.
        iterations: GrabCut iterations.
        point_context: crop padding for point-only prompts, fraction of the image's long side.
        core: semi-axes of the central foreground ellipse of the retry, fraction of the box.
        seed: OpenCV RNG seed (GrabCut's k-means initialisation).
    """

    name = "grabcut"

    def __init__(
        self,
        margin: float = 0.25,
        max_side: int = 512,
        iterations: int = 5,
        point_context: float = 0.15,
        core: float = 0.3,
        seed: int = 0,
    ) -> None:
        if margin < 0 or max_side < 16 or iterations < 1 or point_context <= 0:
            raise ValueError("GrabCut needs margin >= 0, max_side >= 16, iterations >= 1, point_context > 0")
        self.margin, self.max_side, self.iterations = float(margin), int(max_side), int(iterations)
        self.point_context, self.core, self.seed = float(point_context), float(core), int(seed)

    def refine(
        self,
        image: np.ndarray,
        box: Box | None = None,
        points: Sequence[Sequence[float]] | None = None,
        labels: Sequence[int] | None = None,
    ) -> tuple[np.ndarray, float]:
        """Mask of the object at ``box`` and/or ``points`` (labels 1 = object, 0 = not)."""
        image = check_image(image)
        height, width = image.shape[:2]
        pts = _points(points, labels)
        if box is None and not any(lab == 1 for _, _, lab in pts):
            raise ValueError("GrabCut needs a box or at least one positive point")
        roi = self._roi(box, pts, width, height)
        crop_mask = self._grabcut(image, roi, box, pts, 0.0)
        if box is not None and not pts and _fill(crop_mask, roi, box) < 0.05:
            crop_mask = self._grabcut(image, roi, box, pts, self.core)
        full = np.zeros((height, width), dtype=bool)
        x0, y0, x1, y1 = roi
        full[y0:y1, x0:x1] = crop_mask
        full = _drop_specks(full, pts)
        return full, 1.0 if full.any() else 0.0

    def _roi(self, box: Box | None, pts: list[tuple[float, float, int]], width: int, height: int) -> tuple[int, ...]:
        if box is not None:
            return margin_box(box, self.margin, width, height)
        pos = np.array([(x, y) for x, y, lab in pts if lab == 1], dtype=np.float64)
        pad = max(16.0, self.point_context * max(width, height))
        (px0, py0), (px1, py1) = pos.min(axis=0), pos.max(axis=0)
        return margin_box((px0 - pad, py0 - pad, px1 + pad + 1, py1 + pad + 1), 0.0, width, height)

    def _grabcut(
        self, image: np.ndarray, roi: tuple[int, ...], box: Box | None, pts: list[tuple[float, float, int]], core: float
    ) -> np.ndarray:
        import cv2

        x0, y0, x1, y1 = roi
        crop = np.ascontiguousarray(image[y0:y1, x0:x1])
        scale = min(1.0, self.max_side / max(crop.shape[:2]))
        small = crop if scale == 1.0 else cv2.resize(crop, _scaled(crop.shape, scale), interpolation=cv2.INTER_AREA)
        seeds = _seeds(small.shape[:2], roi, box, pts, scale, image.shape[:2])
        if core > 0 and box is not None:
            _core_ellipse(seeds, roi, box, scale, core)
        fg_seeds = int(np.isin(seeds, (cv2.GC_FGD, cv2.GC_PR_FGD)).sum())
        if min(fg_seeds, seeds.size - fg_seeds) < _MIN_SAMPLES:
            # GrabCut fits 5-component colour models to each side; with fewer samples on
            # either (a box of a pixel or two) OpenCV asserts. No mask: the box is used.
            return np.zeros(crop.shape[:2], bool)
        bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
        cv2.setRNGSeed(self.seed)
        cv2.grabCut(small, seeds, None, bgd, fgd, self.iterations, cv2.GC_INIT_WITH_MASK)
        fg = np.isin(seeds, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.uint8) * 255
        if scale != 1.0:
            fg = cv2.resize(fg, (crop.shape[1], crop.shape[0]), interpolation=cv2.INTER_LINEAR)
        return fg > 127


def _fill(crop_mask: np.ndarray, roi: tuple[int, ...], box: Box) -> float:
    """Fraction of ``box`` covered by the crop's mask."""
    x0, y0 = roi[0], roi[1]
    bx0, by0, bx1, by1 = (int(round(v)) for v in (box[0] - x0, box[1] - y0, box[2] - x0, box[3] - y0))
    inside = crop_mask[max(0, by0) : by1, max(0, bx0) : bx1]
    return float(inside.sum()) / max(1, (bx1 - bx0) * (by1 - by0))


def _core_ellipse(seeds: np.ndarray, roi: tuple[int, ...], box: Box, scale: float, core: float) -> None:
    import cv2

    cx = ((box[0] + box[2]) / 2 - roi[0]) * scale
    cy = ((box[1] + box[3]) / 2 - roi[1]) * scale
    axes = (max(1, int(core * (box[2] - box[0]) * scale)), max(1, int(core * (box[3] - box[1]) * scale)))
    cv2.ellipse(seeds, (int(cx), int(cy)), axes, 0, 0, 360, int(cv2.GC_FGD), -1)


def _scaled(shape: tuple[int, ...], scale: float) -> tuple[int, int]:
    return max(1, round(shape[1] * scale)), max(1, round(shape[0] * scale))


def _points(points: Sequence[Sequence[float]] | None, labels: Sequence[int] | None) -> list[tuple[float, float, int]]:
    if not points:
        return []
    labs = list(labels) if labels is not None else [1] * len(points)
    if len(labs) != len(points):
        raise ValueError(f"got {len(points)} points but {len(labs)} labels")
    return [(float(p[0]), float(p[1]), int(lab)) for p, lab in zip(points, labs, strict=True)]


#: Clicks without a box: a disc of this fraction of the crop's long side around each positive
#: click is *probable foreground* (without it GrabCut keeps only the clicked disc itself).
_CLICK_REACH = 0.05


def _seeds(
    shape: tuple[int, int],
    roi: tuple[int, ...],
    box: Box | None,
    pts: list[tuple[float, float, int]],
    scale: float,
    image_shape: tuple[int, ...],
) -> np.ndarray:
    """The GrabCut seed mask for the downscaled crop (see the module docstring)."""
    import cv2

    h, w = shape
    x0, y0, x1, y1 = roi
    seeds = np.full((h, w), cv2.GC_PR_BGD, dtype=np.uint8)
    _edge_ring(seeds, roi, image_shape)
    if box is not None:
        bx0, by0 = int(np.floor((box[0] - x0) * scale)), int(np.floor((box[1] - y0) * scale))
        bx1, by1 = max(bx0 + 1, int(np.ceil((box[2] - x0) * scale))), max(by0 + 1, int(np.ceil((box[3] - y0) * scale)))
        seeds[max(0, by0) : by1, max(0, bx0) : bx1] = cv2.GC_PR_FGD
    radius = max(2, round(0.015 * max(h, w)))
    if box is None:  # clicks alone: the object is probably around the click, so GrabCut can grow it there
        for x, y, lab in pts:
            if lab == 1:
                centre = (int(round((x - x0) * scale)), int(round((y - y0) * scale)))
                cv2.circle(seeds, centre, max(3 * radius, round(_CLICK_REACH * max(h, w))), int(cv2.GC_PR_FGD), -1)
    for x, y, lab in pts:
        centre = (int(round((x - x0) * scale)), int(round((y - y0) * scale)))
        cv2.circle(seeds, centre, radius, int(cv2.GC_FGD if lab == 1 else cv2.GC_BGD), -1)
    if not np.isin(seeds, (cv2.GC_BGD, cv2.GC_PR_BGD)).any():
        seeds[[0, -1], :] = cv2.GC_PR_BGD
        seeds[:, [0, -1]] = cv2.GC_PR_BGD
    return seeds


def _edge_ring(seeds: np.ndarray, roi: tuple[int, ...], image_shape: tuple[int, ...]) -> None:
    """Mark definite background along crop sides that are inside the image (not at its border)."""
    import cv2

    x0, y0, x1, y1 = roi
    height, width = image_shape[:2]
    if y0 > 0:
        seeds[:_RING, :] = cv2.GC_BGD
    if y1 < height:
        seeds[-_RING:, :] = cv2.GC_BGD
    if x0 > 0:
        seeds[:, :_RING] = cv2.GC_BGD
    if x1 < width:
        seeds[:, -_RING:] = cv2.GC_BGD


def _drop_specks(mask: np.ndarray, pts: list[tuple[float, float, int]]) -> np.ndarray:
    """Keep components ≥ 10 % of the largest one, or holding a positive click."""
    import cv2

    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count <= 2:
        return mask
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = set((np.flatnonzero(areas >= 0.1 * areas.max()) + 1).tolist())
    h, w = mask.shape
    for x, y, lab in pts:
        xi, yi = int(x), int(y)
        if lab == 1 and 0 <= xi < w and 0 <= yi < h and labels[yi, xi] > 0:
            keep.add(int(labels[yi, xi]))
    return np.isin(labels, sorted(keep))
