"""Only-masked crop windows and the resize helpers that go with them.

A crop window (:class:`~autofix.types.CropWindow`) is an integer box in the input image,
``(x0, y0, x1, y1)`` with exclusive ends, plus the ``(width, height)`` the crop is
processed at. Sizes are always ``(width, height)``; array shapes are ``(H, W[, 3])``.
"""

from __future__ import annotations

import math
from typing import Literal

import cv2
import numpy as np

from ..types import CropWindow, IntBox

#: Smallest processing side, in pixels.
MIN_SIDE = 64
#: Processing sides are multiples of this.
MULTIPLE = 8

ResizeKind = Literal["image", "hard", "soft"]


def _round8(value: float) -> int:
    """Nearest multiple of 8, halves rounded up, at least 8."""
    return max(MULTIPLE, int(math.floor(value / MULTIPLE + 0.5)) * MULTIPLE)


def processing_size(width: int, height: int, resolution: int) -> tuple[int, int]:
    """``(w, h)`` to process a ``width × height`` crop at: aspect kept, area ≈ ``resolution²``.

    The crop is scaled by ``resolution / sqrt(width × height)`` and each side rounded to the
    nearest multiple of 8 (halves up), so 512 gives 512×512 for a square crop and 360×728
    for a 1:2 one; the aspect ratio is kept within that rounding (±4 px per side). When the
    short side would come out below 64 (aspect beyond ~64:1 at 512), it is set to 64 and the
    long side to ``resolution² / 64`` rounded to 8: the area budget (what the inpainter's
    memory scales with) wins over the aspect ratio for such slivers.
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"crop must be non-empty, is {width}×{height}")
    if resolution < MIN_SIDE:
        raise ValueError(f"resolution must be >= {MIN_SIDE}, is {resolution}")
    scale = resolution / math.sqrt(float(width) * float(height))
    tw, th = _round8(width * scale), _round8(height * scale)
    if min(tw, th) < MIN_SIDE:
        long_side = max(MIN_SIDE, _round8(resolution * resolution / MIN_SIDE))
        tw, th = (MIN_SIDE, long_side) if width < height else (long_side, MIN_SIDE)
    return tw, th


def crop_window(support_box: IntBox, image_size_wh: tuple[int, int], padding: int, resolution: int) -> CropWindow:
    """Crop around ``support_box``: grown by ``padding`` px per side, clamped to the image.

    ``support_box`` is an integer box with exclusive ends (e.g. :func:`masks.mask_bbox` of the
    soft mask); ``image_size_wh`` is ``(W, H)``. Clamping simply cuts at the image edge (the
    window is not shifted inwards), so a box at an edge gets less context on that side.
    The processing size is :func:`processing_size` of the clamped crop.
    """
    width, height = int(image_size_wh[0]), int(image_size_wh[1])
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, is {image_size_wh}")
    if padding < 0:
        raise ValueError(f"padding must be >= 0, is {padding}")
    bx0, by0, bx1, by1 = (int(v) for v in support_box)
    x0, y0 = min(max(bx0 - padding, 0), width), min(max(by0 - padding, 0), height)
    x1, y1 = max(min(bx1 + padding, width), 0), max(min(by1 + padding, height), 0)
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"support box {support_box} does not overlap the {width}×{height} image")
    return CropWindow(box=(x0, y0, x1, y1), size=processing_size(x1 - x0, y1 - y0, resolution))


def resize_to(array: np.ndarray, size_wh: tuple[int, int], kind: ResizeKind = "image") -> np.ndarray:
    """Resize an image or mask to ``(width, height)``.

    Shrinking (both sides no larger) uses ``INTER_AREA``; otherwise ``image`` uses
    ``INTER_CUBIC`` and masks ``INTER_LINEAR``. ``hard`` masks are re-binarised afterwards
    (``>= 128`` → 255, else 0), which keeps edges straighter than nearest-neighbour;
    ``soft`` masks are left continuous. Same size returns a copy.
    """
    tw, th = int(size_wh[0]), int(size_wh[1])
    if tw <= 0 or th <= 0:
        raise ValueError(f"target size must be positive, is {size_wh}")
    if kind not in ("image", "hard", "soft"):
        raise ValueError(f"resize kind must be image, hard or soft, is {kind!r}")
    h, w = array.shape[:2]
    if (w, h) == (tw, th):
        out = array.copy()
    else:
        shrink = tw <= w and th <= h
        up = cv2.INTER_CUBIC if kind == "image" else cv2.INTER_LINEAR
        out = cv2.resize(np.ascontiguousarray(array), (tw, th), interpolation=cv2.INTER_AREA if shrink else up)
    if kind == "hard":
        out = np.where(out >= 128, np.uint8(255), np.uint8(0))
    return out


def cut(array: np.ndarray, window: CropWindow, kind: ResizeKind = "image") -> np.ndarray:
    """The window's box cut out of ``array`` (image or mask) and resized to ``window.size``."""
    x0, y0, x1, y1 = window.box
    return resize_to(array[y0:y1, x0:x1], window.size, kind)
