"""Issue 14 (7): region size rules from the detailers — drop_size, crop_factor, guide_size /
force_inpaint — in the planner and through the real CLI on a real photo."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from PIL import Image

from autofix.config import build_config
from autofix.photos import photo_array
from autofix.plan import plan_stage
from autofix.plan.crop import bucket_window, factor_box
from autofix.types import Detection


def _stage(*overrides: str):
    return build_config("faces", overrides=list(overrides)).stages[0]


def test_defaults_are_documented_off():
    s = _stage()
    assert s.filters.drop_size == 0 and s.crop.crop_factor is None and s.crop.guide_size is None
    assert s.crop.force_inpaint is False


def test_drop_size_drops_thin_detections_with_a_note():
    dets = [Detection((10, 10, 18, 60), 0.9, "face"), Detection((100, 100, 150, 150), 0.9, "face")]
    regions, notes = plan_stage(dets, (300, 300), _stage("stages.*.filters.drop_size=10"))
    assert len(regions) == 1 and regions[0].box == (100, 100, 150, 150)
    assert any("drop_size 10" in n for n in notes)
    regions, _ = plan_stage(dets, (300, 300), _stage())
    assert len(regions) == 2


def test_factor_box_is_centred_and_shifted_inside():
    assert factor_box((100, 100, 164, 164), (1000, 800), 3.0) == (36, 36, 228, 228)
    assert factor_box((0, 0, 40, 40), (1000, 800), 3.0) == (0, 0, 120, 120)  # keeps its size at the edge
    assert factor_box((900, 700, 1000, 800), (1000, 800), 3.0) == (700, 500, 1000, 800)
    assert factor_box((0, 0, 600, 100), (1000, 800), 3.0) == (0, 0, 1000, 300)  # capped by the image
    with pytest.raises(ValueError):
        factor_box((0, 0, 10, 10), (100, 100), 0.5)


def test_crop_factor_context_is_proportional_to_the_region():
    small = bucket_window((100, 100, 132, 132), (2000, 2000), 32, 512, crop_factor=3.0)
    big = bucket_window((500, 500, 900, 900), (2000, 2000), 32, 512, crop_factor=3.0)
    assert small.box[2] - small.box[0] == 96 and big.box[2] - big.box[0] == 1200
    # with padding the context is a constant 32 px per side
    assert bucket_window((500, 500, 900, 900), (2000, 2000), 32, 512).box == (468, 468, 932, 932)
    dets = [Detection((100, 100, 164, 164), 0.9, "face")]
    regions, _ = plan_stage(dets, (800, 1000), _stage("stages.*.crop.crop_factor=3", "stages.*.mask.blur=0",
                                                           "stages.*.mask.dilate=0", "stages.*.mask.shape=box"))
    x0, y0, x1, y1 = regions[0].crop.box
    assert (x0, y0, x1, y1) == (36, 36, 228, 228)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autofix.cli.main", *args], capture_output=True, text=True,
                          timeout=600)


def test_guide_size_skips_large_regions_unless_forced(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(photo_array("astronaut")).save(src / "a.png")  # one face, ~170 px
    base = ("fix", str(src), "--preset", "faces", "--inpainter", "classical", "--no-report", "-q")
    res = _cli(*base, "-o", str(tmp_path / "skip"), "--set", "stages.*.crop.guide_size=96")
    assert res.returncode == 0, res.stderr
    side = json.loads((tmp_path / "skip" / "a.png.autofix.json").read_text())
    (region,) = side["stages"][0]["regions"]
    assert not region["repainted"] and "already large enough" in region["reason"] and "guide_size 96" in region["reason"]
    assert (tmp_path / "skip" / "a.png").read_bytes() == (src / "a.png").read_bytes()
    forced = _cli(*base, "-o", str(tmp_path / "forced"), "--set", "stages.*.crop.guide_size=96",
                  "--set", "stages.*.crop.force_inpaint=true")
    assert forced.returncode == 0, forced.stderr
    (region,) = json.loads((tmp_path / "forced" / "a.png.autofix.json").read_text())["stages"][0]["regions"]
    assert region["repainted"]
    small = _cli(*base, "-o", str(tmp_path / "small"), "--set", "stages.*.crop.guide_size=2000")
    (region,) = json.loads((tmp_path / "small" / "a.png.autofix.json").read_text())["stages"][0]["regions"]
    assert small.returncode == 0 and region["repainted"]
