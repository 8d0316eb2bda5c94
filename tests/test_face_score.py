"""Face plausibility (autofix.detect.face_score) for best-of-N: the real faces of the open
photos rank above distorted copies of them, each scored as the never-worse guard scores it
(the shipped detector + face mesh run again on the distorted image, detector score ×
face_plausibility); and its geometry on synthetic meshes (any pose of the reference face
is fully plausible)."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from autofix.detect.face_score import (
    INDICES,
    MIDLINE,
    PAIRS,
    RESIDUAL_OK,
    UNCONFIRMED,
    face_plausibility,
    mesh_residual,
    reference,
)

# --------------------------------------------------------------------------- geometry


def _projected(yaw: float = 0.0, pitch: float = 0.0, roll: float = 0.0, scale: float = 120.0) -> np.ndarray:
    """A 468-point mesh whose scored points are the reference face turned and projected
    orthographically (image y down), centred at (300, 300); the other points at the centre."""
    cy, sy, cp, sp, cr, sr = (math.cos(yaw), math.sin(yaw), math.cos(pitch), math.sin(pitch),
                              math.cos(roll), math.sin(roll))
    rot_y = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rot_x = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    rot_z = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    pts = reference() @ (rot_z @ rot_x @ rot_y).T
    mesh = np.full((468, 2), 300.0)
    mesh[list(INDICES)] = np.c_[pts[:, 0], -pts[:, 1]] * scale + 300.0
    return mesh


@pytest.mark.parametrize("yaw,pitch,roll", [(0, 0, 0), (0.7, 0, 0), (-0.5, 0.3, 0.4), (0.2, -0.4, -1.2)])
def test_any_pose_of_the_reference_is_fully_plausible(yaw, pitch, roll):
    mesh = _projected(yaw, pitch, roll)
    assert mesh_residual(mesh) < 1e-9
    assert face_plausibility(mesh) == 1.0
    # a squashed image (non-square pixels) is still an affine camera
    assert face_plausibility(mesh * (1.0, 0.6)) == 1.0


def test_moved_mouth_and_one_sided_changes_lower_the_score():
    mesh = _projected(0.3, 0.1, 0.2)
    mouth = [61, 291, 37, 267, 84, 314, 40, 270, 91, 321, 0, 17, 13, 14]
    eye_distance = float(np.hypot(*(mesh[263] - mesh[33])))
    moved = mesh.copy()
    moved[mouth] -= (0.0, 0.35 * eye_distance)  # the mouth a third of the eye distance up
    assert mesh_residual(moved) > RESIDUAL_OK and face_plausibility(moved) < 0.5
    # one eye (with its brow) twice its size: no longer symmetric
    right = [a for a, _ in PAIRS[:10]]
    big = mesh.copy()
    centre = mesh[right].mean(axis=0)
    big[right] = centre + 2.0 * (mesh[right] - centre)
    assert mesh_residual(big) > RESIDUAL_OK and face_plausibility(big) < 1.0
    # more of the same distortion never scores better
    scores = []
    for shift in (0.1, 0.2, 0.3, 0.4, 0.6):
        m = mesh.copy()
        m[mouth] -= (0.0, shift * eye_distance)
        scores.append(face_plausibility(m))
    assert scores == sorted(scores, reverse=True) and scores[0] > scores[-1]


def test_reference_is_symmetric_and_keypoints_get_the_unconfirmed_value():
    ref = reference()
    n = len(PAIRS)
    assert np.array_equal(ref[n:2 * n], ref[:n] * (-1, 1, 1)) and (ref[2 * n:, 0] == 0).all()
    assert len(set(INDICES)) == len(INDICES) == 2 * n + len(MIDLINE)
    assert face_plausibility(np.zeros((6, 2), np.float32)) == UNCONFIRMED
    assert face_plausibility(np.zeros((5, 2))) == face_plausibility(None) == UNCONFIRMED
    with pytest.raises(ValueError, match="468 or 478"):
        mesh_residual(np.zeros((21, 2)))
    with pytest.raises(ValueError, match="degenerate"):
        mesh_residual(np.zeros((468, 2)))
    assert face_plausibility(np.zeros((468, 2))) == 0.0  # a collapsed mesh is no face, not a crash
    assert face_plausibility(np.full((468, 2), np.nan)) == 0.0
    assert face_plausibility(np.c_[_projected(0.2), np.zeros(468)][:, :2].astype(np.float32)) == 1.0
    assert face_plausibility(np.vstack([_projected(0.2), np.full((10, 2), 300.0)])) == 1.0  # 478


# --------------------------------------------------------------------------- real photos

pytest.importorskip("ai_edge_litert")

from autofix.config import DetectorConfig  # noqa: E402
from autofix.detect import build_detector  # noqa: E402
from autofix.detect.mediapipe_face import box_iou  # noqa: E402
from autofix.photos import photo_array  # noqa: E402


def swirl(img: np.ndarray, centre, radius: float, angle: float = 2.5) -> np.ndarray:
    """A strong local warp: pixels turned about ``centre`` by up to ``angle`` radians,
    falling off to nothing at ``radius``."""
    h, w = img.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    dx, dy = xs - centre[0], ys - centre[1]
    turn = angle * np.clip(1 - np.hypot(dx, dy) / radius, 0, 1) ** 2
    c, s = np.cos(turn), np.sin(turn)
    return cv2.remap(img, (centre[0] + c * dx - s * dy).astype(np.float32),
                     (centre[1] + s * dx + c * dy).astype(np.float32), cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REFLECT)


def smear(img: np.ndarray, centre, radius: float) -> np.ndarray:
    """A horizontal motion smear over a soft disc (one eye smeared)."""
    kernel = np.full((1, int(radius * 1.6)), 1.0 / int(radius * 1.6), np.float32)
    smeared = cv2.filter2D(img, -1, kernel, borderType=cv2.BORDER_REFLECT)
    h, w = img.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w]
    alpha = np.clip(1.5 - np.hypot(xs - centre[0], ys - centre[1]) / radius, 0, 1)[..., None]
    return (img * (1 - alpha) + smeared * alpha).astype(np.uint8)


def move(img: np.ndarray, src, dst, half: float) -> np.ndarray:
    """The mouth moved: a (4·half × 2·half) patch at ``src`` pasted at ``dst``, its old
    place filled by inpainting (OpenCV Telea)."""
    (sx, sy), (dx, dy), r = (int(round(v)) for v in src), (int(round(v)) for v in dst), int(round(half))
    patch = img[sy - r:sy + r, sx - 2 * r:sx + 2 * r].copy()
    hole = np.zeros(img.shape[:2], np.uint8)
    hole[sy - r:sy + r, sx - 2 * r:sx + 2 * r] = 255
    out = cv2.inpaint(img, hole, 5, cv2.INPAINT_TELEA)
    out[dy - r:dy + r, dx - 2 * r:dx + 2 * r] = patch
    return out


def distortions(image: np.ndarray, mesh: np.ndarray) -> dict[str, np.ndarray]:
    eye = float(np.hypot(*(mesh[263] - mesh[33])))
    right_eye, mouth = mesh[[33, 133]].mean(axis=0), mesh[[61, 291]].mean(axis=0)
    return {
        "swirl": swirl(image, mesh[1], 1.2 * eye),
        "smeared eye": smear(image, right_eye, 0.45 * eye),
        "mouth up": move(image, mouth, mouth - (0, 0.45 * eye), 0.3 * eye),
        "mouth down": move(image, mouth, mouth + (0, 0.35 * eye), 0.3 * eye),
    }


def guard_score(detector, image: np.ndarray, box) -> tuple[float, float, float | None]:
    """(score × plausibility, plausibility, mesh residual or None) of the face over ``box``,
    as the guard scores a re-detected face; (0, 0, None) when the detector no longer finds it."""
    best = max(detector.detect(image), key=lambda d: box_iou(box, d.box)[0], default=None)
    if best is None or box_iou(box, best.box)[0] < 0.3:
        return 0.0, 0.0, None
    plausibility = face_plausibility(best.landmarks)
    residual = mesh_residual(best.landmarks) if len(best.landmarks) != 6 else None
    return best.score * plausibility, plausibility, residual


#: Faces of at least ~90 px: (photo, index left to right among the detector's faces, name).
FACES = [("astronaut", 0, "astronaut"), ("grace_hopper", 0, "Grace Hopper"), ("zidane", 0, "Zidane"),
         ("zidane", 1, "Ancelotti"), ("insightface_t1", 0, "Rachel"), ("insightface_t1", 1, "Monica"),
         ("insightface_t1", 2, "Ross"), ("insightface_t1", 3, "Chandler"), ("insightface_t1", 4, "Joey"),
         ("insightface_t1", 5, "Phoebe")]
#: Known misses: the real face does not outrank this distorted copy (why).
MISSES = {
    ("Zidane", "mouth up"): "turned and looking down: the mesh fits no better to the real face (residual "
                            "0.058 vs 0.060) and the detector scores the copy about as high",
    ("Zidane", "mouth down"): "as for 'mouth up'; the detector scores the copy higher (0.62 vs 0.54)",
    ("Zidane", "smeared eye"): "the detector's score rises on the smeared copy",
    ("Monica", "smeared eye"): "the mesh ignores the smear and the score does not drop",
    ("Joey", "smeared eye"): "the mesh ignores the smear and the score does not drop",
}


@pytest.fixture(scope="module")
def table():
    """{(name, distortion): (guard score, plausibility, residual)}, 'real' for the photo itself."""
    detector = build_detector(DetectorConfig(backend="mediapipe_face"))
    out = {}
    images = {}
    for photo, index, name in FACES:
        if photo not in images:
            try:
                images[photo] = photo_array(photo)
            except FileNotFoundError:
                continue
        image = images[photo]
        face = detector.detect(image)[index]
        assert face.landmarks.shape == (468, 2), name
        plausibility = face_plausibility(face.landmarks)
        out[(name, "real")] = (face.score * plausibility, plausibility, mesh_residual(face.landmarks))
        for kind, distorted in distortions(image, face.landmarks.astype(np.float64)).items():
            out[(name, kind)] = guard_score(detector, distorted, face.box)
    detector.close()
    return out


@pytest.mark.parametrize("kind", ["swirl", "smeared eye", "mouth up", "mouth down"])
def test_real_face_outranks_its_distorted_copies(table, kind):
    names = [n for _, _, n in FACES if (n, "real") in table]
    assert len(names) >= 4
    wrong = [(n, table[(n, kind)][0], table[(n, "real")][0]) for n in names
             if (n, kind) not in MISSES and table[(n, kind)][0] >= table[(n, "real")][0]]
    assert wrong == []


def test_geometry_alone_sees_the_moved_mouth_on_frontal_faces(table):
    """Without the detector's score: on every face whose real mesh is fully plausible
    (residual ≤ RESIDUAL_OK: the frontal ones), the moved mouth leaves a residual larger by
    at least 0.01 (of the face's spread) where the face is still found."""
    frontal = [n for _, _, n in FACES if (n, "real") in table and table[(n, "real")][1] == 1.0]
    assert {"astronaut", "Grace Hopper", "Ancelotti"} <= set(frontal)
    for name in frontal:
        for kind in ("mouth up", "mouth down"):
            real, moved = table[(name, "real")][2], table[(name, kind)][2]
            assert moved is None or moved >= real + 0.01, (name, kind, real, moved)


def test_real_faces_are_plausible_in_any_pose(table):
    """Frontal, three-quarter and looking-down faces of the open photos all keep at least
    0.7 of plausibility (the turned ones lose a little: expression, perspective)."""
    reals = {n: table[(n, "real")][1] for _, _, n in FACES if (n, "real") in table}
    assert min(reals.values()) >= 0.7, reals


def test_mirrored_photo_scores_the_same():
    """The reference is symmetric: the mirrored photo's face is as plausible."""
    detector = build_detector(DetectorConfig(backend="mediapipe_face"))
    image = photo_array("astronaut")
    (a,) = detector.detect(image)
    (b,) = detector.detect(np.ascontiguousarray(image[:, ::-1]))
    assert abs(mesh_residual(a.landmarks) - mesh_residual(b.landmarks)) < 0.01
    detector.close()


def test_the_guard_keeps_the_real_face_over_distorted_candidates():
    """never_worse with the registry's face detector: a window of the astronaut's face
    against repaints that swirled it or moved its mouth keeps the original; the score it
    compares is the detector's score × face_plausibility of the re-detected mesh."""
    from autofix.run.never_worse import choose, weighted_score

    detector = build_detector(DetectorConfig(backend="mediapipe_face"))
    image = photo_array("astronaut")
    (face,) = detector.detect(image)
    assert weighted_score(face) == pytest.approx(face.score * face_plausibility(face.landmarks))
    x0, y0, x1, y1 = (int(v) for v in face.box)
    pad = (x1 - x0) // 2
    window = (max(0, x0 - pad), max(0, y0 - pad), x1 + pad, y1 + pad)
    crop = lambda img: np.ascontiguousarray(img[window[1]:window[3], window[0]:window[2]])  # noqa: E731
    bad = distortions(image, face.landmarks.astype(np.float64))
    box = (x0 - window[0], y0 - window[1], x1 - window[0], y1 - window[1])
    choice = choose(detector, "face", crop(image), (crop(bad["swirl"]), crop(bad["mouth up"])), box)
    assert choice.index is None and "kept original" in choice.reason, choice
    # and a candidate that is the original itself is taken (ties go to the candidate)
    assert choose(detector, "face", crop(image), (crop(bad["mouth up"]), crop(image)), box).index == 1
    detector.close()
