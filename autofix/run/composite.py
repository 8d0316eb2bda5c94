"""Cutting only-masked crops out and pasting results back through the feathered mask.

The paste is integer arithmetic on uint8: ``out = (base·(255−a) + new·a + 127) // 255``
with ``a`` the soft mask. Where ``a == 0`` this is exactly ``base`` and where
``a == 255`` exactly ``new``, so every pixel outside the final mask stays
byte-identical to the stage's input.
"""

from __future__ import annotations

import numpy as np

from ..plan.crop import cut, cut_mask, resize_image
from ..types import CropWindow


def cut_crop(image: np.ndarray, hard_mask: np.ndarray, crop: CropWindow) -> tuple[np.ndarray, np.ndarray]:
    """Cut ``crop.box`` out of ``image`` and its hard mask and resize both to ``crop.size``
    (:func:`~autofix.plan.crop.cut`, :func:`~autofix.plan.crop.cut_mask`).

    Returns ``(rgb, mask)``: ``(h, w, 3)`` uint8 and ``(h, w)`` uint8 0/255, where
    ``(w, h) == crop.size``.
    """
    return np.ascontiguousarray(cut(image, crop)), cut_mask(hard_mask, crop)


def blend_window(base: np.ndarray, new_crop: np.ndarray, soft_mask: np.ndarray, crop: CropWindow) -> np.ndarray:
    """What :func:`paste_crop` would put inside ``crop.box``, as a ``(h, w, 3)`` uint8 array of
    the box's own size (no full-image copy: used to score best-of-N candidates)."""
    x0, y0, x1, y1 = crop.box
    back = resize_image(new_crop, (x1 - x0, y1 - y0)).astype(np.uint32)
    a = soft_mask[y0:y1, x0:x1].astype(np.uint32)[:, :, None]
    region = base[y0:y1, x0:x1].astype(np.uint32)
    return ((region * (255 - a) + back * a + 127) // 255).astype(np.uint8)


def paste_crop(base: np.ndarray, new_crop: np.ndarray, soft_mask: np.ndarray, crop: CropWindow) -> np.ndarray:
    """Blend ``new_crop`` (at ``crop.size``) back into a copy of ``base`` through ``soft_mask``.

    Args:
        base: ``(H, W, 3)`` uint8 image the crop was cut from.
        new_crop: ``(h, w, 3)`` uint8, ``(w, h) == crop.size``.
        soft_mask: ``(H, W)`` uint8 0–255 weight of ``new_crop``; must be 0 outside ``crop.box``.
    Returns:
        A new ``(H, W, 3)`` uint8 image; equal to ``base`` wherever ``soft_mask == 0``.
    """
    out = base.copy()
    paste_crop_into(out, new_crop, soft_mask, crop)
    return out


def paste_crop_into(image: np.ndarray, new_crop: np.ndarray, soft_mask: np.ndarray, crop: CropWindow) -> None:
    """:func:`paste_crop` in place: only ``crop.box`` of ``image`` is written."""
    x0, y0, x1, y1 = crop.box
    if soft_mask[:y0].any() or soft_mask[y1:].any() or soft_mask[:, :x0].any() or soft_mask[:, x1:].any():
        raise ValueError(f"soft mask extends outside the crop box {crop.box}")
    image[y0:y1, x0:x1] = blend_window(image, new_crop, soft_mask, crop)
