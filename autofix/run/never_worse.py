"""Best-of-N with a never-worse guard.

With more than one candidate per region, each candidate crop (and the original crop) is
scored by re-running the stage's detector on it. The best candidate is kept only if it
scores at least as well as the original; otherwise the original pixels stay and the
sidecar records why. Peers re-inpaint good hands and make some worse; we don't.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..detect.base import Detector
from ..types import Detection

#: Finger chains in MediaPipe's 21-point hand order (wrist = 0).
_FINGERS = ((1, 2, 3, 4), (5, 6, 7, 8), (9, 10, 11, 12), (13, 14, 15, 16), (17, 18, 19, 20))


def hand_plausibility(landmarks: np.ndarray | None) -> float:
    """A 0–1 plausibility of a 21-point hand: every finger has non-degenerate bones of
    similar scale (no finger longer than 2.5× or shorter than 0.25× the palm length).
    Returns 0.5 when landmarks are missing (box-only detectors): no evidence either way."""
    if landmarks is None or len(landmarks) != 21:
        return 0.5
    palm = float(np.linalg.norm(landmarks[9] - landmarks[0]))
    if palm <= 1e-6:
        return 0.0
    ok = 0
    for chain in _FINGERS:
        pts = landmarks[list(chain)]
        length = float(np.linalg.norm(np.diff(pts, axis=0), axis=1).sum())
        ok += 0.25 * palm <= length <= 2.5 * palm
    return ok / len(_FINGERS)


def crop_score(detector: Detector, crop: np.ndarray, label: str) -> float:
    """Score of the best ``label`` detection in ``crop`` (``(h, w, 3)`` uint8); 0 if none.
    Hands are weighted by :func:`hand_plausibility`."""
    best = 0.0
    for det in detector.detect(crop):
        if det.label != label:
            continue
        best = max(best, _weighted(det))
    return best


def _weighted(det: Detection) -> float:
    if det.label == "hand":
        return det.score * hand_plausibility(det.landmarks)
    return det.score


@dataclass(frozen=True)
class Choice:
    """Outcome of best-of-N: ``index`` of the kept candidate or None for the original."""

    index: int | None
    original_score: float
    scores: tuple[float, ...]
    reason: str


def choose(detector: Detector | None, label: str, original: np.ndarray, candidates: tuple[np.ndarray, ...]) -> Choice:
    """Pick the best candidate, or keep the original if none scores at least as well —
    or if the detector finds the part in no candidate at all (no evidence of a fix).

    ``original`` and ``candidates`` are ``(h, w, 3)`` uint8 views of the same window
    (the executor passes the region's crop box at full resolution, candidates already
    composited through the soft mask, so the detector sees them in context).
    A single candidate is taken without scoring (nothing to choose between)."""
    if len(candidates) == 1:
        return Choice(0, float("nan"), (), "single candidate")
    if detector is None:
        return Choice(0, float("nan"), (), "no detector to score candidates: kept candidate 0")
    base = crop_score(detector, original, label)
    scores = tuple(crop_score(detector, c, label) for c in candidates)
    best = int(np.argmax(scores))
    if scores[best] <= 0.0:
        return Choice(None, base, scores, f"kept original: the detector finds no {label} in any candidate")
    if scores[best] >= base:
        return Choice(best, base, scores, f"candidate {best} scored {scores[best]:.3f} >= original {base:.3f}")
    return Choice(None, base, scores, f"kept original: best candidate {scores[best]:.3f} < original {base:.3f}")
