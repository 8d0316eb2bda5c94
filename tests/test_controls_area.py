"""Issue 14 (1): inpaint area "whole picture" (A1111 semantics) — frame maths, the planner,
the real CLI with the classical fill on a real photo, and the tiny SD pipeline with
resize_and_fill (the model's canvas, crop box = whole image, pixels outside the mask kept)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from autofix.config import build_config
from autofix.photos import photo_array
from autofix.plan import plan_stage
from autofix.plan.crop import fill_canvas, unfill_canvas, whole_frame
from autofix.types import Detection


def test_default_whole_frame_keeps_aspect_at_resolution_squared():
    f = whole_frame((1000, 600), 512)
    assert f.box == (0, 0, 1000, 600) and f.size == f.canvas == (664, 400) and f.offset == (0, 0)
    assert f.size[0] % 8 == 0 and f.size[1] % 8 == 0
    for mode in ("just_resize", "crop_and_resize", "resize_and_fill"):  # no canvas given: mode changes nothing
        assert whole_frame((1000, 600), 512, None, mode) == f


def test_resize_modes_follow_a1111():
    just = whole_frame((1000, 600), 512, (512, 512), "just_resize")
    assert just.box == (0, 0, 1000, 600) and just.size == just.canvas == (512, 512)
    crop = whole_frame((1000, 600), 512, (512, 512), "crop_and_resize")  # cover, cut the centre
    assert crop.box == (200, 0, 800, 600) and crop.size == (512, 512)
    fill = whole_frame((1000, 600), 512, (512, 512), "resize_and_fill")  # fit, pad with the edges
    assert fill.box == (0, 0, 1000, 600) and fill.size == (512, 307) and fill.canvas == (512, 512)
    assert fill.offset == (0, 102)
    pic = np.random.default_rng(0).integers(0, 256, (307, 512, 3), dtype=np.uint8)
    canvas = fill_canvas(pic, fill)
    assert canvas.shape == (512, 512, 3)
    np.testing.assert_array_equal(canvas[0], pic[0])  # bands repeat the edge rows
    np.testing.assert_array_equal(canvas[-1], pic[-1])
    np.testing.assert_array_equal(unfill_canvas(canvas, fill), pic)


def _stage(*overrides: str):
    return build_config("faces", overrides=list(overrides)).stages[0]


def test_planner_whole_area_crop_box_is_the_image():
    dets = [Detection((100, 80, 180, 180), 0.9, "face"), Detection((700, 300, 790, 420), 0.9, "face")]
    regions = plan_stage(dets, (600, 1000), _stage("stages.*.crop.area=whole")).regions
    assert len(regions) == 2
    for r in regions:
        assert r.crop.box == (0, 0, 1000, 600) and r.crop.size == (664, 400)
        assert any("whole picture" in n for n in r.notes)
    # crop_and_resize: a region outside the centre the canvas shows is dropped, with a note
    stage = _stage("stages.*.crop.area=whole", "stages.*.crop.whole_size=[512,512]",
                   "stages.*.crop.resize_mode=crop_and_resize")
    regions, notes = plan_stage(dets, (600, 1000), stage)
    assert len(regions) == 1 and regions[0].crop.box == (200, 0, 800, 600)
    assert not regions[0].soft_mask[:, :200].any() and not regions[0].soft_mask[:, 800:].any()
    assert any("crop_and_resize box" in n for n in notes)


def test_masked_stays_the_default():
    assert _stage().crop.area == "masked"
    regions = plan_stage([Detection((100, 80, 180, 180), 0.9, "face")], (600, 1000), _stage()).regions
    assert regions[0].crop.box != (0, 0, 1000, 600)


def _run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autofix.cli.main", *args], capture_output=True, text=True,
                          timeout=600)


def test_cli_whole_picture_classical_on_a_real_photo(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(photo_array("astronaut")).save(src / "a.png")
    out = tmp_path / "out"
    res = _run_cli("fix", str(src), "-o", str(out), "--preset", "faces", "--inpainter", "classical",
                   "--inpaint-area", "whole", "--no-report", "-q")
    assert res.returncode == 0, res.stderr
    side = json.loads((out / "a.png.autofix.json").read_text())
    (region,) = side["stages"][0]["regions"]
    assert region["crop"]["box"] == [0, 0, 512, 512] and region["repainted"]
    # only the masked pixels were composited: everything outside the stage's soft mask is the input's
    from autofix.run.snapshots import SnapshotStore

    (union,) = SnapshotStore(out / "_autofix").stage_unions(Path("a.png"), (512, 512))
    before, after = np.asarray(Image.open(src / "a.png")), np.asarray(Image.open(out / "a.png"))
    assert (union > 0).mean() < 0.2
    np.testing.assert_array_equal(before[union == 0], after[union == 0])
    assert not np.array_equal(before[union == 255], after[union == 255])


diffusers = pytest.importorskip("diffusers")


@pytest.fixture(scope="module")
def tiny_sd(tmp_path_factory):
    sys.path.insert(0, str(Path(__file__).parent))
    from sd_tiny import make_tiny_models

    return make_tiny_models(tmp_path_factory.mktemp("tiny"), ("sd15-inpainting",))["sd15-inpainting"]


def test_whole_picture_resize_and_fill_through_the_tiny_pipeline(tiny_sd, tmp_path):
    from autofix.inpaint.diffusion import DiffusionInpainter
    from autofix.run.batch import run_folder
    from autofix.run.executor import RunOptions
    from autofix.run.snapshots import SnapshotStore

    src = tmp_path / "in"
    src.mkdir()
    photo = photo_array("zidane")
    h, w = photo.shape[:2]
    Image.fromarray(photo).save(src / "z.png")
    cfg = build_config("faces", patch={"inpainter": {"model": str(tiny_sd.single_file),
                                                     "config_dir": str(tiny_sd.config_dir)}},
                       overrides=["stages.*.inpaint.steps=2", "stages.*.inpaint.strength=0.5",
                                  "stages.*.crop.area=whole", "stages.*.crop.whole_size=[128,128]",
                                  "stages.*.crop.resize_mode=resize_and_fill"])
    sizes, original = [], DiffusionInpainter._run

    def recording(self, chunk, s):
        sizes.extend((s.width, s.height) for _ in chunk)
        return original(self, chunk, s)

    DiffusionInpainter._run = recording
    try:
        summary = run_folder(src, tmp_path / "out", cfg, RunOptions(report=False), progress=False)
    finally:
        DiffusionInpainter._run = original
    assert summary.exit_code() == 0
    side = json.loads((tmp_path / "out" / "z.png.autofix.json").read_text())
    regions = side["stages"][0]["regions"]
    assert regions and sizes == [(128, 128)] * len(regions)  # the model saw the whole picture on its canvas
    for r in regions:
        assert r["crop"]["box"] == [0, 0, w, h] and r["crop"]["size"] == [128, 72] and r["repainted"]
    (union,) = SnapshotStore(tmp_path / "out" / "_autofix").stage_unions(Path("z.png"), (h, w))
    after = np.asarray(Image.open(tmp_path / "out" / "z.png"))
    np.testing.assert_array_equal(photo[union == 0], after[union == 0])
    assert not np.array_equal(photo[union > 0], after[union > 0])
