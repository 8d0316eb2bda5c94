"""Best-of-N with the never-worse guard, scored by a real detector on a real photo."""

from __future__ import annotations

import numpy as np
import pytest

from autofix.config import DetectorConfig
from autofix.detect import build_detector
from autofix.run.never_worse import choose
from autofix.photos import photo_array


@pytest.fixture(scope="module")
def face_detector():
    return build_detector(DetectorConfig(backend="mediapipe_face"))  # the shipped one: full range + mesh


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


@pytest.mark.parametrize("area", ["masked", "whole"])
def test_the_step_scores_the_repainted_region_not_its_neighbour(area):
    """``step._scored`` hands the guard the region's own box in window pixels, so another face
    in the window cannot stand in for the repainted one (``choose(..., box=...)``)."""
    from autofix.config import build_config
    from autofix.plan import plan_stage
    from autofix.run.step import _scored
    from autofix.types import Detection

    image = photo_array("insightface_t1")
    stage = build_config("faces", overrides=[f"stages.*.crop.area={area}", "stages.*.crop.padding=200"]).stages[0]
    det = Detection((270.0, 146.0, 392.0, 262.0), 0.9, "face")  # Monica; Rachel and Ross are within 200 px
    region = plan_stage([det], image.shape, stage).regions[0]
    crop = np.ascontiguousarray(image[region.crop.box[1]:region.crop.box[3], region.crop.box[0]:region.crop.box[2]])
    original, windows, box = _scored(stage, image, region, (crop, crop))
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    assert (x1 - x0, y1 - y0) == (122, 116)
    assert np.array_equal(original[y0:y1, x0:x1], image[146:262, 270:392])
    assert original.shape[:2] != (122, 116) and len(windows) == 2


@pytest.mark.parametrize("setting", ["stages.*.mask.merge=merge", "stages.*.mask.invert=true"])
def test_merged_or_inverted_regions_are_scored_as_a_whole(setting):
    """A region merged from several detections (or inverted) has a union box no single part
    matches: the guard gets no box and scores the best part in the window."""
    from autofix.config import build_config
    from autofix.plan import plan_stage
    from autofix.run.step import _scored
    from autofix.types import Detection

    image = photo_array("insightface_t1")
    stage = build_config("faces", overrides=[setting]).stages[0]
    dets = [Detection((270.0, 146.0, 392.0, 262.0), 0.9, "face"), Detection((470.0, 266.0, 592.0, 400.0), 0.9, "face")]
    region = plan_stage(dets, image.shape, stage).regions[0]
    x0, y0, x1, y1 = region.crop.box
    crop = np.ascontiguousarray(image[y0:y1, x0:x1])
    assert _scored(stage, image, region, (crop, crop))[2] is None
