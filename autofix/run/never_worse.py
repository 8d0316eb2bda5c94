"""Best-of-N with a never-worse guard.

With more than one candidate per region, each candidate crop (and the original crop) is
scored by re-running the stage's detector on it. The best candidate is kept only if it
scores at least as well as the original; otherwise the original pixels stay and the
sidecar records why. Peers re-inpaint good hands and make some worse; we don't.

A hand scores its presence × the plausibility of its 21 landmarks
(:func:`~autofix.detect.hand_score.hand_plausibility`: bone lengths, joint angles,
crossing/collapsed fingers, palm shape), so a candidate whose hand the landmark model still
finds but fits a warped skeleton to loses to the original (:func:`weighted_score`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..detect.base import Detector
from ..detect.face_score import face_plausibility
from ..detect.hand_score import hand_plausibility
from ..detect.mediapipe_face import box_iou
from ..types import Box, Detection

__all__ = ["Choice", "choose", "crop_score", "hand_plausibility", "weighted_score"]



def crop_score(detector: Detector, crop: np.ndarray, label: str, box: Box | None = None) -> float:
    """Score of the ``label`` detection in ``crop`` (``(h, w, 3)`` uint8); 0 if none.

    With ``box`` (the region's box in crop pixels) the detection overlapping it most (IoU
    > ``MIN_BOX_IOU``) is scored, so another hand or face in the window does not stand in
    for the repainted one; without it, the best of all. See :func:`weighted_score`."""
    best = 0.0
    best_iou = MIN_BOX_IOU
    for det in detector.detect(crop):
        if det.label != label:
            continue
        if box is None:
            best = max(best, weighted_score(det))
            continue
        iou = box_iou(det.box, box)[0]
        if iou > best_iou:
            best, best_iou = weighted_score(det), iou
    return best


#: With a region box, a detection must overlap it by more than this IoU to count.
MIN_BOX_IOU = 0.1


def weighted_score(det: Detection) -> float:
    """The score best-of-N compares: for a hand, the detector's score (MediaPipe: the
    landmark model's hand presence) × :func:`~autofix.detect.hand_score.hand_plausibility`
    of its 21 landmarks; for a face, the score × :func:`~autofix.detect.face_score.face_plausibility`
    of its 468/478-point mesh (0.5 for a face without one: its mesh was not confirmed, or
    the detector has none); otherwise the detector's score."""
    if det.label == "hand":
        return det.score * hand_plausibility(det.landmarks)
    if det.label == "face":  # a mesh → its plausibility; 6 keypoints or none (mesh not confirmed) → 0.5
        return det.score * face_plausibility(det.landmarks)
    return det.score


@dataclass(frozen=True)
class Choice:
    """Outcome of best-of-N: ``index`` of the kept candidate or None for the original."""

    index: int | None
    original_score: float
    scores: tuple[float, ...]
    reason: str


def choose(detector: Detector | None, label: str, original: np.ndarray, candidates: tuple[np.ndarray, ...],
           box: Box | None = None) -> Choice:
    """Pick the best candidate, or keep the original if none scores at least as well —
    or if the detector finds the part in no candidate at all (no evidence of a fix).

    ``original`` and ``candidates`` are ``(h, w, 3)`` uint8 views of the same window
    (the executor passes the region's crop box at full resolution, candidates already
    composited through the soft mask, so the detector sees them in context); ``box``, the
    region's box in window pixels, makes the score that of the repainted part, not of
    another one in the window (:func:`crop_score`).
    A single candidate is taken without scoring (nothing to choose between)."""
    if len(candidates) == 1:
        return Choice(0, float("nan"), (), "single candidate")
    if detector is None:
        return Choice(0, float("nan"), (), "no detector to score candidates: kept candidate 0")
    base = crop_score(detector, original, label, box)
    scores = tuple(crop_score(detector, c, label, box) for c in candidates)
    best = int(np.argmax(scores))
    if scores[best] <= 0.0:
        return Choice(None, base, scores, f"kept original: the detector finds no {label} in any candidate")
    if scores[best] >= base:
        return Choice(best, base, scores, f"candidate {best} scored {scores[best]:.3f} >= original {base:.3f}")
    return Choice(None, base, scores, f"kept original: best candidate {scores[best]:.3f} < original {base:.3f}")
