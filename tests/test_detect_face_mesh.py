"""Eyes and mouth from MediaPipe's face mesh (mediapipe_eyes / mediapipe_mouth /
mediapipe_face_mesh) on real photos, and the "face, then eyes, then mouth" preset through
the real CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("ai_edge_litert")

from autofix.config import DetectorConfig, build_config, preset_names  # noqa: E402
from autofix.detect import build_detector  # noqa: E402
from autofix.detect.mediapipe_face_mesh import MediaPipeFaceParts  # noqa: E402
from autofix.errors import ConfigError  # noqa: E402
from autofix.photos import photo_array  # noqa: E402

GT = {"astronaut": "skimage_astronaut.png", "grace_hopper": "matplotlib_grace_hopper.jpg",
      "zidane": "ultralytics_zidane.jpg"}


@pytest.fixture(scope="module")
def parts():
    dets = {p: MediaPipeFaceParts(p) for p in ("eyes", "mouth")}
    yield dets
    for d in dets.values():
        d.close()


def _centre(box):
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


def _inside(point, box, slack=0.0):
    return box[0] - slack <= point[0] <= box[2] + slack and box[1] - slack <= point[1] <= box[3] + slack


@pytest.mark.parametrize("photo", ["astronaut", "grace_hopper", "zidane"])
def test_two_eyes_and_a_mouth_per_face(parts, groundtruth, photo):
    """Every face of the photo gets two eyes side by side, brows included, above one mouth,
    all inside the hand-made face box; eyes are smaller than a third of the face."""
    image = photo_array(photo)
    faces = groundtruth[GT[photo]]["faces"]
    eyes, mouths = parts["eyes"].detect(image), parts["mouth"].detect(image)
    assert len(eyes) == 2 * len(faces) and len(mouths) == len(faces), (eyes, mouths)
    for face in faces:
        fb = face["box"]
        slack = 0.1 * (fb[2] - fb[0])
        mine = [e for e in eyes if _inside(_centre(e.box), fb, slack)]
        (mouth,) = [m for m in mouths if _inside(_centre(m.box), fb, slack)]
        assert len(mine) == 2, (fb, eyes)
        left, right = sorted(mine, key=lambda e: e.box[0])
        assert _centre(left.box)[0] < _centre(mouth.box)[0] < _centre(right.box)[0] or photo == "zidane"
        for eye in mine:
            assert _centre(eye.box)[1] < _centre(mouth.box)[1]
            assert eye.box[2] - eye.box[0] < (fb[2] - fb[0]) / 2
            assert eye.label == "eye" and eye.landmarks.shape == (26, 2) and eye.landmarks.dtype == np.float32
        assert mouth.label == "mouth" and mouth.landmarks.shape == (20, 2)
        assert mouth.box[2] - mouth.box[0] < (fb[2] - fb[0]) * 0.75


def test_no_parts_without_faces(parts):
    for part in parts.values():
        assert part.detect(photo_array("coffee")) == []


def test_registry_names_and_parts():
    eyes = build_detector(DetectorConfig(backend="mediapipe_eyes"))
    mouth = build_detector(DetectorConfig.model_validate("mediapipe_face_mesh:mouth"))
    assert (eyes.name, eyes.label, eyes.part) == ("mediapipe_eyes", "eye", "eyes")
    assert (mouth.name, mouth.label, mouth.part) == ("mediapipe_face_mesh:mouth", "mouth", "mouth")
    assert build_detector(DetectorConfig(backend="mediapipe_mouth", label="lips")).label == "lips"
    with pytest.raises(ConfigError, match="choose one of: eyes, mouth"):
        build_detector(DetectorConfig(backend="mediapipe_face_mesh", model="nose"))


def test_preset_face_then_eyes_then_mouth_through_the_cli(tmp_path, groundtruth):
    """``autofix fix --preset faces+eyes+mouth`` on a real portrait plans the face, then
    its two eyes, then its mouth, each inside the face."""
    assert "faces+eyes+mouth" in preset_names()
    assert [s.name for s in build_config("faces+eyes+mouth").stages] == ["face", "eye", "mouth"]
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(photo_array("astronaut")).save(src / "a.png")
    res = subprocess.run([sys.executable, "-m", "autofix.cli.main", "fix", str(src), "-o", str(tmp_path / "out"),
                          "--preset", "faces+eyes+mouth", "--dry-run", "-q"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    plan = json.loads((tmp_path / "out" / "_autofix" / "plans" / "a.png.plan.json").read_text())
    stages = {s["stage"]: s for s in plan["stages"]}
    assert [s["stage"] for s in plan["stages"]] == ["face", "eye", "mouth"]
    assert [stages[k]["detector"] for k in ("eye", "mouth")] == ["mediapipe_eyes", "mediapipe_mouth"]
    assert [len(stages[k]["regions"]) for k in ("face", "eye", "mouth")] == [1, 2, 1]
    (face_gt,) = groundtruth[GT["astronaut"]]["faces"]
    face_box = stages["face"]["regions"][0]["box"]
    eyes = [r["box"] for r in stages["eye"]["regions"]]
    mouth = stages["mouth"]["regions"][0]["box"]
    for box in eyes + [mouth]:
        assert _inside(_centre(box), face_box) and _inside(_centre(box), face_gt["box"])
        assert (box[2] - box[0]) * (box[3] - box[1]) < 0.2 * (face_box[2] - face_box[0]) * (face_box[3] - face_box[1])
    assert max(_centre(b)[1] for b in eyes) < _centre(mouth)[1]
    assert (tmp_path / "out" / "_autofix" / "plans" / "a.png.01-eye.png").is_file()
