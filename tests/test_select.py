"""Best-of-N with the never-worse guard, scored by a real detector on a real photo."""

from __future__ import annotations

import numpy as np
import pytest

from autofix.config import DetectorConfig
from autofix.detect import build_detector
from autofix.run.never_worse import choose, hand_plausibility
from autofix.photos import photo_array


@pytest.fixture(scope="module")
def face_detector():
    return build_detector(DetectorConfig(backend="mediapipe_face", model="short"))


@pytest.fixture(scope="module")
def window():
    return np.ascontiguousarray(photo_array("astronaut")[40:240, 120:330])  # the face with context


def _smeared(img: np.ndarray) -> np.ndarray:
    out = img.copy()
    out[40:150, 50:160] = out[40:150, 50:160].mean(axis=(0, 1)).astype(np.uint8)
    return out


def test_keeps_a_better_candidate(face_detector, window):
    bad = _smeared(window)
    choice = choose(face_detector, "face", bad, (bad, window))
    assert choice.index == 1 and choice.scores[1] > choice.original_score


def test_keeps_the_original_when_candidates_are_worse(face_detector, window):
    rng = np.random.default_rng(0)
    noise = tuple(rng.integers(0, 256, window.shape, dtype=np.uint8) for _ in range(3))
    choice = choose(face_detector, "face", window, noise)
    assert choice.index is None and choice.original_score > 0.5
    assert choice.reason.startswith("kept original")


def test_single_candidate_is_taken_unscored(face_detector, window):
    assert choose(face_detector, "face", window, (window,)).index == 0


def test_hand_plausibility():
    wrist, mcp = np.array([0.0, 0.0]), np.array([0.0, -10.0])
    pts = np.zeros((21, 2), np.float32)
    pts[0], pts[9] = wrist, mcp
    for f, base in enumerate((1, 5, 9, 13, 17)):
        for k in range(4):
            pts[base + k] = [f * 3.0 - 6, -4.0 - 3.0 * k]
    pts[9] = mcp
    assert hand_plausibility(pts) == 1.0
    pts[8] = [0, -400]  # a finger 40x the palm
    assert hand_plausibility(pts) == 0.8
    assert hand_plausibility(None) == 0.5
