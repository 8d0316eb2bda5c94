"""Issue 14 (3): keep-and-pick variations through the real CLI and the tiny SD pipeline on a
real photo: N candidate files per region, a pick that changes the final image (and only under
the region's mask), is recorded in the sidecar, and survives re-runs (unchanged, restored
from the rewritten snapshots, and recomputed)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from autofix.photos import photo_array

diffusers = pytest.importorskip("diffusers")


@pytest.fixture(scope="module")
def tiny_sd(tmp_path_factory):
    sys.path.insert(0, str(Path(__file__).parent))
    from sd_tiny import make_tiny_models

    return make_tiny_models(tmp_path_factory.mktemp("tiny"), ("sd15-inpainting",))["sd15-inpainting"]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autofix.cli.main", *args], capture_output=True, text=True,
                          timeout=600)


def _side(out: Path) -> dict:
    return json.loads((out / "a.png.autofix.json").read_text())


def test_keep_candidates_pick_and_rerun(tiny_sd, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(photo_array("astronaut")).save(src / "a.png")
    out = tmp_path / "out"
    fix = ("fix", str(src), "-o", str(out), "--preset", "faces", "--model", str(tiny_sd.single_file),
           "--model-config", str(tiny_sd.config_dir), "--steps", "2", "--strength", "0.5", "--resolution", "128",
           "--candidates", "3", "--keep-candidates", "-q")
    res = _cli(*fix)
    assert res.returncode == 0, res.stderr
    side = _side(out)
    (region,) = side["stages"][0]["regions"]
    folder = out / "_autofix" / "candidates" / "a.png" / "00-face"
    assert sorted(p.name for p in folder.glob("r0-c*.png")) == ["r0-c0.png", "r0-c1.png", "r0-c2.png"]
    assert region["candidates_sheet"] == "candidates/a.png/00-face/r0-sheet.jpg"
    sheet = np.asarray(Image.open(out / "_autofix" / region["candidates_sheet"]))
    assert sheet.shape[0] == 192 and sheet.shape[1] > 3 * 192 * 0.9  # original + 3 candidates side by side
    report = (out / "_autofix" / "report" / "index.html").read_text()
    assert "../candidates/a.png/00-face/r0-sheet.jpg" in report

    before = np.asarray(Image.open(out / "a.png")).copy()
    chosen = region["chosen_candidate"] if region["repainted"] else None
    k = 2 if chosen != 2 else 1
    res = _cli("pick", str(out), "a.png", "--stage", "face", "--region", "0", "--candidate", str(k), "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["candidate"] == k
    side = _side(out)
    (region,) = side["stages"][0]["regions"]
    assert region["chosen_candidate"] == k and region["picked_by"] == "user" and region["repainted"]
    picked = np.asarray(Image.open(out / "a.png")).copy()
    import hashlib

    assert hashlib.sha256((out / "a.png").read_bytes()).hexdigest() == side["output"]["sha256"]
    assert not np.array_equal(before, picked)
    # only the region's soft mask changed, and there the pick's pixels are candidate k composited
    mask = np.asarray(Image.open(folder / "r0-mask.png"))
    x0, y0, x1, y1 = json.loads((folder / "r0.json").read_text())["box"]
    outside = np.ones(before.shape[:2], bool)
    outside[y0:y1, x0:x1] = mask == 0
    np.testing.assert_array_equal(before[outside], picked[outside])
    from autofix.run.composite import blend_window
    from autofix.types import CropWindow

    soft = np.zeros(before.shape[:2], np.uint8)
    soft[y0:y1, x0:x1] = mask
    cand = np.asarray(Image.open(folder / f"r0-c{k}.png").convert("RGB"))
    original = np.asarray(Image.open(src / "a.png").convert("RGB"))
    expect = blend_window(original, cand, soft, CropWindow((x0, y0, x1, y1), (cand.shape[1], cand.shape[0])))
    np.testing.assert_array_equal(picked[y0:y1, x0:x1], expect)

    # a re-run keeps the pick: unchanged ...
    res = _cli(*fix, "--json")
    assert res.returncode == 0 and '"status": "unchanged"' in res.stdout, res.stdout + res.stderr
    np.testing.assert_array_equal(np.asarray(Image.open(out / "a.png")), picked)
    # ... restored from the rewritten snapshot when the final is gone ...
    (out / "a.png").unlink()
    res = _cli(*fix, "--json")
    assert res.returncode == 0, res.stderr
    np.testing.assert_array_equal(np.asarray(Image.open(out / "a.png")), picked)
    assert _side(out)["stages"][0]["regions"][0]["picked_by"] == "user"
    # ... and recomputed with the pick (picks.json, same stage key) when the snapshot is gone too
    (out / "a.png").unlink()
    shutil.rmtree(out / "_autofix" / "work")
    res = _cli(*fix, "--json")
    assert res.returncode == 0, res.stderr
    (region,) = _side(out)["stages"][0]["regions"]
    assert region["chosen_candidate"] == k and region["picked_by"] == "user"
    again = np.asarray(Image.open(out / "a.png")).astype(int)
    diff = np.abs(again - picked.astype(int))
    assert diff.max() <= 2 and (diff > 0).mean() < 0.01  # same seeds: the same candidate, up to float order


def test_pick_errors_are_one_line(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(photo_array("astronaut")).save(src / "a.png")
    out = tmp_path / "out"
    assert _cli("fix", str(src), "-o", str(out), "--preset", "faces", "--inpainter", "classical", "-q",
                "--no-report").returncode == 0
    for args, msg in ((("nope.png",), "no sidecar"), (("a.png", "--stage", "hand"), "no stage 'hand'"),
                      (("a.png", "--region", "5"), "no region 5"), (("a.png",), "no kept candidates")):
        full = ["pick", str(out), args[0], "--stage", "face", "--region", "0", "--candidate", "0", *args[1:]]
        res = _cli(*full)
        assert res.returncode == 1 and msg in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
