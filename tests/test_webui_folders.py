"""Detector and checkpoint folders of A1111/Forge and ComfyUI installs (issue: real generator files, item 7)."""

from __future__ import annotations

from pathlib import Path

import pytest

from autofix.config import build_config
from autofix.errors import ModelNotFound
from autofix.inpaint.sd_loading import models_root, scan_model_dir
from autofix.modelfiles import store
from autofix.run.backends import Backends


def _touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _a1111(root: Path) -> Path:
    _touch(root / "models" / "Stable-diffusion" / "dreamshaper_8.safetensors")
    _touch(root / "models" / "Lora" / "detail.safetensors")
    _touch(root / "models" / "VAE" / "vae-ft-mse.safetensors")
    _touch(root / "models" / "adetailer" / "face_yolov8n.pt", b"yolo face")
    _touch(root / "models" / "sam" / "sam_vit_b_01ec64.pth", b"sam")
    return root


def _comfy(root: Path) -> Path:
    _touch(root / "models" / "checkpoints" / "juggernaut.safetensors")
    _touch(root / "models" / "loras" / "x.safetensors")
    _touch(root / "models" / "ultralytics" / "bbox" / "hand_yolov8s.pt", b"yolo hand")
    _touch(root / "models" / "ultralytics" / "segm" / "person_yolov8m-seg.pt", b"yolo seg")
    _touch(root / "models" / "sams" / "sam_vit_l_0b3195.pth", b"sam l")
    return root


@pytest.mark.parametrize("where", ["root", "models"])
def test_bare_detector_names_are_found_in_webui_folders(tmp_path, monkeypatch, where):
    a1111, comfy = _a1111(tmp_path / "sd-webui"), _comfy(tmp_path / "ComfyUI")
    given = [a1111, comfy] if where == "root" else [a1111 / "models", comfy / "models"]
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AUTOFIX_MODELS", raising=False)
    with pytest.raises(ModelNotFound):
        store.resolve("hand_yolov8s.pt", task="yolo")
    monkeypatch.setenv("AUTOFIX_WEBUI_DIRS", ":".join(str(p) for p in given))
    assert store.resolve("face_yolov8n.pt", task="yolo") == (a1111 / "models/adetailer/face_yolov8n.pt").resolve()
    assert store.resolve("hand_yolov8s.pt", task="yolo") == (comfy / "models/ultralytics/bbox/hand_yolov8s.pt").resolve()
    assert store.resolve("person_yolov8m-seg.pt", task="yolo").parent.name == "segm"
    assert store.resolve("sam_vit_l_0b3195.pth", task="sam").parent.name == "sams"
    assert store.resolve("sam_vit_b_01ec64.pth", task="sam").parent.name == "sam"
    with pytest.raises(ModelNotFound):  # a SAM folder is not searched for YOLO files
        store.resolve("sam_vit_l_0b3195.pth", task="yolo")
    # the stage key follows the file found there
    cfg = build_config("faces", overrides=["stages.face.detector=yolo:face_yolov8n.pt"])
    ident = Backends(cfg).stage_identity(cfg.stages[0])["detector_model"]
    assert ident["path"].endswith("models/adetailer/face_yolov8n.pt")


def test_model_dir_offers_only_checkpoints(tmp_path):
    a1111, comfy = _a1111(tmp_path / "sd-webui"), _comfy(tmp_path / "ComfyUI")
    for given in (a1111, a1111 / "models"):
        assert models_root(given) == (a1111 / "models" / "Stable-diffusion").resolve()
        assert [m.name for m in scan_model_dir(given)] == ["dreamshaper_8"]
    for given in (comfy, comfy / "models"):
        assert [m.name for m in scan_model_dir(given)] == ["juggernaut"]


def test_webui_dir_flag_reaches_the_detector_loader(tmp_path):
    import subprocess
    import sys

    from PIL import Image

    a1111 = _a1111(tmp_path / "sd-webui")
    (tmp_path / "in").mkdir()
    Image.new("RGB", (64, 64)).save(tmp_path / "in" / "a.png")
    res = subprocess.run([sys.executable, "-m", "autofix.cli.main", "fix", str(tmp_path / "in"), "-o",
                          str(tmp_path / "out"), "--webui-dir", str(a1111), "--preset", "faces",
                          "--set", "stages.face.detector=yolo:face_yolov8n.pt"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=300)
    # the fake file is found in models/adetailer (then refused as not a YOLO model: one line)
    assert res.returncode != 0 and "models/adetailer/face_yolov8n.pt" in res.stderr, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
