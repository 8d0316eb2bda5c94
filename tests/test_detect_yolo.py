"""YOLO detector: tiny random models through the real loader and predictor, on real photos.

Needs ultralytics with a working torchvision (``/work/venv-vision``-style environment);
elsewhere only the "backend unavailable" test runs.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json

import numpy as np
import pytest

from autofix.config import DetectorConfig
from autofix.detect.base import DETECTORS
from autofix.errors import BackendUnavailable, ConfigError, ModelNotFound, UnsafeModelFile
from autofix.photos import photo_array

HAS_VISION = all(importlib.util.find_spec(m) for m in ("torchvision", "ultralytics"))


@pytest.fixture(scope="module")
def yolo_mod():
    pytest.importorskip("torchvision")
    pytest.importorskip("ultralytics")
    from autofix.detect import yolo

    return yolo


@pytest.fixture(autouse=True)
def _no_pickle_env(monkeypatch, tmp_path):
    monkeypatch.delenv("AUTOFIX_ALLOW_PICKLE", raising=False)
    monkeypatch.delenv("AUTOFIX_MANIFEST", raising=False)
    monkeypatch.setenv("AUTOFIX_MODELS", str(tmp_path / "no-models-here"))


@pytest.fixture(scope="module")
def tiny_models(yolo_mod, tmp_path_factory):
    from vision_tiny import build_tiny_yolo

    root = tmp_path_factory.mktemp("yolo")
    return {
        "det": build_tiny_yolo(root / "tiny_face_hand.pt", names=("face", "hand")),
        "seg": build_tiny_yolo(root / "tiny_person-seg.pt", names=("person",), seg=True),
    }


def _well_formed(dets, image, names, with_masks):
    h, w = image.shape[:2]
    for d in dets:
        x0, y0, x1, y1 = d.box
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
        assert 0.0 <= d.score <= 1.0 and d.label in names and d.source == "yolo"
        if with_masks:
            assert d.mask is not None and d.mask.shape == (h, w) and d.mask.dtype == bool
        else:
            assert d.mask is None


@pytest.mark.skipif(HAS_VISION, reason="only meaningful without torchvision")
def test_registry_reports_missing_torchvision():
    import autofix.detect.yolo  # noqa: F401

    with pytest.raises(BackendUnavailable, match=r"needs .*torchvision.*autofix\[yolo\]"):
        DETECTORS.build("yolo", DetectorConfig(backend="yolo", model="face_yolov8n.pt"))


def test_unlisted_pickle_is_refused(yolo_mod, tiny_models):
    with pytest.raises(UnsafeModelFile, match=r"tiny_face_hand\.pt: refusing to load a pickle"):
        yolo_mod.YoloDetector(tiny_models["det"])


def test_detect_on_real_photo(yolo_mod, tiny_models):
    det = yolo_mod.YoloDetector(tiny_models["det"], allow_pickle=True, conf=1e-4, imgsz=320, max_det=5)
    assert det.name == "yolo:tiny_face_hand.pt" and det.names == {0: "face", 1: "hand"}
    assert not det.is_segmentation
    image = photo_array("zidane")
    dets = det.detect(image)
    assert isinstance(dets, list) and len(dets) <= 5
    _well_formed(dets, image, {"face", "hand"}, with_masks=False)
    assert det.detect(image) == dets  # deterministic


def test_manifest_hash_makes_it_trusted(yolo_mod, tiny_models, tmp_path, monkeypatch):
    path = tiny_models["det"]
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    manifest = tmp_path / "manifest.json"
    entry = {"name": "tiny", "file": path.name, "task": "yolo", "sha256": digest}
    manifest.write_text(json.dumps({"version": 1, "models": [entry]}))
    monkeypatch.setenv("AUTOFIX_MANIFEST", str(manifest))
    assert yolo_mod.YoloDetector(path).names[0] == "face"


def test_registry_factory_allow_pickle_paths(yolo_mod, tiny_models, monkeypatch):
    cfg = DetectorConfig.model_validate(f"yolo:{tiny_models['det']}")
    with pytest.raises(UnsafeModelFile):
        DETECTORS.build("yolo", cfg)
    assert DETECTORS.build("yolo", cfg, allow_pickle=True).name == "yolo:tiny_face_hand.pt"
    monkeypatch.setenv("AUTOFIX_ALLOW_PICKLE", "1")
    assert DETECTORS.build("yolo", cfg).name == "yolo:tiny_face_hand.pt"


def test_bare_name_is_found_in_models_folder(yolo_mod, tiny_models, tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOFIX_MODELS", str(tiny_models["det"].parent))
    cfg = DetectorConfig(backend="yolo", model="tiny_face_hand.pt")
    assert DETECTORS.build("yolo", cfg, allow_pickle=True).path == tiny_models["det"].resolve()
    with pytest.raises(ModelNotFound, match=r"put face_yolov8n\.pt at .*autofix models pull face_yolov8n"):
        DETECTORS.build("yolo", DetectorConfig(backend="yolo", model="face_yolov8n.pt"))
    with pytest.raises(ConfigError, match="needs a model file"):
        DETECTORS.build("yolo", DetectorConfig(backend="yolo"))


def test_classes_and_label(yolo_mod, tiny_models):
    kw = dict(allow_pickle=True, conf=1e-4, imgsz=320, max_det=5)
    image = photo_array("astronaut")
    hands = yolo_mod.YoloDetector(tiny_models["det"], classes=["hand"], **kw).detect(image)
    assert all(d.label == "hand" for d in hands)
    relabeled = yolo_mod.YoloDetector(tiny_models["det"], label="head", **kw).detect(image)
    assert relabeled and all(d.label == "head" for d in relabeled)
    with pytest.raises(ConfigError, match=r"has no class 'cat'; its classes are: face, hand"):
        yolo_mod.YoloDetector(tiny_models["det"], classes=["cat"], **kw)


def test_segmentation_model_returns_masks(yolo_mod, tiny_models):
    # ultralytics drops seg candidates whose mask is empty, so keep max_det at its default
    det = yolo_mod.YoloDetector(tiny_models["seg"], allow_pickle=True, conf=1e-4, imgsz=320)
    assert det.is_segmentation
    image = photo_array("zidane")
    dets = det.detect(image)
    assert dets, "a random seg head at conf 1e-4 still yields candidates with non-empty masks"
    _well_formed(dets, image, {"person"}, with_masks=True)


def test_results_conversion_resizes_masks_and_clips(yolo_mod):
    import torch
    from ultralytics.engine.results import Results

    image = np.zeros((60, 80, 3), np.uint8)
    boxes = torch.tensor([[-5.0, 10.0, 50.0, 70.0, 0.8, 1.0], [20.0, 20.0, 20.0, 30.0, 0.9, 0.0]])
    masks = torch.zeros((2, 30, 40))
    masks[0, 5:15, 0:20] = 1.0
    result = Results(image, path="x.jpg", names={0: "face", 1: "hand"}, boxes=boxes, masks=masks)
    dets = yolo_mod.results_to_detections(result, {0: "face", 1: "hand"})
    assert len(dets) == 1  # the zero-width box is dropped
    d = dets[0]
    assert d.box == (0.0, 10.0, 50.0, 60.0) and d.label == "hand" and d.score == pytest.approx(0.8)
    assert d.mask.shape == (60, 80) and d.mask[20, 10] and not d.mask[50, 70]
    assert yolo_mod.results_to_detections(result, {0: "face", 1: "hand"}, label="x")[0].label == "x"


def test_ultralytics_side_effects_are_undone(yolo_mod, tiny_models, tmp_path):
    import io
    import subprocess
    import sys

    from PIL import Image, UnidentifiedImageError

    yolo_mod.YoloDetector(tiny_models["det"], allow_pickle=True)
    with pytest.raises(UnidentifiedImageError):  # not "No module named 'pi_heif'"
        Image.open(io.BytesIO(b"not an image"))
    code = (
        "import cv2, numpy as np, torch; from PIL import Image; n = cv2.getNumThreads(); o = np.get_printoptions();"
        "from autofix.detect.yolo import _import_yolo; _import_yolo();"
        "assert cv2.getNumThreads() == n and np.get_printoptions() == o;"
        "assert Image.open.__module__.startswith('PIL') and torch.save.__module__.startswith('torch')"
    )
    env = {**__import__("os").environ, "YOLO_CONFIG_DIR": str(tmp_path)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=120)
