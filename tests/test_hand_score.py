"""Hand plausibility for best-of-N: distorted skeletons score low, and on real photos the
never-worse guard's score (presence × plausibility) ranks a real hand above warped,
extra-finger and smeared copies of it."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from autofix.detect.hand_score import (
    BONE_RATIOS,
    FINGERS,
    angle_factor,
    bone_factor,
    chain_factor,
    hand_plausibility,
    palm_factor,
    palm_scale,
)
from hand_shapes import UPRIGHT as HAND
from hand_shapes import found_certain_hands

#: The stylised hand of hand_shapes, moved into positive pixels.
UPRIGHT = HAND + (100, 100)


def _rotate_about(pts: np.ndarray, centre: np.ndarray, degrees: float) -> np.ndarray:
    t = math.radians(degrees)
    rot = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    return (pts - centre) @ rot.T + centre


# ----------------------------------------------------------------------- skeleton distortions


def stretched(lm: np.ndarray, finger: int = 2, factor: float = 2.2) -> np.ndarray:
    """The finger's middle phalanx made ``factor`` × its anatomical length (a projection
    can only shorten it); the tip segment moves with it."""
    out = lm.copy()
    _, pip, dip, tip = FINGERS[finger]
    bone = lm[dip] - lm[pip]
    target = factor * BONE_RATIOS[finger][1] * palm_scale(lm)
    out[[dip, tip]] += bone * (target / np.hypot(*bone) - 1.0)
    return out


def zigzag(lm: np.ndarray, finger: int = 1, degrees: float = 70.0) -> np.ndarray:
    """PIP bent one way, DIP the other, both by ``degrees``."""
    out = lm.copy()
    _, pip, dip, tip = FINGERS[finger]
    out[[dip, tip]] = _rotate_about(out[[dip, tip]], out[pip], degrees)
    out[tip] = _rotate_about(out[[tip]], out[dip], -2 * degrees)[0]
    return out


def doubled(lm: np.ndarray) -> np.ndarray:
    """The ring finger drawn on top of the middle finger (one finger twice, one missing)."""
    out = lm.copy()
    out[14:17] = lm[10:13] + (0.5, 0.5)
    return out


def crossed(lm: np.ndarray) -> np.ndarray:
    """Index and ring fingertips swapped: their chains cross the middle finger's line."""
    out = lm.copy()
    out[[7, 8, 15, 16]] = lm[[15, 16, 7, 8]]
    return out


def thumb_on_pinky_side(lm: np.ndarray) -> np.ndarray:
    """The thumb mirrored across the wrist → middle-MCP axis."""
    out = lm.copy()
    axis = (lm[9] - lm[0]) / np.hypot(*(lm[9] - lm[0]))
    rel = lm[1:5] - lm[0]
    along = rel @ axis
    out[1:5] = lm[0] + 2 * along[:, None] * axis - rel
    return out


SKELETON_DISTORTIONS = {"stretched": stretched, "zigzag": zigzag, "doubled": doubled, "crossed": crossed,
                        "thumb_on_pinky_side": thumb_on_pinky_side}


def test_stylised_hand_is_plausible_at_any_rotation_scale_and_position():
    for degrees in (0, 45, 90, 180, 300):
        for scale in (0.5, 1.0, 3.0):
            lm = _rotate_about(UPRIGHT * scale, UPRIGHT[0] * scale, degrees) + 17
            assert hand_plausibility(lm) == pytest.approx(1.0)
    mirrored = UPRIGHT * (-1, 1)  # a left hand
    assert hand_plausibility(mirrored) == pytest.approx(1.0)


@pytest.mark.parametrize("name", sorted(SKELETON_DISTORTIONS))
def test_each_skeleton_distortion_is_penalised(name):
    bad = SKELETON_DISTORTIONS[name](UPRIGHT)
    assert hand_plausibility(bad) < 0.7, name
    # and by the factor meant for it
    s = palm_scale(bad)
    factor = {"stretched": bone_factor(bad, s), "zigzag": angle_factor(bad), "doubled": chain_factor(bad, s),
              "crossed": chain_factor(bad, s), "thumb_on_pinky_side": palm_factor(bad, s)}[name]
    assert factor < 0.7, name


def test_thumb_side_needs_the_pinky_half_of_the_knuckle_row():
    """The thumb's base on the pinky's side of the wrist → middle-MCP axis is penalised only
    where it also lies past THUMB_ROW of the knuckle row (index MCP → pinky MCP): exact
    numbers on the stylised hand (knuckle row from (-10, -30) to (16, -26))."""
    from autofix.detect.hand_score import THUMB_ROW, THUMB_SIDE

    assert THUMB_ROW == 0.5
    near_index = HAND.copy()
    near_index[2] = (2.5, -40)  # pinky's side of the axis (x > 0), 0.41 along the row
    assert palm_factor(near_index, palm_scale(near_index)) == 1.0
    past_middle = HAND.copy()
    past_middle[2] = (12, -20)  # pinky's side, 0.88 along the row
    assert palm_factor(past_middle, palm_scale(past_middle)) == pytest.approx(THUMB_SIDE)


def test_degenerate_and_missing_landmarks():
    assert hand_plausibility(None) == 0.5
    assert hand_plausibility(np.zeros((5, 2))) == 0.5
    assert hand_plausibility(np.zeros((21, 2))) == 0.0
    nan = UPRIGHT.copy()
    nan[3, 0] = np.nan
    assert hand_plausibility(nan) == 0.0
    with_z = np.concatenate([UPRIGHT, np.zeros((21, 1))], axis=1)
    assert hand_plausibility(with_z) == hand_plausibility(UPRIGHT)


def test_the_guard_uses_presence_times_plausibility():
    from autofix.run.never_worse import hand_plausibility as guard_plausibility, weighted_score
    from autofix.types import Detection

    assert guard_plausibility is hand_plausibility  # one implementation
    good = Detection(box=(0, 0, 1, 1), score=0.9, label="hand", landmarks=UPRIGHT.astype(np.float32))
    bad = Detection(box=(0, 0, 1, 1), score=0.9, label="hand", landmarks=zigzag(UPRIGHT).astype(np.float32))
    assert weighted_score(good) == pytest.approx(0.9)
    assert weighted_score(bad) == pytest.approx(0.9 * hand_plausibility(zigzag(UPRIGHT)))
    assert weighted_score(Detection(box=(0, 0, 1, 1), score=0.7, label="face")) == pytest.approx(0.35)  # no mesh: x0.5
    assert weighted_score(Detection(box=(0, 0, 1, 1), score=0.7, label="object")) == 0.7


# ----------------------------------------------------------------------- real photos



def swirl(image: np.ndarray, lm: np.ndarray) -> np.ndarray:
    """Warped fingers: a swirl of up to 2.5 rad over 0.9 palm around the fingers' middle joints."""
    s = palm_scale(lm)
    c = lm[[6, 7, 10, 11, 14, 15, 18, 19]].mean(axis=0)
    h, w = image.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    dx, dy = xs - c[0], ys - c[1]
    ang = 2.5 * np.clip(1 - np.hypot(dx, dy) / (0.9 * s), 0, 1) ** 2
    mx = (c[0] + np.cos(ang) * dx - np.sin(ang) * dy).astype(np.float32)
    my = (c[1] + np.sin(ang) * dx + np.cos(ang) * dy).astype(np.float32)
    return cv2.remap(image, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def extra_finger(image: np.ndarray, lm: np.ndarray) -> np.ndarray:
    """The index finger's strip (MCP → tip, 0.22 palm wide) pasted again 0.28 palm beside it,
    away from the middle finger."""
    s = palm_scale(lm)
    tip = lm[8] + 0.25 * (lm[8] - lm[7])
    along = (tip - lm[5]) / (np.hypot(*(tip - lm[5])) + 1e-9)
    perp = np.array([-along[1], along[0]])
    if perp @ (lm[9] - lm[5]) > 0:
        perp = -perp
    shift = perp * 0.28 * s
    strip = np.zeros(image.shape[:2], np.uint8)
    for a, b in ((lm[5], lm[6]), (lm[6], lm[7]), (lm[7], lm[8]), (lm[8], tip)):
        cv2.line(strip, tuple(int(v) for v in a), tuple(int(v) for v in b), 255, max(2, int(0.22 * s)))
    move = np.float32([[1, 0, shift[0]], [0, 1, shift[1]]])
    moved = cv2.warpAffine(image, move, image.shape[1::-1], borderMode=cv2.BORDER_REFLECT)
    alpha = cv2.GaussianBlur(cv2.warpAffine(strip, move, image.shape[1::-1]), (5, 5), 1.0)
    alpha = alpha.astype(np.float32)[..., None] / 255
    return (image * (1 - alpha) + moved * alpha).astype(np.uint8)


def smeared(image: np.ndarray, lm: np.ndarray) -> np.ndarray:
    """The hand (its landmark mask, dilated) motion-blurred across its length (0.8 palm) and
    Gaussian-blurred (σ 0.08 palm)."""
    from autofix.plan.masks import hand_landmark_mask

    s = palm_scale(lm)
    mask = cv2.dilate(hand_landmark_mask(image.shape[:2], lm), np.ones((5, 5), np.uint8))
    k = max(3, int(0.8 * s)) | 1
    kernel = np.zeros((k, k), np.float32)
    kernel[k // 2, :] = 1.0 / k
    axis = lm[9] - lm[0]
    turn = cv2.getRotationMatrix2D((k / 2 - 0.5, k / 2 - 0.5), -(math.degrees(math.atan2(axis[1], axis[0])) + 90), 1.0)
    kernel = cv2.warpAffine(kernel, turn, (k, k))
    blurred = cv2.GaussianBlur(cv2.filter2D(image, -1, kernel / kernel.sum()), (0, 0), max(1.0, 0.08 * s))
    alpha = cv2.GaussianBlur(mask, (0, 0), 2).astype(np.float32)[..., None] / 255
    return (image * (1 - alpha) + blurred * alpha).astype(np.uint8)


@pytest.fixture(scope="module")
def real_hands(groundtruth):
    """Every certain ground-truth hand the shipped detector finds, with its guard window
    (the shipped hands stage's crop box) and its box in window pixels."""
    pytest.importorskip("ai_edge_litert")
    from autofix.config import build_config
    from autofix.detect.mediapipe_hands import MediaPipeHands
    from autofix.plan.planner import plan_stage

    stage = build_config("hands").stages[0]
    detector = MediaPipeHands()
    out = []
    for name, image, item, det in found_certain_hands(detector, groundtruth):
        (region,) = plan_stage([det], image.shape, stage).regions
        x0, y0, x1, y1 = region.crop.box
        box = (det.box[0] - x0, det.box[1] - y0, det.box[2] - x0, det.box[3] - y0)
        out.append((f"{name} {item['box']}", image, det, (x0, y0, x1, y1), box))
    return detector, out


def test_real_hands_are_plausible(real_hands):
    _, hands = real_hands
    scores = {label: hand_plausibility(det.landmarks) for label, _, det, _, _ in hands}
    assert all(v >= 0.9 for v in scores.values()), scores


def test_skeleton_distortions_of_real_hands_score_lower(real_hands):
    """Each skeleton distortion of each real hand's landmarks scores under 0.7. Measured: 50
    of 55 (11 hands × 5). Not caught, by design: chains crossing on the bus's hanging hand
    (seen edge-on, where curled fingers do cross in the image), the thumb mirrored on
    Phoebe's two hands (her card hand's palm is seen from the wrist's end and her chip
    hand's wrist → middle-MCP axis runs along the knuckle row: no clear side), and the
    zigzag on Rachel's and Monica's index fingers (already bent: the rotations leave PIP
    and DIP turning one way)."""
    _, hands = real_hands
    bad = []
    for label, _, det, _, _ in hands:
        lm = det.landmarks.astype(np.float64)
        for name, distort in SKELETON_DISTORTIONS.items():
            bad.append((label, name, round(hand_plausibility(distort(lm)), 3)))
    failed = [b for b in bad if b[2] >= 0.7]
    assert len(bad) >= 20 and len(failed) <= 0.1 * len(bad), failed


def test_guard_ranks_real_hands_above_distorted_copies(real_hands):
    """The guard's score of each real hand's window against the same window with the hand
    warped, given an extra finger, or smeared. Measured (zidane, bus, group photo: 11
    certain hands found): the group photo's Joey's hand (behind a glass) and Phoebe's card
    hand are not re-found in their own windows, original or distorted, so the guard keeps
    the original there anyway (ties at 0, not counted); of the other 9 × 3 = 27 cases the
    real hand wins 24. The three losses: the extra finger on the bus's phone hand (26 px
    wide: the pasted strip is ~6 px, 0.952 vs 0.961), the swirl on Phoebe's chip hand
    (0.758 vs 0.830) and on Monica's hand on the table (0.848 vs 0.989): the landmark model
    is more sure of the swirled hand."""
    from autofix.run.never_worse import crop_score

    detector, hands = real_hands
    wins, cases, ties = 0, 0, 0
    lines = []
    for label, image, det, (x0, y0, x1, y1), box in hands:
        lm = det.landmarks.astype(np.float64)
        original = crop_score(detector, np.ascontiguousarray(image[y0:y1, x0:x1]), "hand", box)
        for distort in (swirl, extra_finger, smeared):
            bad = distort(image, lm)
            score = crop_score(detector, np.ascontiguousarray(bad[y0:y1, x0:x1]), "hand", box)
            lines.append(f"{label} {distort.__name__}: {original:.3f} vs {score:.3f}")
            if original == 0.0 and score == 0.0:
                ties += 1
                continue
            cases += 1
            wins += original > score
    print("\n".join(lines), f"\nreal above distorted: {wins}/{cases} ({ties} ties at 0)")
    assert cases >= 12, lines  # zidane + bus alone give 4 × 3
    assert wins >= 0.85 * cases, lines
