"""The group photo read from the insightface wheel (``insightface_t1``: six people at a
poker table, hands holding cards and chips), the hand-made ground truth of every open
photo, and what the default detectors find on the group photo.

The photo is read from ``insightface-2.1-py3-none-any.whl`` (``scripts/install.sh``
downloads it); a missing wheel fails them with the fetch command, as the other photo
tests do (CI must not pass by skipping). The shipped hand search finds every certain hand
of the group photo.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from autofix import photos
from autofix.photos import photo_array

GT = json.loads((Path(__file__).parent / "data" / "open-photos-groundtruth.json").read_text())["images"]
KEY = "insightface_t1.jpg"
WHEEL = photos.WHEEL_PHOTOS["insightface_t1"][0]


@pytest.fixture(scope="module")
def group() -> np.ndarray:
    return photo_array("insightface_t1")


def _fake_wheel(folder: Path) -> tuple[Path, np.ndarray]:
    """A zip named like the insightface wheel holding a small PNG at the photo's member path."""
    pixels = np.random.default_rng(0).integers(0, 256, (12, 16, 3), dtype=np.uint8)
    png = io.BytesIO()
    Image.fromarray(pixels).save(png, format="PNG")
    path = folder / WHEEL
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(photos.WHEEL_PHOTOS["insightface_t1"][2], png.getvalue())
    return path, pixels


# --------------------------------------------------------------------------- loader


def test_reads_the_group_photo(group):
    assert group.shape == (886, 1280, 3) and group.dtype == np.uint8
    assert group.std() > 20  # a real photo, not a blank


def test_reads_a_wheel_with_the_listed_sha256(tmp_path, monkeypatch):
    path, pixels = _fake_wheel(tmp_path)
    monkeypatch.setenv("AUTOFIX_PHOTO_WHEELS", str(tmp_path))
    wheel, _, member = photos.WHEEL_PHOTOS["insightface_t1"]
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    monkeypatch.setitem(photos.WHEEL_PHOTOS, "insightface_t1", (wheel, digest, member))
    assert np.array_equal(photo_array("insightface_t1"), pixels)


def test_rejects_a_wheel_with_another_sha256(tmp_path, monkeypatch):
    _fake_wheel(tmp_path)
    monkeypatch.setenv("AUTOFIX_PHOTO_WHEELS", str(tmp_path))
    with pytest.raises(ValueError, match="sha256"):
        photo_array("insightface_t1")


def test_missing_wheel_names_the_fetch_command(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOFIX_PHOTO_WHEELS", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"pip download --no-deps --only-binary=:all: -q insightface==2\.1 -d "):
        photo_array("insightface_t1")


# --------------------------------------------------------------------------- ground truth


def _boxes(entry: dict):
    for kind in ("faces", "hands"):
        for item in entry[kind]:
            yield kind, item


@pytest.mark.parametrize("key", sorted(GT))
def test_groundtruth_is_well_formed(key):
    entry = GT[key]
    assert entry["source"] and entry["notes"]
    w, h = entry["width"], entry["height"]
    for kind, item in _boxes(entry):
        fields = {"box", "tiny", "uncertain"} | ({"wrist", "partly_hidden"} if kind == "hands" else set())
        assert set(item) == fields, (kind, item)
        x0, y0, x1, y1 = item["box"]
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h, (kind, item["box"])
        if kind == "hands":  # the wrist crease lies on the hand box's edge, within a few pixels
            wx, wy = item["wrist"]
            assert x0 - 5 <= wx <= x1 + 5 and y0 - 5 <= wy <= y1 + 5, item


def test_group_photo_groundtruth(group):
    entry = GT[KEY]
    assert (entry["height"], entry["width"]) == group.shape[:2]
    assert len(entry["faces"]) >= 6 and len(entry["hands"]) >= 6
    assert sum(not h["uncertain"] for h in entry["hands"]) >= 6


# --------------------------------------------------------------------------- detectors


def _best_iou(box, boxes) -> float:
    from autofix.detect.mediapipe_face import box_iou

    return max((box_iou(box, b)[0] for b in boxes), default=0.0)


@pytest.fixture(scope="module")
def found(group) -> dict:
    """What the shipped face and hand detectors (as the presets build them) find on the group photo."""
    from autofix.config import DetectorConfig
    from autofix.detect import build_detector

    faces = build_detector(DetectorConfig(backend="mediapipe_face"))
    hands = build_detector(DetectorConfig(backend="mediapipe_hands"))
    return {"faces": [d.box for d in faces.detect(group)], "hands": [d.box for d in hands.detect(group)]}


@pytest.mark.parametrize("index", range(len(GT[KEY]["faces"])))
def test_default_face_detector_finds_the_face(found, index):
    assert _best_iou(GT[KEY]["faces"][index]["box"], found["faces"]) >= 0.3


def test_default_face_detector_no_false_faces(found):
    faces = [f["box"] for f in GT[KEY]["faces"]]
    assert [box for box in found["faces"] if _best_iou(box, faces) < 0.3] == []


CERTAIN_HANDS = [i for i, h in enumerate(GT[KEY]["hands"]) if not h["uncertain"] and not h["tiny"]]


@pytest.mark.parametrize("index", CERTAIN_HANDS)
def test_default_hand_search_finds_the_hand(found, index):
    assert _best_iou(GT[KEY]["hands"][index]["box"], found["hands"]) >= 0.3


def test_default_hand_search_no_false_hands(found):
    hands = [h["box"] for h in GT[KEY]["hands"]]  # uncertain ones included
    assert [box for box in found["hands"] if _best_iou(box, hands) < 0.3] == []


@pytest.mark.parametrize("copy", ["scaled 0.8", "scaled 1.25", "jpeg 70"])
def test_card_hand_found_in_resized_and_recompressed_copies(group, copy):
    """Phoebe's card hand (thumb behind the cards; the palm detector misses it on the whole
    image and in the face windows) is found through the pose search of people whose face
    BlazeFace missed, on the photo scaled down and up and re-saved as a JPEG at quality 70,
    with no false hand. Measured limits: a mirrored copy and a copy cropped by 30/40 px
    miss it (the pose detector does not find her there, even at a floor of 0.2), and a
    greyscale copy loses five of the seven hands (the palm detector needs colour), as the
    previous search did."""
    import cv2
    from PIL import Image

    from autofix.detect.mediapipe_hands import MediaPipeHands

    h, w = group.shape[:2]
    scale = 1.0
    if copy.startswith("scaled"):
        scale = float(copy.split()[1])
        image = cv2.resize(group, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    else:
        buf = io.BytesIO()
        Image.fromarray(group).save(buf, "JPEG", quality=70)
        image = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    boxes = [d.box for d in MediaPipeHands().detect(image)]
    card = [v * scale for v in GT[KEY]["hands"][7]["box"]]
    assert _best_iou(card, boxes) >= 0.3, boxes
    hands = [[v * scale for v in item["box"]] for item in GT[KEY]["hands"]]
    assert [b for b in boxes if _best_iou(b, hands) < 0.3] == []
