"""The full-range face search on real photos: what each step (face-mesh confirmation,
zoom tiles by need) finds that the whole-image pass misses, that the steps run only where
needed, and the face-mesh masks (forehead to chin) the registry's detector attaches.

Ground truth: tests/data/open-photos-groundtruth.json (hand-made boxes). The group photo
(``insightface_t1``) is read from the insightface wheel; its tests skip when it is missing.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("ai_edge_litert")

from autofix.config import DetectorConfig  # noqa: E402
from autofix.detect import build_detector  # noqa: E402
from autofix.detect.mediapipe_face import MediaPipeFace, box_iou, zoom_windows  # noqa: E402
from autofix.photos import photo_array  # noqa: E402

KEYS = {"astronaut": "skimage_astronaut.png", "camera": "skimage_camera.png",
        "grace_hopper": "matplotlib_grace_hopper.jpg", "zidane": "ultralytics_zidane.jpg",
        "bus": "ultralytics_bus.jpg", "insightface_t1": "insightface_t1.jpg"}


def _photo(name: str) -> np.ndarray:
    return photo_array(name)  # a missing photo wheel fails with its fetch command (CI must not skip)


def _certain(groundtruth, name: str) -> list[list[float]]:
    return [f["box"] for f in groundtruth[KEYS[name]]["faces"] if not f["tiny"] and not f["uncertain"]]


def _found(boxes, dets) -> list[bool]:
    return [max((box_iou(b, d.box)[0] for d in dets), default=0.0) >= 0.3 for b in boxes]


def _false(groundtruth, name: str, dets) -> int:
    truth = [f["box"] for f in groundtruth[KEYS[name]]["faces"]]
    return sum(1 for d in dets if max((box_iou(t, d.box)[0] for t in truth), default=0.0) < 0.3)


@pytest.fixture(scope="module")
def detectors():
    dets = {
        "bare": MediaPipeFace("full", mirror=False, zoom=False, confirm=False),
        "confirm": MediaPipeFace("full", zoom=False),
        "zoom": MediaPipeFace("full", confirm=False),
        "default": MediaPipeFace("full"),
        "registry": build_detector(DetectorConfig(backend="mediapipe_face")),
    }
    yield dets
    for d in dets.values():
        d.close()


@pytest.mark.parametrize("name", list(KEYS))
def test_default_search_finds_every_certain_face(detectors, groundtruth, name):
    image = _photo(name)
    for key in ("default", "registry"):
        dets = detectors[key].detect(image)
        assert all(_found(_certain(groundtruth, name), dets)), (key, dets)
        assert _false(groundtruth, name, dets) == 0, (key, dets)


@pytest.mark.parametrize("name", list(KEYS))
def test_monochrome_mirrored_and_tilted_copies(detectors, groundtruth, name):
    """Greyscale (old monochrome photos), mirrored and 20°-tilted copies of each photo: every
    certain face still found, no false face. (Larger tilts: the rotated search, below.)"""
    import cv2

    image = _photo(name)
    h, w = image.shape[:2]
    truth = _certain(groundtruth, name)
    every = [f["box"] for f in groundtruth[KEYS[name]]["faces"]]
    grey = np.ascontiguousarray(np.repeat(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2))
    turn = cv2.getRotationMatrix2D((w / 2, h / 2), 20, 1.0)

    def turned(box):
        corners = np.array([[box[0], box[1], 1], [box[2], box[1], 1], [box[0], box[3], 1], [box[2], box[3], 1]])
        pts = corners @ turn.T
        return [pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max()]

    copies = {
        "grey": (grey, truth, every),
        "mirrored": (np.ascontiguousarray(image[:, ::-1]), [[w - b[2], b[1], w - b[0], b[3]] for b in truth],
                     [[w - b[2], b[1], w - b[0], b[3]] for b in every]),
        "tilted": (cv2.warpAffine(image, turn, (w, h), borderMode=cv2.BORDER_REFLECT),
                   [turned(b) for b in truth], [turned(b) for b in every]),
    }
    for kind, (copy, boxes, anything) in copies.items():
        found = detectors["registry"].detect(copy)
        assert all(_found(boxes, found)), (kind, found)
        # a tilted box's axis-aligned hull is larger than the face: a detection mostly inside one counts
        assert all(max(box_iou(b, d.box)[1] for b in anything) >= 0.5 for d in found), (kind, found)


@pytest.mark.parametrize("name", ["coffee", "chelsea"])
def test_no_faces_without_people(detectors, name):
    for key in ("default", "registry"):
        assert detectors[key].detect(photo_array(name)) == []


def test_mesh_confirmation_rescues_the_turned_face(detectors, groundtruth):
    """zidane.jpg: Zidane looking down in three-quarter profile scores 0.33 on the whole
    image; the face mesh (upright region) confirms it. The bare pass finds only Ancelotti."""
    image, truth = photo_array("zidane"), _certain(groundtruth, "zidane")
    assert _found(truth, detectors["bare"].detect(image)) == [False, True]
    rescued = detectors["confirm"].detect(image)
    assert _found(truth, rescued) == [True, True] and len(rescued) == 2
    zidane = max(rescued, key=lambda d: box_iou(truth[0], d.box)[0])
    assert 0.5 <= zidane.score < 1.0


def test_zoom_tiles_find_the_group_photos_faces(detectors, groundtruth):
    """The group photo's ~100-px faces are ~15 px in the whole image's 192² input: the bare
    pass misses two of six (Monica, Phoebe), the zoom tiles alone find all six."""
    image = _photo("insightface_t1")
    truth = _certain(groundtruth, "insightface_t1")
    assert len(truth) == 6
    assert sum(_found(truth, detectors["bare"].detect(image))) <= 4
    assert all(_found(truth, detectors["zoom"].detect(image)))


def test_zoom_runs_only_where_needed(detectors, monkeypatch):
    """Portraits (a face ≥ 15 % of the longer side) and images under 640 px get the whole
    image pass only; the group photo gets it plus its 4 zoom tiles."""
    det = MediaPipeFace("full", confirm=False)
    calls: list[tuple] = []
    real = det._detect_window
    monkeypatch.setattr(det, "_detect_window", lambda img, win, *a: calls.append(win) or real(img, win, *a))
    for name in ("astronaut", "grace_hopper", "camera", "coffee", "chelsea"):
        calls.clear()
        det.detect(photo_array(name))
        assert len(calls) == 1, name
    image = _photo("insightface_t1")
    calls.clear()
    det.detect(image)
    assert calls[1:] == zoom_windows(*image.shape[:2]) and len(calls) == 5


def test_zoom_windows_cover_with_overlap():
    assert zoom_windows(600, 512) == [] and zoom_windows(400, 639) == []
    wins = zoom_windows(886, 1280)
    assert wins == [(0, 0, 768, 768), (512, 0, 1280, 768), (0, 118, 768, 886), (512, 118, 1280, 886)]
    for h, w in ((720, 1280), (1080, 810), (3000, 4000), (640, 5000)):
        wins = zoom_windows(h, w)
        cover = np.zeros((h, w), bool)
        for x0, y0, x1, y1 in wins:
            assert x1 - x0 == y1 - y0 <= min(h, w) and 0 <= x0 and x1 <= w and 0 <= y0 and y1 <= h
            cover[y0:y1, x0:x1] = True
        assert cover.all()
        xs = sorted({x0 for x0, _, _, _ in wins})
        side = wins[0][2] - wins[0][0]
        assert all(b - a <= 0.75 * side + 1 for a, b in zip(xs, xs[1:]))
    # strips: tiles under 128 px or more than 32 of them are not worth running (a 20000x4 PNG
    # once got 6666 tiles of 4 px and took 55 s)
    assert zoom_windows(4, 20000) == [] and zoom_windows(200, 8000) == []
    assert len(zoom_windows(800, 8000)) <= 32


@pytest.mark.parametrize("name", ["astronaut", "camera", "grace_hopper", "zidane", "bus", "insightface_t1"])
def test_registry_faces_carry_mesh_and_face_mask(detectors, groundtruth, name):
    """Each face of the registry's detector has the 468-point mesh, and the planner's mask
    for it (``mask.shape: auto``, no dilation) covers most of its hand-made box (hairline or
    hair's edge to chin), reaches up to the box's top (the forehead extension) and stays
    near the box."""
    from autofix.config import build_config
    from autofix.plan.planner import NOTE_FACE_MESH_MASK, build_mask

    stage = build_config("faces", overrides=["stages.*.mask.dilate=0"]).stages[0]
    image = _photo(name)
    h, w = image.shape[:2]
    truth = [f["box"] for f in groundtruth[KEYS[name]]["faces"]]
    for det in detectors["registry"].detect(image):
        assert det.landmarks.shape == (468, 2) and det.landmarks.dtype == np.float32
        hard, notes = build_mask(det, (h, w), stage)
        mask = hard > 0
        assert notes == (NOTE_FACE_MESH_MASK,)
        x0, y0, x1, y1 = (int(round(v)) for v in max(truth, key=lambda t: box_iou(t, det.box)[0]))
        box_h = y1 - y0
        ys, xs = np.nonzero(mask)
        inside = mask[y0:y1, x0:x1]
        assert inside.mean() >= 0.35, name  # a turned face's box includes the ear, the mask not
        grown = np.zeros_like(mask)
        grown[max(0, y0 - box_h // 4):y1 + box_h // 4, max(0, x0 - box_h // 4):x1 + box_h // 4] = True
        assert mask[~grown].sum() == 0, name
        assert ys.min() <= y0 + 0.15 * box_h, (name, ys.min(), y0)  # forehead up to (about) the box top
        assert ys.max() + 1 >= y1 - 0.15 * box_h, (name, ys.max(), y1)  # down to the chin


def test_forehead_extension_raises_the_mask(detectors):
    """The same mesh without the forehead extension stops lower: the extension adds rows
    above the silhouette and only there."""
    from autofix.plan.face_masks import face_mask

    image = photo_array("grace_hopper")
    (det,) = detectors["registry"].detect(image)
    plain = face_mask(image.shape[:2], det.landmarks, forehead=0.0, chin=0.0)
    full = face_mask(image.shape[:2], det.landmarks)
    assert np.array_equal(full | plain, full)  # the extension only adds
    top = lambda m: int(np.nonzero(m.any(axis=1))[0][0])  # noqa: E731
    assert top(plain) - top(full) >= 0.05 * (det.box[3] - det.box[1])


def test_unconfirmed_faces_keep_keypoints_and_no_mask(detectors, monkeypatch):
    """A face the mesh does not confirm (flag forced to 0.3) is still found (score ≥ 0.5) but
    keeps its 6 keypoints and no mask: the planner's ellipse applies. With a flag
    under REJECT_FLAG (the mesh model is sure it is no face) it is dropped."""
    det = detectors["registry"]
    real = det.face_mesh
    monkeypatch.setattr(det, "face_mesh", lambda img, d, *a: (real(img, d, *a)[0], 0.3))
    (face,) = det.detect(photo_array("astronaut"))
    assert face.mask is None and face.landmarks.shape == (6, 2)
    monkeypatch.setattr(det, "face_mesh", lambda img, d, *a: (real(img, d, *a)[0], 0.05))
    assert det.detect(photo_array("astronaut")) == []


def _mosaic(image: np.ndarray, boxes, k: int):
    """``k`` × ``k`` copies of ``image`` shrunk ``k`` times (a crowd of small real faces at
    the original size) and the ground-truth boxes moved with them."""
    from PIL import Image

    h, w = image.shape[0] // k, image.shape[1] // k
    small = np.asarray(Image.fromarray(image).resize((w, h), Image.LANCZOS))
    canvas = np.zeros((h * k, w * k, 3), np.uint8)
    out = []
    for i in range(k):
        for j in range(k):
            canvas[i * h:(i + 1) * h, j * w:(j + 1) * w] = small
            out += [[b[0] / k + j * w, b[1] / k + i * h, b[2] / k + j * w, b[3] / k + i * h] for b in boxes]
    return canvas, out


def test_second_zoom_level_finds_a_crowd_of_small_faces(detectors, groundtruth, monkeypatch):
    """The group photo as a 2 × 2 mosaic at half size (1280 × 886, 24 faces of ~58 px): the
    whole image finds none, the first zoom level 11 (at ~7 % of a tile, new: the second
    level's cue), the second level the rest, with no false face (the mesh rejects the two
    false ones at flags 0.03/0.003). As a 3 × 3 mosaic (~39 px faces) most of the 54."""
    image = _photo("insightface_t1")
    boxes = _certain(groundtruth, "insightface_t1")
    det = detectors["default"]
    calls: list = []
    real = det._detect_window
    monkeypatch.setattr(det, "_detect_window", lambda img, win, *a: calls.append(win) or real(img, win, *a))
    for k, least in ((2, 24), (3, 40)):
        canvas, truth = _mosaic(image, boxes, k)
        assert sum(_found(truth, detectors["bare"].detect(canvas))) == 0
        calls.clear()
        found = det.detect(canvas)
        assert sum(_found(truth, found)) >= least, k
        assert all(max(box_iou(t, d.box)[0] for t in truth) >= 0.3 for d in found)  # no false face
        assert len(calls) > 1 + len(zoom_windows(*canvas.shape[:2]))  # the second level ran


def test_second_zoom_level_only_for_new_small_faces():
    """fine_windows: nothing without small faces; with one, the fine tiles meeting its rows."""
    from autofix.detect.mediapipe_face import FINE_TILE, fine_windows
    from autofix.types import Detection

    big = Detection((100, 100, 300, 300), 0.9, "face")
    small = Detection((600, 400, 640, 440), 0.9, "face")
    assert fine_windows([], 886, 1280, 768) == [] and fine_windows([big], 886, 1280, 768) == []
    wins = fine_windows([small, big], 886, 1280, 768)
    side = int(np.ceil(FINE_TILE * 1280))
    assert wins and all(x1 - x0 == side and y0 < 460 and y1 > 380 for x0, y0, x1, y1 in wins)
    every = zoom_windows(886, 1280, tile=FINE_TILE, min_side=0)
    assert set(wins) < set(every) and {w for w in every if w[1] < 460 and w[3] > 380} == set(wins)


# --- the rotated search (tilted faces, photos on their side) --------------------------------


def _turned(image: np.ndarray, degrees: float):
    """``image`` turned counter-clockwise by ``degrees`` on a canvas that holds all of it
    (black corners; cv2's own matrix, independent of the detector's), and the map of boxes:
    the upright hull of a box's inscribed ellipse (the face) turned with it, or with
    ``corners`` the hull of the box's turned corners."""
    import cv2

    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    c, s = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(round(w * c + h * s)), int(round(w * s + h * c))
    m[0, 2] += nw / 2 - w / 2
    m[1, 2] += nh / 2 - h / 2
    turned = cv2.warpAffine(image, m, (nw, nh), borderMode=cv2.BORDER_CONSTANT)

    def box(b, corners=False):
        if corners:
            pts = np.array([[b[0], b[1], 1], [b[2], b[1], 1], [b[0], b[3], 1], [b[2], b[3], 1]]) @ m.T
            return [pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max()]
        cx, cy = m @ np.array([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2, 1.0])
        a, e = (b[2] - b[0]) / 2, (b[3] - b[1]) / 2
        hw, hh = np.hypot(a * c, e * s), np.hypot(a * s, e * c)
        return [cx - hw, cy - hh, cx + hw, cy + hh]

    return turned, box


def test_rotation_maps_are_exact():
    """rotate_image: multiples of 90° are np.rot90 exactly; unrotate_detection maps keypoints
    through the exact inverse and the box to the upright hull of its ellipse turned back."""
    from autofix.detect.mediapipe_face import rotate_image, rotation_matrix, unrotate_detection
    from autofix.types import Detection

    img = np.random.default_rng(0).integers(0, 256, (7, 11, 3), dtype=np.uint8)
    for turn, k in ((90, 1), (-90, -1), (180, 2), (0, 0)):
        out, matrix = rotate_image(img, turn)
        assert np.array_equal(out, np.rot90(img, k)), turn
    # the warp (other turns) puts pixels where the matrix says: a bright block's centroid
    block = np.zeros((120, 200, 3), np.uint8)
    block[30:36, 140:146] = 255  # centre (143, 33)
    for turn in (45, -30, 135):
        out, matrix = rotate_image(block, turn)
        ys, xs = np.nonzero(out[..., 0].astype(float) > 0)
        weights = out[ys, xs, 0].astype(float)
        centroid = (np.average(xs + 0.5, weights=weights), np.average(ys + 0.5, weights=weights))
        np.testing.assert_allclose(centroid, matrix @ np.array([143.0, 33.0, 1.0]), atol=0.25)
    # pixel (x, y) of the image, i.e. the point (x + 0.5, y + 0.5), lands on pixel (y, 10 - x) at 90°
    matrix, nw, nh = rotation_matrix(7, 11, 90)
    assert (nw, nh) == (7, 11)
    np.testing.assert_allclose(matrix @ np.array([3.5, 1.5, 1.0]), [1.5, 11 - 3.5])
    # 45°: a canvas holding all of it; a point and its image
    matrix, nw, nh = rotation_matrix(100, 200, 45)
    assert (nw, nh) == (int(np.ceil(300 / np.sqrt(2))), int(np.ceil(300 / np.sqrt(2))))
    np.testing.assert_allclose(matrix @ np.array([100.0, 50.0, 1.0]), [nw / 2, nh / 2])
    kps = np.array([[90.0, 40.0], [110.0, 40.0], [100.0, 50.0], [100.0, 60.0], [80.0, 45.0], [120.0, 45.0]])
    turned_kps = kps @ matrix[:, :2].T + matrix[:, 2]
    cx, cy = turned_kps[2]
    det = Detection((cx - 20, cy - 30, cx + 20, cy + 30), 0.9, "face",
                    landmarks=turned_kps.astype(np.float32))
    back = unrotate_detection(det, matrix, 45, 200, 100)
    np.testing.assert_allclose(back.landmarks, kps, atol=1e-4)
    half = np.hypot(20 / np.sqrt(2), 30 / np.sqrt(2))  # the 40 x 60 ellipse turned 45°
    np.testing.assert_allclose(back.box, (100 - half, 50 - half, 100 + half, 50 + half), atol=1e-6)
    # 90°: width and height swap; a square box keeps its size at any turn
    matrix, nw, nh = rotation_matrix(100, 200, 90)
    det = Detection((10, 20, 50, 80), 0.9, "face")
    x, y = np.linalg.inv(np.vstack([matrix, [0, 0, 1]]))[:2] @ np.array([30, 50, 1.0])
    np.testing.assert_allclose(unrotate_detection(det, matrix, 90, 200, 100).box, (x - 30, y - 20, x + 30, y + 20))
    matrix, nw, nh = rotation_matrix(100, 200, 30)
    centre = Detection((nw / 2 - 10, nh / 2 - 10, nw / 2 + 10, nh / 2 + 10), 0.9, "face")
    back = unrotate_detection(centre, matrix, 30, 200, 100)
    np.testing.assert_allclose(back.box, (90, 40, 110, 60))
    assert back.box[2] - back.box[0] == pytest.approx(20) and back.box[3] - back.box[1] == pytest.approx(20)
    # a find in the turned copy's empty corner is nothing
    assert unrotate_detection(Detection((0, 0, 4, 4), 0.9, "face"), matrix, 30, 200, 100) is None


def test_face_roll_and_rotation_cues():
    from autofix.detect.mediapipe_face import face_roll
    from autofix.types import Detection

    def face(roll, score=0.9):
        rad = np.radians(roll)  # counter-clockwise on screen: the left eye (image right) goes up
        eyes = np.array([[-np.cos(rad), np.sin(rad)], [np.cos(rad), -np.sin(rad)]]) * 10 + 100
        pts = np.vstack([eyes, np.full((4, 2), 100.0)]).astype(np.float32)
        return Detection((80, 80, 120, 120), score, "face", landmarks=pts)

    assert face_roll(face(30)) == pytest.approx(30) and face_roll(face(-100)) == pytest.approx(-100)
    det = MediaPipeFace("full")
    assert det._rotation_cues([face(0), face(20), face(-34)]) == []
    # levelled by the opposite turn, snapped to 45°, best face first, each turn once
    assert det._rotation_cues([face(-71, 0.6), face(40, 0.9), face(50, 0.8)]) == [-45.0, 90.0]
    assert [abs(t) for t in det._rotation_cues([face(170)])] == [180.0]


ROTATED = [(name, turn) for name in ("zidane", "insightface_t1") for turn in (35, 45, 50, 90, -45, -90)]


@pytest.mark.parametrize("name,turn", ROTATED + [
    ("insightface_t1", 180),
    pytest.param("zidane", 180, marks=pytest.mark.xfail(
        reason="upside-down photos are not probed (a third pass on every image without a face); the "
               "upright pass itself finds Ancelotti upside down (keypoints and mesh as if upright, roll "
               "-9 deg), so no cue fires; the 180 deg turn would find Zidane (0.56)")),
])
def test_turned_photos_keep_their_faces(detectors, groundtruth, name, turn):
    """zidane.jpg and the group photo turned on a canvas that holds them: every certain face
    found (the upright search alone: 2/2 and 6/6 at 35°, 2/2 and 4/6 at 50°, 0/2 and 1/6 at
    90°, 1/2 and 0/6 at 180°), no false face, and the confirmed ones carry the mesh and mask."""
    image, truth = _photo(name), _certain(groundtruth, name)
    every = [f["box"] for f in groundtruth[KEYS[name]]["faces"]]
    turned, box = _turned(image, turn)
    found = detectors["registry"].detect(turned)
    assert all(_found([box(b) for b in truth], found)), found
    # a tilted face's upright box can stick out of the ellipse's: mostly inside the turned box counts
    assert all(max(box_iou(box(b, corners=True), d.box)[1] for b in every) >= 0.5 for d in found), found
    assert all(d.landmarks.shape == (468, 2) for d in found)


@pytest.mark.parametrize("name", ["coffee", "chelsea"])
@pytest.mark.parametrize("turn", [20, 45, 90, -90, 180])
def test_no_faces_in_turned_photos_without_people(detectors, name, turn):
    """The probes and turned copies add no face on the photos without people (the coffee
    cup seen at ±45° is the closest call: mesh flags 0.58 and 0.66, under ROTATED_FLAG)."""
    assert detectors["registry"].detect(_turned(photo_array(name), turn)[0]) == []


def test_rotated_search_runs_only_where_needed(monkeypatch):
    """Upright photos with a face (none rolled ≥ 35°) get exactly the upright search's
    passes; photos without a face the whole image turned ±90° on top (two passes); a photo
    on its side the turned search as well."""
    from autofix.detect import mediapipe_face as mf

    det, plain = MediaPipeFace("full", mesh=True), MediaPipeFace("full", mesh=True, rotate=False)
    turns: list[float] = []
    real = mf.rotation_matrix
    monkeypatch.setattr(mf, "rotation_matrix", lambda h, w, turn: turns.append(turn) or real(h, w, turn))
    for name in ("astronaut", "camera", "grace_hopper", "zidane", "bus", "insightface_t1"):
        image = _photo(name)
        turns.clear()
        assert len(det.detect(image)) == len(plain.detect(image)) and turns == [], name
    for name in ("coffee", "chelsea"):
        turns.clear()
        assert det.detect(photo_array(name)) == [] and turns == [90.0, -90.0], name
    turns.clear()
    assert len(det.detect(np.ascontiguousarray(np.rot90(photo_array("zidane"))))) == 2
    assert turns[:2] == [90.0, -90.0] and set(turns) == {90.0, -90.0}


def test_turned_frame_sees_what_a_turned_copy_shows(detectors):
    """The detector cuts each window of the turned frame from the image as a turned region
    (no turned copy): the same faces as the model on the turned copy (the two resample
    differently: boxes at IoU ≥ 0.8, scores within 0.1, keypoints within 10 % of the box)."""
    from autofix.detect import mediapipe_face as mf

    det = detectors["default"]
    for name, turn in (("zidane", 30), ("insightface_t1", -45), ("astronaut", 45), ("insightface_t1", 90)):
        image = _photo(name)
        copy, matrix = mf.rotate_image(image, turn)
        seen = det._detect_window(copy, (0, 0, copy.shape[1], copy.shape[0]), False, 0.5)
        m, w, h = mf.rotation_matrix(*image.shape[:2], turn)
        np.testing.assert_allclose(m, matrix)
        cut = det._detect_turned(image, (0, 0, w, h), (m, turn, w, h), 0.4)
        assert seen, name
        for a in seen:
            b = max(cut, key=lambda d: box_iou(a.box, d.box)[0])
            assert box_iou(a.box, b.box)[0] >= 0.8 and abs(a.score - b.score) < 0.1, (name, a, b)
            assert np.abs(a.landmarks - b.landmarks).max() < 0.1 * (a.box[2] - a.box[0]), name
