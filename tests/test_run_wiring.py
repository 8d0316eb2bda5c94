"""Detector options wired through `autofix fix`: YOLO files (pickle policy), refinement,
and missing models failing the run once, before any image."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from PIL import Image

from autofix.photos import photo_array


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "autofix.cli.main", *args], capture_output=True, text=True,
                          timeout=300)


@pytest.fixture()
def folder(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(photo_array("astronaut")).save(src / "a.png")
    Image.fromarray(photo_array("zidane")).save(src / "z.png")
    return src


def test_grabcut_refinement_through_fix(folder, tmp_path):
    res = _cli("fix", str(folder), "-o", str(tmp_path / "out"), "--preset", "faces", "--inpainter", "classical",
               "--set", "stages.face.detector.refine=grabcut", "-q")
    assert res.returncode == 0, res.stderr
    side = json.loads((tmp_path / "out" / "a.png.autofix.json").read_text())
    assert side["status"] == "fixed" and side["stages"][0]["detector"] == "mediapipe_face:full+grabcut"


def test_missing_models_fail_once_before_any_image(folder, tmp_path):
    yolo = _cli("fix", str(folder), "-o", str(tmp_path / "o1"), "--preset", "faces",
                "--set", "stages.face.detector=yolo:models/no_such_face.pt", "-q")
    assert yolo.returncode == 1 and len(yolo.stderr.strip().splitlines()) == 1
    assert "no_such_face.pt" in yolo.stderr or "torchvision" in yolo.stderr  # missing file, or no YOLO stack
    sd = _cli("fix", str(folder), "-o", str(tmp_path / "o2"), "--model", str(tmp_path / "nope.safetensors"), "-q")
    assert sd.returncode == 1 and "nope.safetensors" in sd.stderr
    assert not list((tmp_path / "o2").glob("*.png"))


def test_yolo_pickle_policy_through_fix(folder, tmp_path):
    pytest.importorskip("ultralytics")
    pytest.importorskip("torchvision")
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
    from vision_tiny import build_tiny_yolo

    model = build_tiny_yolo(tmp_path / "tiny_face.pt", names=("face",))
    args = ("fix", str(folder), "-o", str(tmp_path / "out"), "--preset", "faces", "--inpainter", "classical",
            "--set", f"stages.face.detector=yolo:{model}", "-q")
    refused = _cli(*args)
    assert refused.returncode == 1 and "tiny_face.pt" in refused.stderr and "--allow-pickle" in refused.stderr
    allowed = _cli(*args, "--allow-pickle")
    assert allowed.returncode == 0, allowed.stderr
    side = json.loads((tmp_path / "out" / "z.png.autofix.json").read_text())
    assert side["stages"][0]["detector"] == "yolo:tiny_face.pt"
