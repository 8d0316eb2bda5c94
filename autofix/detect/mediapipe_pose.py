"""People and their hand regions from MediaPipe's pose models (BlazePose), on LiteRT.

Used by :mod:`autofix.detect.mediapipe_hands` to look for hands where the people are
instead of on blind tiles. The steps are those of MediaPipe's graphs, done with the
helpers in :mod:`autofix.detect.blaze`:

* ``pose_detection`` (224², SSD, 4 keypoints) on the letterboxed image; each detection
  becomes a rotated square region: centred on the mid-hip keypoint, side twice its
  distance to the body-circle keypoint, mid-hip → that keypoint pointing up, × 1.25
  (``pose_detection_to_roi``). MediaPipe's Pose solution keeps one person; here every
  detection ≥ ``min_score`` (after weighted suppression) is kept, up to ``max_people``.
* ``pose_landmark_full`` (256², 33 landmarks + 6 auxiliary, visibility and presence
  logits, a pose flag) on each region; people whose flag is under 0.5 are dropped.
* Holistic's hand region from pose (``HandDetectionsFromPoseToRectsCalculator`` +
  ``hand_landmarks_from_pose_to_recrop_roi``): wrist, pinky and index landmarks; the
  middle finger is estimated at (2·index + pinky) / 3; a square centred there, side
  twice the wrist → middle distance, wrist → middle pointing up, shifted −0.1 and scaled
  2.7; gated on the wrist's visibility ≥ 0.1.
* ``hand_recrop`` (256²) refines that region: two points, centre and scale, → a square
  twice their distance, rotated to −90°, shifted −0.1 (``hand_recrop_by_roi``).

Nothing is tracked; results depend only on the image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .blaze import POSE_DETECTION, alignment_roi, detect_ssd, project_landmarks
from .litert import TFLiteModel, roi_tensor

Roi = tuple[float, float, float, float, float]

#: Pose landmark indices (MediaPipe order; the subject's left/right).
NOSE = 0
LEFT_SHOULDER, RIGHT_SHOULDER = 11, 12
LEFT_WRIST, RIGHT_WRIST = 15, 16
LEFT_HIP, RIGHT_HIP = 23, 24
#: (wrist, pinky, index) per side, Holistic's order.
HAND_POINTS = {"left": (15, 17, 19), "right": (16, 18, 20)}
#: Pose flag and wrist-visibility floors (MediaPipe's values).
MIN_POSE_FLAG = 0.5
MIN_WRIST_VISIBILITY = 0.1


@dataclass(frozen=True)
class Person:
    """One person: ``landmarks`` ``(33, 2)`` pixels, ``visibility`` and ``presence`` ``(33,)``
    in 0..1, the landmark model's pose ``flag``, the detector's ``score`` and the ``roi`` used."""

    landmarks: np.ndarray
    visibility: np.ndarray
    presence: np.ndarray
    flag: float
    score: float
    roi: Roi

    @property
    def size(self) -> float:
        """Shoulder width in pixels (0 if a shoulder is not visible)."""
        a, b = self.landmarks[LEFT_SHOULDER], self.landmarks[RIGHT_SHOULDER]
        return float(np.hypot(*(a - b)))


    def raised(self, index: int) -> float:
        """How far landmark ``index`` lies below the shoulders along the body, as a fraction
        of the torso (shoulder centre → hip centre): 0 at shoulder height, 1 at the hips,
        negative above the shoulders."""
        shoulders = (self.landmarks[LEFT_SHOULDER] + self.landmarks[RIGHT_SHOULDER]) / 2
        hips = (self.landmarks[LEFT_HIP] + self.landmarks[RIGHT_HIP]) / 2
        axis = hips - shoulders
        length2 = float(axis @ axis)
        return float((self.landmarks[index] - shoulders) @ axis / length2) if length2 > 1.0 else 1.0


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -60.0, 60.0)))


def person_detections(
    detector: TFLiteModel, image: np.ndarray, min_score: float, max_people: int
) -> list[tuple[Roi, float, np.ndarray]]:
    """Pose-detection regions ``(roi, score, keypoints)`` in pixels, best first; keypoints
    ``(4, 2)``: 0 = mid-hip, 1 = on the body circle, 2 = mid-shoulder, 3 = on the upper-body circle."""
    h, w = image.shape[:2]
    out = []
    for det in detect_ssd(detector, POSE_DETECTION, image, min_score)[:max_people]:
        kps = det.keypoints * (w, h)
        out.append((alignment_roi(kps[0], kps[1], target_degrees=90.0, scale=1.25), det.score, kps))
    return out


#: A person's pose region from a face box: side and downward offset of its centre, in face
#: sizes (fit to the pose detector's regions on the open photos: 9.3-12.6 and 3.1-3.7).
FACE_TO_BODY_SIDE = 11.5
FACE_TO_BODY_DROP = 3.4


def person_roi_from_face(face: Any, width: int, height: int) -> Roi:
    """The pose landmark model's region for the person a BlazeFace detection belongs to
    (normalised box and keypoints; 0 = right eye, 1 = left eye): below the face along its
    roll, as the pose detector would place it for an upright body."""
    x0, y0, x1, y1 = face.box
    size = max((x1 - x0) * width, (y1 - y0) * height)
    cx, cy = (x0 + x1) / 2 * width, (y0 + y1) / 2 * height
    (rx, ry), (lx, ly) = face.keypoints[0] * (width, height), face.keypoints[1] * (width, height)
    roll = math.atan2(ly - ry, lx - rx) if math.hypot(lx - rx, ly - ry) > 1.0 else 0.0
    drop = FACE_TO_BODY_DROP * size
    side = FACE_TO_BODY_SIDE * size
    return cx - drop * math.sin(roll), cy + drop * math.cos(roll), side, side, roll


def landmarks_in_roi(model: TFLiteModel, image: np.ndarray, roi: Roi, score: float) -> Person | None:
    """Run ``pose_landmark_full`` on one region; ``None`` when its pose flag is under 0.5."""
    size = model.input_size
    tensor, _, roi = roi_tensor(image, roi, size, value_range=(0.0, 1.0))
    raw, flag = model.run(tensor)[:2]
    flag_value = float(np.asarray(flag).reshape(-1)[0])
    if flag_value < MIN_POSE_FLAG:
        return None
    raw = raw.reshape(-1, 5)[:33].astype(np.float64)
    pts = project_landmarks(raw[:, :2] / np.array(size, np.float64), roi)
    return Person(pts, _sigmoid(raw[:, 3]), _sigmoid(raw[:, 4]), flag_value, score, roi)


def find_people(
    detector: TFLiteModel, landmarker: TFLiteModel, image: np.ndarray, *, min_score: float = 0.5,
    max_people: int = 6,
) -> list[Person]:
    """Every person the pose models find in ``image`` (``(H, W, 3)`` uint8 RGB)."""
    people = []
    for roi, score, _ in person_detections(detector, image, min_score, max_people):
        person = landmarks_in_roi(landmarker, image, roi, score)
        if person is not None:
            people.append(person)
    return people


def hand_roi_from_pose(person: Person, side: str) -> Roi | None:
    """Holistic's hand search region for one side of ``person`` (pixels), or ``None`` when
    the wrist is not visible or the hand points collapse."""
    wrist_i, pinky_i, index_i = HAND_POINTS[side]
    if person.visibility[wrist_i] < MIN_WRIST_VISIBILITY:
        return None
    wrist, pinky, index = person.landmarks[wrist_i], person.landmarks[pinky_i], person.landmarks[index_i]
    middle = (2.0 * index + pinky) / 3.0
    if math.hypot(*(middle - wrist)) < 1.0:
        return None
    # a square centred on the middle finger, side 2·|wrist→middle| (the scale point is
    # the wrist mirrored through the middle finger), wrist → middle pointing up.
    return alignment_roi(middle, 2.0 * middle - wrist, target_degrees=90.0, scale=2.7, shift_y=-0.1)


def recrop(model: TFLiteModel, image: np.ndarray, roi: Roi) -> Roi:
    """``hand_recrop`` on a hand search region → the refined hand region (pixels)."""
    size = model.input_size
    tensor, _, roi = roi_tensor(image, roi, size, value_range=(0.0, 1.0))
    (raw,) = model.run(tensor)[:1]
    pts = project_landmarks(raw.reshape(2, 2).astype(np.float64) / np.array(size, np.float64), roi)
    return alignment_roi(pts[0], pts[1], target_degrees=-90.0, shift_y=-0.1)
