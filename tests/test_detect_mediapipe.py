"""MediaPipe face and hand detectors (shipped .tflite models on LiteRT) on real photos,
checked against hand-made ground truth.

Items marked ``tiny`` or ``uncertain`` in tests/data are judgement calls and never fail a
test. Known gaps are pinned as non-strict xfails (camera.png's second gloved hand; the
short-range face model on bus.jpg's small faces).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("ai_edge_litert")

from autofix.config import DetectorConfig  # noqa: E402
from autofix.detect import build_detector  # noqa: E402
from autofix.detect.mediapipe_face import MediaPipeFace, box_iou, tile_windows  # noqa: E402
from autofix.detect.mediapipe_hands import MediaPipeHands  # noqa: E402
from autofix.detect import litert  # noqa: E402
from autofix.errors import ConfigError, ModelNotFound  # noqa: E402
from autofix.photos import photo_array  # noqa: E402
from autofix.types import HAND_MIDDLE_MCP, HAND_WRIST, Detection  # noqa: E402

GT_KEYS = {
    "astronaut": "skimage_astronaut.png",
    "camera": "skimage_camera.png",
    "grace_hopper": "matplotlib_grace_hopper.jpg",
    "zidane": "ultralytics_zidane.jpg",
    "bus": "ultralytics_bus.jpg",
}


def _load(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


@pytest.fixture(scope="module")
def photos(astronaut, camera, zidane_path, grace_hopper_path) -> dict[str, np.ndarray]:
    """The people photos as (H, W, 3) uint8 RGB arrays, keyed like GT_KEYS."""
    return {
        "astronaut": astronaut,
        "camera": camera,
        "grace_hopper": _load(grace_hopper_path),
        "zidane": _load(zidane_path),
        "bus": photo_array("bus"),
    }


@pytest.fixture(scope="module")
def faces():
    """One detector per face model, shared by the module's tests."""
    dets = {m: MediaPipeFace(model=m) for m in ("short", "full")}
    yield dets
    for det in dets.values():
        det.close()


@pytest.fixture(scope="module")
def hands():
    det = MediaPipeHands()
    yield det
    det.close()


def _certain(items: list[dict]) -> list[dict]:
    return [it for it in items if not it.get("tiny") and not it.get("uncertain")]


def _best(box, dets: list[Detection]) -> tuple[float, Detection | None]:
    """Best IoU of ground-truth ``box`` over ``dets`` and the detection achieving it."""
    scored = [(box_iou(box, d.box)[0], d) for d in dets]
    return max(scored, key=lambda t: t[0], default=(0.0, None))


def _check_records(dets: list[Detection], image: np.ndarray, label: str, source: str, n: int) -> None:
    h, w = image.shape[:2]
    for d in dets:
        x0, y0, x1, y1 = d.box
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
        assert 0.0 <= d.score <= 1.0
        assert d.label == label and d.source == source and d.mask is None
        assert d.landmarks.shape == (n, 2) and d.landmarks.dtype == np.float32


def _same(a: list[Detection], b: list[Detection]) -> bool:
    def eq(x: Detection, y: Detection) -> bool:
        return x.box == y.box and x.score == y.score and np.array_equal(x.landmarks, y.landmarks)

    return len(a) == len(b) and all(eq(x, y) for x, y in zip(a, b))


# --------------------------------------------------------------------------- faces


FACE_CASES = [
    (photo, model)
    for photo in ("astronaut", "camera", "grace_hopper", "zidane")
    for model in ("short", "full")
] + [("bus", "full")]


@pytest.mark.parametrize("photo,model", FACE_CASES)
def test_faces_match_groundtruth(photos, faces, groundtruth, photo, model):
    image = photos[photo]
    dets = faces[model].detect(image)
    _check_records(dets, image, "face", f"mediapipe_face:{model}", 6)
    gt = _certain(groundtruth[GT_KEYS[photo]]["faces"])
    assert gt, "ground truth lists no certain face"
    for item in gt:
        iou, _ = _best(item["box"], dets)
        assert iou >= 0.3, f"{photo}/{model}: face {item['box']} best IoU {iou:.2f}, found {dets}"
    assert len(dets) <= len(groundtruth[GT_KEYS[photo]]["faces"]), "extra faces"


@pytest.mark.xfail(reason="short range is for close-up faces; bus.jpg's faces are ~50 px", strict=False)
def test_short_range_misses_small_faces(photos, faces, groundtruth):
    dets = faces["short"].detect(photos["bus"])
    assert all(_best(it["box"], dets)[0] >= 0.3 for it in _certain(groundtruth[GT_KEYS["bus"]]["faces"]))


@pytest.mark.parametrize("model", ["short", "full"])
def test_no_faces_without_people(faces, model):
    assert faces[model].detect(photo_array("coffee")) == []


@pytest.mark.parametrize("mirrored", [False, True])
def test_face_keypoints_keep_subject_sides(photos, faces, mirrored):
    """Keypoints are in MediaPipe order; the mirrored pass swaps left/right back."""
    image = photos["astronaut"]
    window = (0, 0, image.shape[1], image.shape[0])
    (det,) = faces["full"]._detect_window(image, window, mirrored)  # one pass, not merged
    right_eye, left_eye, nose, mouth, right_ear, left_ear = det.landmarks
    assert right_eye[0] < nose[0] < left_eye[0]  # subject's right appears on image left
    assert right_ear[0] < left_ear[0]
    assert max(right_eye[1], left_eye[1]) < nose[1] < mouth[1]
    x0, y0, x1, y1 = det.box
    assert x0 <= nose[0] <= x1 and y0 <= nose[1] <= y1


def test_short_range_windows_cover_image():
    assert tile_windows(512, 512, 512) == [(0, 0, 512, 512)]
    assert tile_windows(720, 1280, 720) == [(0, 0, 720, 720), (360, 0, 1080, 720), (560, 0, 1280, 720)]
    assert tile_windows(1080, 810, 810) == [(0, 0, 810, 810), (0, 270, 810, 1080)]


# --------------------------------------------------------------------------- hands


@pytest.mark.parametrize("photo", ["astronaut", "grace_hopper"])
def test_no_hands_where_none(photos, hands, groundtruth, photo):
    assert groundtruth[GT_KEYS[photo]]["hands"] == []
    assert hands.detect(photos[photo]) == []


@pytest.mark.parametrize("photo", ["zidane", "bus"])
def test_hands_match_groundtruth(photos, hands, groundtruth, photo):
    """Every certain hand is found; its wrist landmark lies near the hand-made wrist point.

    MediaPipe's wrist landmark is the wrist joint; the ground truth marks the cuff line,
    39 px away on Zidane's ~200 px hand. Tolerance: max(25 px, 25% of the hand's size).
    """
    image = photos[photo]
    dets = hands.detect(image)
    _check_records(dets, image, "hand", "mediapipe_hands", 21)
    for item in _certain(groundtruth[GT_KEYS[photo]]["hands"]):
        iou, det = _best(item["box"], dets)
        assert iou >= 0.3, f"{photo}: hand {item['box']} best IoU {iou:.2f}, found {dets}"
        x0, y0, x1, y1 = item["box"]
        tol = max(25.0, 0.25 * max(x1 - x0, y1 - y0))
        dist = float(np.hypot(*(det.landmarks[HAND_WRIST] - item["wrist"])))
        assert dist <= tol, f"{photo}: wrist {dist:.0f} px from {item['wrist']} (tolerance {tol:.0f})"
    assert len(dets) <= len(groundtruth[GT_KEYS[photo]]["hands"]), "extra hands"


def test_hand_landmarks_order(photos, hands):
    """Zidane points to the right: fingertips right of the wrist, MCP in between."""
    (det,) = hands.detect(photos["zidane"])
    wrist, mcp, index_tip = det.landmarks[HAND_WRIST], det.landmarks[HAND_MIDDLE_MCP], det.landmarks[8]
    assert wrist[0] < mcp[0] < index_tip[0]
    x0, y0, x1, y1 = det.box
    assert x0 < det.landmarks[:, 0].min() and det.landmarks[:, 0].max() < x1


def test_camera_one_gloved_hand(photos, hands, groundtruth):
    """The raised gloved hand (right of the camera) is found; MediaPipe's own graph missed it."""
    dets = hands.detect(photos["camera"])
    raised = _certain(groundtruth[GT_KEYS["camera"]]["hands"])[1]
    assert _best(raised["box"], dets)[0] >= 0.3, dets
    assert len(dets) <= len(groundtruth[GT_KEYS["camera"]]["hands"])


@pytest.mark.xfail(reason="black gloves on a black coat, grayscale: the lower hand is not found (the landmark "
                          "model sees a hand in 5 of 1,500 regions placed on its hand-made box, all at one size "
                          "and rotation; the pose model's hand points for it are off)", strict=False)
def test_camera_gloved_hands(photos, hands, groundtruth):
    dets = hands.detect(photos["camera"])
    assert all(_best(it["box"], dets)[0] >= 0.3 for it in _certain(groundtruth[GT_KEYS["camera"]]["hands"]))


def test_max_hands_caps_result(photos):
    with MediaPipeHands(max_hands=1) as det:
        assert len(det.detect(photos["bus"])) == 1
    with pytest.raises(ConfigError, match="max_hands must be at least 1"):
        MediaPipeHands(max_hands=0)


# --------------------------------------------------------------------------- both


def test_registry_builds_short_face():
    det = build_detector(DetectorConfig(backend="mediapipe_face", model="short"))
    assert isinstance(det, MediaPipeFace) and det.name == "mediapipe_face:short"


def test_registry_defaults_and_labels():
    assert build_detector(DetectorConfig(backend="mediapipe_face")).name == "mediapipe_face:full"
    assert build_detector(DetectorConfig.model_validate("mediapipe_face:full")).name == "mediapipe_face:full"
    assert build_detector(DetectorConfig(backend="mediapipe_face", label="head")).label == "head"
    hand = build_detector(DetectorConfig(backend="mediapipe_hands", label="palm"))
    assert isinstance(hand, MediaPipeHands) and hand.name == "mediapipe_hands" and hand.label == "palm"


@pytest.mark.parametrize(
    "backend,model,valid",
    [("mediapipe_face", "medium", "short, full"), ("mediapipe_hands", "lite", "full")],
)
def test_unknown_model_is_config_error(backend, model, valid):
    with pytest.raises(ConfigError, match=f"choose one of: {valid}"):
        build_detector(DetectorConfig(backend=backend, model=model))


@pytest.mark.parametrize("make", [MediaPipeFace, MediaPipeHands])
@pytest.mark.parametrize(
    "bad,shown",
    [
        (np.zeros((32, 32), np.uint8), "shape (32, 32) and dtype uint8"),
        (np.zeros((32, 32, 4), np.uint8), "shape (32, 32, 4)"),
        (np.zeros((32, 32, 3), np.float32), "dtype float32"),
        (np.zeros((0, 32, 3), np.uint8), "shape (0, 32, 3)"),
        ([[0, 0, 0]], "got list"),
    ],
)
def test_rejects_non_rgb_uint8(make, bad, shown):
    with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8 RGB") as info:
        make().detect(bad)
    assert shown in str(info.value)


@pytest.mark.parametrize("photo", ["zidane", "bus"])
def test_deterministic(photos, faces, hands, photo):
    image = photos[photo]
    pairs = [(faces["short"], MediaPipeFace("short")), (faces["full"], MediaPipeFace("full"))]
    for det, fresh in pairs + [(hands, MediaPipeHands())]:
        first = det.detect(image)
        assert _same(first, det.detect(image))
        assert _same(first, fresh.detect(image))
        fresh.close()


def test_pickles_without_models(photos):
    import pickle

    det = build_detector(DetectorConfig(backend="mediapipe_hands"))
    assert det._models  # the factory loads (and verifies) the models
    copy = pickle.loads(pickle.dumps(det))
    assert copy._models is None and _same(det.detect(photos["zidane"]), copy.detect(photos["zidane"]))


def test_close_is_safe_and_reusable(photos):
    det = MediaPipeFace("short")
    det.close()  # before first use
    first = det.detect(photos["astronaut"])
    det.close()
    det.close()
    assert _same(first, det.detect(photos["astronaut"]))
    det.close()


def test_runtime_not_imported_at_module_import():
    code = "import sys, autofix.detect; print(any(m in sys.modules for m in ('ai_edge_litert', 'mediapipe', 'cv2')))"
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root)
    assert out.stdout.strip() == "False"


def test_detect_path_imports_no_matplotlib(photos):
    """Detecting with both detectors pulls in neither matplotlib nor MediaPipe."""
    code = (
        "import sys, numpy as np\n"
        "from autofix.detect.mediapipe_face import MediaPipeFace\n"
        "from autofix.detect.mediapipe_hands import MediaPipeHands\n"
        "img = np.zeros((256, 256, 3), np.uint8)\n"
        "MediaPipeFace().detect(img); MediaPipeHands().detect(img)\n"
        "print(sorted(m for m in ('matplotlib', 'mediapipe', 'jax', 'torch') if m in sys.modules))"
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
    assert "XNNPACK" not in out.stderr  # LiteRT's native INFO line is silenced


# --------------------------------------------------------------------------- shipped models


def test_shipped_models_match_manifest():
    """Every shipped .tflite is listed with its sha256 and size, and nothing else ships there."""
    models = litert.manifest()
    files = {p.name for p in litert.MODEL_DIR.glob("*.tflite")}
    assert files == {m["file"] for m in models.values()}
    for name, entry in models.items():
        path = litert.model_path(name)
        assert path.stat().st_size == entry["bytes"]
        assert litert.sha256_file(path) == entry["sha256"]
    assert (litert.MODEL_DIR / "LICENSE").read_text().lstrip().startswith("Apache License")


def test_damaged_or_unknown_model_is_refused(tmp_path, monkeypatch):
    with pytest.raises(ModelNotFound, match="no shipped model 'nope'"):
        litert.model_path("nope")
    name = "face_detection_short_range"
    bad = tmp_path / "tflite"
    bad.mkdir()
    (bad / "models.json").write_bytes((litert.MODEL_DIR / "models.json").read_bytes())
    (bad / litert.manifest()[name]["file"]).write_bytes(b"not the model")
    monkeypatch.setattr(litert, "MODEL_DIR", bad)
    monkeypatch.setattr(litert, "_verified", {})
    with pytest.raises(ModelNotFound, match="is damaged: sha256"):
        litert.TFLiteModel(name)


def test_model_runs_by_name():
    """The runtime layer on its own: load a shipped model by name and run it."""
    model = litert.TFLiteModel("face_detection_short_range", num_threads=1)
    assert model.input_size == (128, 128)
    boxes, scores = model.run(np.zeros(model.input_shape, np.float32))
    assert boxes.shape == (1, 896, 16) and scores.shape == (1, 896, 1)


# --------------------------------------------------------------------------- people-guided hand search


def test_pose_finds_people_and_wrists(photos, hands, groundtruth):
    """The pose models find the person in each portrait and none in photos without people;
    on camera.png both pose wrists lie at the two gloved hands."""
    from autofix.detect.mediapipe_pose import HAND_POINTS, find_people

    def people(image):
        return find_people(hands._model("pose_detection"), hands._model("pose_landmark_full"), image)

    for photo in ("astronaut", "camera", "grace_hopper", "bus"):
        assert len(people(photos[photo])) >= 1, photo
    for photo in ("coffee", "chelsea"):
        assert people(photo_array(photo)) == [], photo
    (person,) = people(photos["camera"])
    for item in _certain(groundtruth[GT_KEYS["camera"]]["hands"]):
        x0, y0, x1, y1 = item["box"]
        gaps = [max(x0 - p[0], 0, p[0] - x1) + max(y0 - p[1], 0, p[1] - y1)
                for p in (person.landmarks[HAND_POINTS[s][0]] for s in ("left", "right"))]
        assert min(gaps) <= 20, (item["box"], gaps)


def test_guided_search_finds_hand_without_palm_detection(photos, hands, groundtruth):
    """From Zidane's pose (the landmark model seeded at his face) the wrist alone —
    Holistic's hand region + hand_recrop + the landmark model, no palm detection — finds
    his pointing hand."""
    from autofix.detect.blaze import FACE_FULL, detect_ssd
    from autofix.detect.mediapipe_pose import landmarks_in_roi, person_roi_from_face

    image = photos["zidane"]
    h, w = image.shape[:2]
    faces = detect_ssd(hands._model(FACE_FULL.model), FACE_FULL, image, 0.5)
    people = [landmarks_in_roi(hands._model("pose_landmark_full"), image, person_roi_from_face(f, w, h), f.score)
              for f in faces]
    guided, _ = hands._guided(image, [p for p in people if p is not None], found=[])
    (item,) = _certain(groundtruth[GT_KEYS["zidane"]]["hands"])
    iou, det = _best(item["box"], guided)
    assert iou >= 0.5, guided
    x0, y0, x1, y1 = item["box"]
    assert float(np.hypot(*(det.landmarks[HAND_WRIST] - item["wrist"]))) <= max(25.0, 0.25 * max(x1 - x0, y1 - y0))


@pytest.mark.parametrize("photo,most", [("astronaut", 1), ("grace_hopper", 1), ("zidane", 1), ("camera", 3),
                                        ("bus", 4)])
def test_zoom_only_where_it_can_find_something(photos, photo, most, monkeypatch):
    """Palm passes per photo: the whole image, plus zoom windows only around small people
    (bus) and raised visible wrists with no hand found (camera); blind tiles ran 9-21."""
    det = MediaPipeHands()
    calls = []
    real = det._detect_window
    monkeypatch.setattr(det, "_detect_window", lambda img, win, known=None: calls.append(win) or real(img, win, known))
    det.detect(photos[photo])
    assert 1 <= len(calls) <= most, calls
    tiles = MediaPipeHands(search="tiles")
    assert len(tiles.zoom_windows(*photos[photo].shape[:2])) >= 9


def test_person_windows_tight_where_the_wide_one_hardly_magnifies(photos):
    """A small face whose window of WINDOW_FACES face sizes would cover over TIGHT_ABOVE of
    the longer side (under 2x zoom: a group photo's faces) also gets a tight window of
    TIGHT_FACES face sizes below it; smaller faces get the wide one only."""
    from autofix.detect.mediapipe_hands import TIGHT_ABOVE, TIGHT_FACES, WINDOW_FACES

    image = photos["zidane"]  # 720 x 1280
    longest = max(image.shape[:2])
    det = MediaPipeHands()
    near = 0.095 * longest  # just under SMALL_FACE
    assert WINDOW_FACES * near > TIGHT_ABOVE * longest
    ((tight, wide),) = det.person_windows(image, [(640.0, 150.0, near)])
    assert tight[2] - tight[0] == pytest.approx(TIGHT_FACES * near, abs=1)
    assert (tight[0] + tight[2]) / 2 == pytest.approx(640.0, abs=1)  # centred below the face
    assert wide[2] - wide[0] == pytest.approx(min(WINDOW_FACES * near, 720), abs=1)
    small = 0.05 * longest
    ((none, wide),) = det.person_windows(image, [(640.0, 150.0, small)])
    assert none is None
    assert wide[2] - wide[0] == pytest.approx(WINDOW_FACES * small, abs=1)


def test_group_photo_search_order(monkeypatch):
    """The group photo: the whole image, then the wide windows of its four small faces (2
    searched: Chandler's is a near-duplicate of Joey's, Ross's magnifies under LOW_ZOOM and
    shares most of Joey's), then Phoebe's card hand (looking down, no BlazeFace
    face: the pose search of faceless people) in a window of WRIST_WINDOW shoulder widths
    on its hand region, then the tight windows that do not hold two found hands by then (1
    of 4: Monica's hand on the table). Every window search is accounted for."""
    from autofix.detect.mediapipe_hands import LOW_ZOOM, WRIST_WINDOW, _distinct_windows

    image = photo_array("insightface_t1")
    det = MediaPipeHands()
    calls = []
    real = det._detect_window
    monkeypatch.setattr(det, "_detect_window", lambda img, win, known=None: calls.append(win) or real(img, win, known))
    found = det.detect(image)
    people, small, crowd = det._people(image)
    pairs = det.person_windows(image, small)
    assert crowd and len(pairs) == 4 and all(t is not None for t, _ in pairs)
    wide = _distinct_windows([w for _, w in pairs], low_zoom=max(image.shape[:2]) / LOW_ZOOM)
    assert len(wide) == 2 and len(_distinct_windows([w for _, w in pairs])) == 3
    assert calls[: 1 + len(wide)] == [(0, 0, image.shape[1], image.shape[0]), *wide]
    (phoebe,) = people
    assert phoebe.landmarks[0][0] > 0.85 * image.shape[1]  # her nose: the rightmost person
    (wrist_window, *tights) = calls[1 + len(wide):]
    assert abs((wrist_window[2] - wrist_window[0]) - WRIST_WINDOW * phoebe.size) <= 1
    assert len(tights) == 1 and tights[0] in [t for t, _ in pairs]
    hand = max(found, key=lambda d: box_iou((1183, 565, 1262, 634), d.box)[0])
    assert box_iou((1183, 565, 1262, 634), hand.box)[0] >= 0.5
    assert box_iou(hand.box, wrist_window)[1] == 1.0  # found by that window


@pytest.mark.parametrize("photo, runs", [("camera", 1), ("zidane", 0), ("astronaut", 0), ("grace_hopper", 0),
                                         ("bus", 0), ("coffee", 0), ("chelsea", 0)])
def test_pose_models_only_where_they_can_find_someone(photos, photo, runs, monkeypatch):
    """The pose models run only when a mid-sized face has its person's hips in the image
    (HIPS_MARGIN face sizes inside its edges): not without faces (coffee, chelsea), not when
    every face is small (bus: windows instead) or large (astronaut: 0.21 of the side), not
    for a head-and-shoulders portrait (grace_hopper), not where the hips estimated from the
    only face BlazeFace finds sit at the bottom edge (zidane: Ancelotti's, 15 px above it;
    the pose detector finds no one there)."""
    import autofix.detect.mediapipe_pose as pose

    calls = []
    real = pose.find_people
    monkeypatch.setattr(pose, "find_people", lambda *a, **k: calls.append(1) or real(*a, **k))
    image = photos[photo] if photo in photos else photo_array(photo)
    MediaPipeHands().detect(image)
    assert len(calls) == runs


def test_unknown_search_is_config_error():
    with pytest.raises(ConfigError, match="choose one of: people, tiles"):
        MediaPipeHands(search="grid")


def test_alignment_roi_maths():
    from autofix.detect.blaze import alignment_roi

    # scale point straight above the centre: already at 90°, no rotation; side = 2 × distance
    assert alignment_roi((10.0, 20.0), (10.0, 10.0), target_degrees=90.0) == pytest.approx((10, 20, 20, 20, 0))
    # to the right: turned by +90° (clockwise on screen); scale after, shift along the rotated y axis
    cx, cy, w, h, rot = alignment_roi((0.0, 0.0), (5.0, 0.0), target_degrees=90.0, scale=2.0, shift_y=-0.5)
    assert rot == pytest.approx(np.pi / 2) and w == h == pytest.approx(20.0)
    assert (cx, cy) == pytest.approx((5.0, 0.0))  # -0.5 × 10 px along rotated y = towards the scale point


def test_hand_roi_from_pose_maths():
    """Holistic's region: middle = (2·index + pinky) / 3, side 2·|wrist→middle| × 2.7, shifted −0.1."""
    from autofix.detect.mediapipe_pose import Person, hand_roi_from_pose

    marks = np.zeros((33, 2))
    marks[16], marks[18], marks[20] = (100.0, 200.0), (90.0, 170.0), (120.0, 170.0)  # right wrist, pinky, index
    vis = np.ones(33)
    person = Person(marks, vis, vis, 1.0, 1.0, (0, 0, 1, 1, 0))
    cx, cy, w, h, rot = hand_roi_from_pose(person, "right")
    middle = np.array([110.0, 170.0])
    side = 2 * np.hypot(*(middle - marks[16]))
    assert w == h == pytest.approx(2.7 * side)
    assert rot == pytest.approx(np.pi / 2 - np.arctan2(30.0, 10.0))
    assert np.hypot(cx - middle[0], cy - middle[1]) == pytest.approx(0.1 * side)
    vis2 = vis.copy()
    vis2[16] = 0.05
    assert hand_roi_from_pose(Person(marks, vis2, vis, 1.0, 1.0, (0, 0, 1, 1, 0)), "right") is None
