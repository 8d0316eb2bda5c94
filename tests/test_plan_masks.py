"""Mask building blocks and crop windows: exact small arrays and the hand-plus-wrist rule."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from autofix.plan.crop import crop_window, cut_mask, processing_size, resize_image
from autofix.plan.masks import (
    box_mask,
    detection_mask,
    dilate_erode,
    ellipse_mask,
    extend_box_fallback,
    extend_past_wrist,
    feather,
    invert,
    mask_bbox,
    merge_masks,
    pixel_box,
    wrist_geometry,
)
from autofix.types import CropWindow, Detection
from hand_shapes import UPRIGHT as HAND


def ones(text: str) -> np.ndarray:
    """A hard mask from rows of 0/1 digits (1 → 255)."""
    rows = [[int(c) for c in line.strip()] for line in text.strip().splitlines()]
    return (np.array(rows, dtype=np.uint8) * 255).astype(np.uint8)


# --------------------------------------------------------------------------- box / ellipse


def test_box_mask_integer_box_is_exact():
    expected = ones(
        """
        00000000
        00000000
        01110000
        01110000
        01110000
        00000000
        """
    )
    got = box_mask((6, 8), (1, 2, 4, 5))
    assert got.dtype == np.uint8 and got.shape == (6, 8)
    np.testing.assert_array_equal(got, expected)


def test_box_mask_rounds_outward():
    # x 0.5..2.5 touches cols 0,1,2; y 1.2..3.0 touches rows 1,2 (3.0 is exclusive)
    expected = ones(
        """
        00000
        11100
        11100
        00000
        """
    )
    np.testing.assert_array_equal(box_mask((4, 5), (0.5, 1.2, 2.5, 3.0)), expected)


def test_box_mask_ignores_float_noise_on_integer_edges():
    a = box_mask((8, 8), (1.0000000001, 2.0, 3.9999999999, 4.0))
    np.testing.assert_array_equal(a, box_mask((8, 8), (1, 2, 4, 4)))
    assert pixel_box((1.0000000001, 2.0, 3.9999999999, 4.0), (8, 8)) == (1, 2, 4, 4)


@pytest.mark.parametrize(
    "box, expected",
    [
        ((-5, -5, 2, 3), (0, 0, 2, 3)),  # clamped top-left
        ((6, 6, 20, 20), (6, 6, 8, 8)),  # clamped bottom-right
        ((10, 10, 12, 12), (8, 8, 8, 8)),  # fully off-image → empty
        ((3, 3, 3, 5), (3, 3, 3, 5)),  # zero width → empty
        ((4, 4, 2, 2), (4, 4, 4, 4)),  # inverted → empty
    ],
)
def test_pixel_box_clamps_and_degenerates(box, expected):
    assert pixel_box(box, (8, 8)) == expected
    m = box_mask((8, 8), box)
    x0, y0, x1, y1 = expected
    assert int(m.sum() // 255) == max(x1 - x0, 0) * max(y1 - y0, 0)


def test_box_mask_rejects_nan():
    with pytest.raises(ValueError):
        box_mask((4, 4), (0, 0, float("nan"), 2))


def test_ellipse_mask_10x10_is_exact():
    expected = ones(
        """
        0001111000
        0111111110
        0111111110
        1111111111
        1111111111
        1111111111
        1111111111
        0111111110
        0111111110
        0001111000
        """
    )
    np.testing.assert_array_equal(ellipse_mask((10, 10), (0, 0, 10, 10)), expected)


def test_ellipse_mask_wide_box_is_exact():
    expected = ones(
        """
        000000000000
        000111111000
        011111111110
        011111111110
        000111111000
        000000000000
        """
    )
    np.testing.assert_array_equal(ellipse_mask((6, 12), (1, 1, 11, 5)), expected)


@pytest.mark.parametrize("box", [(0, 0, 10, 10), (1.3, 2.7, 8.2, 11.9), (-4, -3, 6, 5), (2, 2, 3, 3), (5, 5, 5, 9)])
def test_ellipse_is_inside_its_box_and_symmetric(box):
    e, b = ellipse_mask((12, 12), box), box_mask((12, 12), box)
    assert set(np.unique(e)) <= {0, 255}
    assert not np.any(e & ~b)


# --------------------------------------------------------------------------- detection_mask


def test_detection_mask_modes():
    own = np.zeros((6, 6), bool)
    own[2, 2:5] = True
    with_mask = Detection(box=(1, 1, 5, 5), score=0.9, label="object", mask=own)
    box_only = Detection(box=(1, 1, 5, 5), score=0.9, label="object")
    np.testing.assert_array_equal(detection_mask(with_mask, (6, 6), "auto"), own.astype(np.uint8) * 255)
    np.testing.assert_array_equal(detection_mask(box_only, (6, 6), "auto"), box_mask((6, 6), (1, 1, 5, 5)))
    np.testing.assert_array_equal(detection_mask(with_mask, (6, 6), "box"), box_mask((6, 6), (1, 1, 5, 5)))
    np.testing.assert_array_equal(detection_mask(with_mask, (6, 6), "ellipse"), ellipse_mask((6, 6), (1, 1, 5, 5)))


def test_detection_mask_rejects_wrong_size_mask_and_shape():
    det = Detection(box=(1, 1, 5, 5), score=0.9, label="object", mask=np.ones((5, 6), bool))
    with pytest.raises(ValueError):
        detection_mask(det, (6, 6), "auto")
    with pytest.raises(ValueError):
        detection_mask(det, (6, 6), "circle")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- dilate / erode


def test_dilate_single_pixel_gives_disk():
    m = np.zeros((7, 7), np.uint8)
    m[3, 3] = 255
    expected = ones(
        """
        0000000
        0001000
        0011100
        0111110
        0011100
        0001000
        0000000
        """
    )
    np.testing.assert_array_equal(dilate_erode(m, 2), expected)


def test_erode_block_by_one():
    m = np.zeros((9, 9), np.uint8)
    m[1:8, 1:8] = 255
    expected = np.zeros((9, 9), np.uint8)
    expected[2:7, 2:7] = 255
    np.testing.assert_array_equal(dilate_erode(m, -1), expected)


def test_erode_does_not_eat_from_the_image_edge():
    m = ones(
        """
        0011111000
        0011111000
        0011111000
        0011111000
        0000000000
        """
    )
    expected = ones(
        """
        0001110000
        0001110000
        0001110000
        0000000000
        0000000000
        """
    )
    np.testing.assert_array_equal(dilate_erode(m, -1), expected)


def test_dilate_erode_zero_is_identity_and_copy():
    m = ones("0110\n0110\n0000")
    out = dilate_erode(m, 0)
    np.testing.assert_array_equal(out, m)
    assert out is not m


def test_erode_to_empty_and_dilate_empty():
    m = np.zeros((10, 10), np.uint8)
    m[4:6, 4:6] = 255
    assert not dilate_erode(m, -1).any()
    assert not dilate_erode(np.zeros((5, 5), np.uint8), 3).any()
    assert dilate_erode(np.full((5, 5), 255, np.uint8), -2).all()


def _disk(px: int) -> np.ndarray:
    y, x = np.mgrid[-px : px + 1, -px : px + 1]
    return (x * x + y * y <= px * px).astype(np.uint8)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("px", [1, 2, 3, 5, 9, -1, -2, -4])
def test_dilate_erode_matches_opencv_with_a_disk_kernel(seed, px):
    rng = np.random.default_rng(seed)
    m = np.zeros((40, 48), np.uint8)
    for _ in range(4):
        x, y = rng.integers(0, 40, 2)
        w, h = rng.integers(3, 15, 2)
        m[y : y + h, x : x + w] = 255
    m[rng.random(m.shape) < 0.03] = 255
    op = cv2.dilate if px > 0 else cv2.erode
    np.testing.assert_array_equal(dilate_erode(m, px), op(m, _disk(abs(px))))


# --------------------------------------------------------------------------- invert / merge / bbox


def test_invert_merge_bbox_exact():
    a = ones("1100\n1100\n0000")
    b = ones("0000\n0010\n0011")
    np.testing.assert_array_equal(merge_masks([a, b]), ones("1100\n1110\n0011"))
    np.testing.assert_array_equal(invert(a), ones("0011\n0011\n1111"))
    assert mask_bbox(a) == (0, 0, 2, 2)
    assert mask_bbox(b) == (2, 1, 4, 3)
    assert mask_bbox(np.zeros((3, 4), np.uint8)) is None
    assert mask_bbox(np.full((3, 4), 7, np.uint8)) == (0, 0, 4, 3)


def test_merge_masks_errors():
    with pytest.raises(ValueError):
        merge_masks([])
    with pytest.raises(ValueError):
        merge_masks([np.zeros((2, 2), np.uint8), np.zeros((2, 3), np.uint8)])


# --------------------------------------------------------------------------- feather


def test_feather_radius_zero_is_identity():
    m = ones("0110\n0110\n0000")
    np.testing.assert_array_equal(feather(m, 0), m)


@pytest.mark.parametrize("radius", [1, 2, 3, 5, 8])
@pytest.mark.parametrize(
    "rect",
    [(10, 12, 26, 30), (0, 5, 14, 20), (20, 0, 40, 40)],  # interior, touching left, touching top+right+bottom
)
def test_feather_support_bounds(radius, rect):
    x0, y0, x1, y1 = rect
    hard = np.zeros((40, 40), np.uint8)
    hard[y0:y1, x0:x1] = 255
    hard[33, 3] = 255  # an isolated pixel too
    soft = feather(hard, radius)
    square = np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)
    grown = cv2.dilate(hard, square)
    shrunk = cv2.erode(hard, square)
    assert soft.dtype == np.uint8
    assert not soft[grown == 0].any(), "soft mask leaks past the hard mask's dilation by radius"
    assert (soft[shrunk == 255] == 255).all(), "soft mask is not solid deep inside the hard mask"
    assert soft[hard == 255].min() > 0
    if x1 < 40:  # a free right edge is a ramp, neither 0 nor 255
        assert 0 < soft[(y0 + y1) // 2, x1 - 1] < 255


def test_feather_edge_stays_solid_where_mask_touches_image_edge():
    hard = np.zeros((20, 20), np.uint8)
    hard[:, :10] = 255
    soft = feather(hard, 4)
    assert (soft[:, :6] == 255).all()
    assert (soft[:, 15:] == 0).all()
    # the 50% contour sits on the hard edge: last inside column > 127 >= first outside column
    assert soft[10, 9] >= 128 and soft[10, 10] <= 127


def test_feather_on_whole_image_roi_matches_full_blur():
    rng = np.random.default_rng(3)
    hard = np.where(rng.random((30, 30)) < 0.2, 255, 0).astype(np.uint8)
    full = cv2.GaussianBlur(hard, (11, 11), 5 / 3, borderType=cv2.BORDER_REPLICATE)
    np.testing.assert_array_equal(feather(hard, 5), full)


# --------------------------------------------------------------------------- the wrist rule

#: The stylised right hand (fingers up, wrist at the origin, palm length 32), as float32.
UPRIGHT = HAND.astype(np.float32)


def _hand(rotation_deg: float, origin: tuple[float, float]) -> np.ndarray:
    t = math.radians(rotation_deg)
    rot = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]], dtype=np.float64)
    return (UPRIGHT.astype(np.float64) @ rot.T + np.array(origin)).astype(np.float32)


def _landmark_box(lm: np.ndarray) -> tuple[float, float, float, float]:
    return float(lm[:, 0].min()), float(lm[:, 1].min()), float(lm[:, 0].max()), float(lm[:, 1].max())


def test_wrist_geometry_of_the_upright_hand():
    wrist, direction, hand_size, width = wrist_geometry(UPRIGHT)
    np.testing.assert_allclose(wrist, (0, 0))
    np.testing.assert_allclose(direction, (0, 1))  # forearm points down, away from the fingers
    assert hand_size == pytest.approx(64)
    assert width == pytest.approx(math.hypot(28, 20))  # thumb CMC ↔ pinky MCP


def test_wrist_rule_upright_hand_grows_below_the_wrist_only():
    lm = _hand(0, (60, 90))  # wrist at (60, 90), middle fingertip at y = 26
    hand = box_mask((160, 120), _landmark_box(lm))
    out = extend_past_wrist(hand, lm, 0.5)  # 0.5 × 64 = 32 px past the wrist, radius ≈ 17.2
    added = (out > 0) & (hand == 0)
    ys, xs = np.nonzero(added)
    assert ys.size > 0
    assert ys.min() >= 90 - 18, "nothing is added towards the fingers beyond the wrist cap"
    assert not out[: int(lm[:, 1].min())].any(), "nothing above the fingertips"
    assert 136 <= ys.max() <= 139  # 90 + 32 + 17.2
    assert abs(xs.mean() - 60) < 1.0  # centred on the forearm axis
    assert 42 <= xs.min() and xs.max() <= 77
    assert (out[hand > 0] == 255).all()


def test_wrist_rule_rotated_hand_grows_sideways():
    lm = _hand(90, (70, 60))  # fingers point to +x, forearm to -x
    np.testing.assert_allclose(lm[12], (134, 60), atol=1e-4)
    hand = box_mask((120, 160), _landmark_box(lm))
    out = extend_past_wrist(hand, lm, 0.5)
    added = (out > 0) & (hand == 0)
    ys, xs = np.nonzero(added)
    assert xs.size > 0
    assert xs.max() <= 70 + 18, "nothing is added towards the fingers beyond the wrist cap"
    assert 20 <= xs.min() <= 21  # 70 - 32 - 17.2
    assert 42 <= ys.min() and ys.max() <= 77
    assert abs(ys.mean() - 60) < 1.0
    assert not out[:, int(lm[:, 0].max()) + 1 :].any(), "nothing beyond the fingertips"


def test_wrist_rule_is_clipped_to_the_image_and_keeps_the_hand():
    lm = _hand(0, (30, 60))  # wrist 4 px above the bottom edge
    hand = box_mask((64, 60), _landmark_box(lm))
    out = extend_past_wrist(hand, lm, 1.0)
    assert out.shape == (64, 60) and set(np.unique(out)) <= {0, 255}
    assert out[63, 30] == 255
    assert (out[hand > 0] == 255).all()


def test_wrist_rule_identity_cases_and_errors():
    lm = _hand(0, (60, 90))
    hand = box_mask((160, 120), _landmark_box(lm))
    np.testing.assert_array_equal(extend_past_wrist(hand, lm, 0.0), hand)
    flat = lm.copy()
    flat[9] = flat[0]  # wrist on the middle MCP: no direction
    np.testing.assert_array_equal(extend_past_wrist(hand, flat, 0.5), hand)
    with pytest.raises(ValueError):
        extend_past_wrist(hand, lm[:20], 0.5)
    with_z = np.concatenate([lm, np.zeros((21, 1), np.float32)], axis=1)  # MediaPipe (x, y, z)
    np.testing.assert_array_equal(extend_past_wrist(hand, with_z, 0.5), extend_past_wrist(hand, lm, 0.5))


def test_wrist_width_has_a_floor_for_edge_on_hands():
    lm = UPRIGHT.copy()
    lm[1] = lm[17] = (0, -20)  # thumb CMC and pinky MCP project onto each other
    assert wrist_geometry(lm)[3] == pytest.approx(16)  # 0.5 × palm length 32


def test_box_fallback_grows_all_sides_exact():
    hand = box_mask((12, 12), (4, 4, 8, 8))
    expected = np.zeros((12, 12), np.uint8)
    expected[3:9, 3:9] = 255  # 0.25 × 4 px = 1 px on every side
    np.testing.assert_array_equal(extend_box_fallback(hand, (4, 4, 8, 8), 0.25, (12, 12)), expected)


def test_box_fallback_is_per_axis_and_clamped():
    hand = box_mask((12, 12), (1, 6, 9, 10))  # 8 wide, 4 tall
    out = extend_box_fallback(hand, (1, 6, 9, 10), 0.5, (12, 12))
    expected = np.zeros((12, 12), np.uint8)
    expected[4:12, 0:12] = 255  # x: 1-4..9+4 → clamped 0..12; y: 6-2..10+2 → 4..12
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(extend_box_fallback(hand, (1, 6, 9, 10), 0.0, (12, 12)), hand)
    with pytest.raises(ValueError):
        extend_box_fallback(hand, (1, 6, 9, 10), 0.5, (12, 13))


# --------------------------------------------------------------------------- crop windows


def test_crop_window_pads_interior_box():
    win = crop_window((100, 100, 164, 164), (1000, 800), 32, 512)
    assert win == CropWindow(box=(68, 68, 196, 196), size=(512, 512))


@pytest.mark.parametrize(
    "support, expected_box",
    [
        ((5, 300, 60, 360), (0, 268, 92, 392)),  # left edge
        ((300, 10, 360, 60), (268, 0, 392, 92)),  # top edge
        ((950, 300, 995, 360), (918, 268, 1000, 392)),  # right edge (W = 1000)
        ((300, 760, 360, 800), (268, 728, 392, 800)),  # bottom edge (H = 800)
        ((0, 0, 1000, 800), (0, 0, 1000, 800)),  # whole image
    ],
)
def test_crop_window_clamps_at_each_edge(support, expected_box):
    win = crop_window(support, (1000, 800), 32, 512)
    assert win.box == expected_box


def test_crop_window_tall_crop_keeps_aspect():
    assert processing_size(100, 200, 512) == (360, 728)
    assert crop_window((10, 10, 110, 210), (500, 500), 0, 512).size == (360, 728)


@pytest.mark.parametrize("w", [17, 64, 100, 333, 512, 1000, 2999])
@pytest.mark.parametrize("h", [23, 64, 150, 512, 777])
@pytest.mark.parametrize("res", [256, 512, 1024])
def test_processing_size_invariants(w, h, res):
    tw, th = processing_size(w, h, res)
    assert tw % 8 == 0 and th % 8 == 0
    assert tw >= 64 and th >= 64
    if min(tw, th) > 64:
        # aspect kept within rounding (±4 px on each side), area close to res²
        assert abs(tw / th - w / h) <= (w / h) * (4 / tw + 4 / th) * 1.01
        assert abs(tw * th - res * res) <= 4 * (tw + th) + 16


def test_processing_size_extreme_aspect():
    assert processing_size(10, 2000, 512) == (64, 4096)
    assert processing_size(2000, 10, 512) == (4096, 64)
    assert processing_size(1, 1, 64) == (64, 64)
    assert processing_size(1, 2, 64) == (64, 64)


def test_crop_window_errors():
    with pytest.raises(ValueError):
        crop_window((2000, 2000, 2100, 2100), (1000, 800), 0, 512)
    with pytest.raises(ValueError):
        crop_window((5, 5, 5, 9), (1000, 800), 0, 512)
    with pytest.raises(ValueError):
        processing_size(10, 10, 32)


def test_resize_helpers():
    hard = np.zeros((20, 30), np.uint8)
    hard[5:15, 10:20] = 255
    up = cut_mask(hard, CropWindow((0, 0, 30, 20), (60, 40)))
    assert up.shape == (40, 60) and set(np.unique(up)) <= {0, 255}
    assert mask_bbox(up) == (20, 10, 40, 30)
    down = cut_mask(hard, CropWindow((0, 0, 30, 20), (15, 10)))
    assert mask_bbox(down) == (5, 3, 10, 8) or mask_bbox(down) == (5, 2, 10, 8)
    soft = resize_image(hard, (15, 10))
    assert soft.dtype == np.uint8
    img = np.full((20, 30, 3), 77, np.uint8)
    assert resize_image(img, (64, 48)).shape == (48, 64, 3)
    assert (resize_image(img, (8, 8)) == 77).all()
    win = CropWindow(box=(10, 5, 20, 15), size=(64, 64))
    assert cut_mask(hard, win).all()
    with pytest.raises(ValueError):
        resize_image(img, (0, 5))
