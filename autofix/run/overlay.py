"""Plan overlays: the regions a stage planned, drawn over its input image."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..types import PlannedRegion

_MASK_RGB = np.array([255, 40, 40], dtype=np.float32)


def tint(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``image`` (``(H, W, 3)`` uint8 RGB) tinted red in proportion to ``mask`` (``(H, W)`` uint8)."""
    a = (mask.astype(np.float32) / 255.0 * 0.55)[:, :, None]
    return np.clip(image * (1 - a) + _MASK_RGB * a + 0.5, 0, 255).astype(np.uint8)


def draw_plan(image: np.ndarray, regions: Sequence[PlannedRegion], notes: Sequence[str] = ()) -> np.ndarray:
    """Return a copy of ``image`` (``(H, W, 3)`` uint8 RGB) with the regions' soft masks
    tinted red, detection boxes green, crop boxes yellow, and ``label score`` text."""
    import cv2

    union = np.max([r.soft_mask for r in regions], axis=0) if regions else np.zeros(image.shape[:2], np.uint8)
    out = tint(image, union)
    thick = max(1, round(max(image.shape[:2]) / 400))
    for region in regions:
        x0, y0, x1, y1 = (int(round(v)) for v in region.box)
        cv2.rectangle(out, (x0, y0), (x1 - 1, y1 - 1), (40, 220, 40), thick)
        cx0, cy0, cx1, cy1 = region.crop.box
        cv2.rectangle(out, (cx0, cy0), (cx1 - 1, cy1 - 1), (250, 210, 0), thick)
        text = f"{region.index}:{region.label} {region.score:.2f}"
        _label(out, text, (x0, max(12 * thick, y0 - 4)), thick)
    for i, note in enumerate(notes):
        _label(out, note, (4, 16 * thick * (i + 1)), thick)
    return out


def _label(img: np.ndarray, text: str, org: tuple[int, int], thick: int) -> None:
    import cv2

    scale = 0.45 * thick
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thick + 2, cv2.LINE_AA)
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thick, cv2.LINE_AA)
