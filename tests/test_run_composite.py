"""Exact-array tests of crop cutting and soft-mask pasting."""

from __future__ import annotations

import numpy as np
import pytest

from autofix.run.composite import cut_crop, paste_crop
from autofix.types import CropWindow


def test_paste_is_exact_at_0_and_255_and_blends_between():
    base = np.full((4, 6, 3), 10, np.uint8)
    new = np.full((4, 6, 3), 210, np.uint8)
    soft = np.array([[0, 0, 0, 0, 0, 0],
                     [0, 255, 128, 0, 0, 0],
                     [0, 255, 255, 64, 0, 0],
                     [0, 0, 0, 0, 0, 0]], np.uint8)
    out = paste_crop(base, new, soft, CropWindow((0, 0, 6, 4), (6, 4)))
    expect = np.array([[10, 10, 10, 10, 10, 10],
                       [10, 210, 110, 10, 10, 10],
                       [10, 210, 210, 60, 10, 10],
                       [10, 10, 10, 10, 10, 10]], np.uint8)
    assert np.array_equal(out[:, :, 0], expect)
    assert np.array_equal(out[:, :, 0], out[:, :, 2])


def test_paste_leaves_zero_weight_pixels_byte_identical_with_resize():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    soft = np.zeros((40, 50), np.uint8)
    soft[12:20, 15:30] = rng.integers(0, 256, (8, 15), dtype=np.uint8)
    crop = CropWindow((10, 8, 34, 24), (64, 40))  # processed at a different size
    new = rng.integers(0, 256, (40, 64, 3), dtype=np.uint8)
    out = paste_crop(base, new, soft, crop)
    assert np.array_equal(out[soft == 0], base[soft == 0])
    assert not np.array_equal(out[soft == 255], base[soft == 255]) or not (soft == 255).any()


def test_paste_refuses_mask_outside_crop():
    base = np.zeros((10, 10, 3), np.uint8)
    soft = np.zeros((10, 10), np.uint8)
    soft[0, 0] = 1
    with pytest.raises(ValueError, match="outside the crop box"):
        paste_crop(base, base[2:8, 2:8], soft, CropWindow((2, 2, 8, 8), (6, 6)))


def test_cut_crop_resizes_and_rebinarises_mask():
    img = np.arange(8 * 8 * 3, dtype=np.uint8).reshape(8, 8, 3)
    mask = np.zeros((8, 8), np.uint8)
    mask[2:6, 2:6] = 255
    rgb, m = cut_crop(img, mask, CropWindow((0, 0, 8, 8), (16, 16)))
    assert rgb.shape == (16, 16, 3) and m.shape == (16, 16)
    assert set(np.unique(m)) == {0, 255}
    assert m[4:12, 4:12].all() and not m[:4].any()
    rgb1, m1 = cut_crop(img, mask, CropWindow((2, 2, 6, 6), (4, 4)))
    assert np.array_equal(rgb1, img[2:6, 2:6]) and m1.all()


def test_small_masks_survive_a_shrinking_crop():
    mask = np.zeros((600, 600), np.uint8)
    mask[0:3, 0:3] = 255
    mask[597:600, 597:600] = 255
    _, m = cut_crop(np.zeros((600, 600, 3), np.uint8), mask, CropWindow((0, 0, 600, 600), (64, 64)))
    assert m[0, 0] == 255 and m[63, 63] == 255


def test_blend_window_equals_the_pasted_box():
    from autofix.run.composite import blend_window

    rng = np.random.default_rng(2)
    base = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    soft = np.zeros((30, 40), np.uint8)
    soft[10:20, 12:30] = rng.integers(0, 256, (10, 18), dtype=np.uint8)
    crop = CropWindow((8, 6, 34, 24), (32, 24))
    new = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    assert np.array_equal(blend_window(base, new, soft, crop), paste_crop(base, new, soft, crop)[6:24, 8:34])
