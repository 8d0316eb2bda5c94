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


def test_guide_window_scales_the_detections_shorter_side_to_guide_size():
    from autofix.plan.crop import guide_window
    from autofix.types import CropWindow

    window = CropWindow((100, 100, 300, 340), (448, 576))  # 200x240 box
    det = (150, 150, 230, 250)  # 80x100: shorter side 80
    assert guide_window(window, det, 256, 1024) == CropWindow((100, 100, 300, 340), (640, 768))  # x3.2
    # x6.4 would make the long side 1536: capped at 1024 -> x4.2667, 853.3 rounds to 856
    assert guide_window(window, det, 512, 1024) == CropWindow((100, 100, 300, 340), (856, 1024))
    assert guide_window(window, det, 80, 1024) == window  # already large enough (skipped unless forced)
    assert guide_window(window, det, 256, 192) == window  # the cap would shrink it: planned size kept


def test_guide_size_through_the_planner_and_step():
    from autofix.run.step import _guided

    dets = [Detection((100, 100, 164, 164), 0.9, "face")]  # 64x64
    box_mask = ("stages.*.mask.blur=0", "stages.*.mask.dilate=0", "stages.*.mask.shape=box")
    plain = _stage(*box_mask)
    (region,), _ = plan_stage(dets, (800, 1000), plain)
    assert region.crop.box == (68, 68, 196, 196) and region.crop.size == (512, 512)  # padding 32, the 512 bucket
    assert _guided(plain, region) is region  # guide_size unset: nothing changes
    got = {}
    for guide, extra in ((160, ()), (400, ()), (400, ("stages.*.crop.max_side=640",)), (64, ())):
        stage = _stage(*box_mask, f"stages.*.crop.guide_size={guide}", *extra)
        (planned,), _ = plan_stage(dets, (800, 1000), stage)
        guided = _guided(stage, planned)
        assert guided.crop.box == (68, 68, 196, 196)
        got[(guide, extra)] = guided.crop.size
        if guided is not planned:
            assert guided.notes[-1].startswith(f"guide_size {guide}: processed at {guided.crop.size[0]}x")
            assert guided.notes[-1].endswith("capped by max_side 640)" if extra else " px)")
    assert got == {(160, ()): (320, 320),  # 64 px -> 160: x2.5 of the 128 px window
                   (400, ()): (800, 800),  # x6.25, under the default cap 2 x 512
                   (400, ("stages.*.crop.max_side=640",)): (640, 640),  # capped
                   (64, ()): (512, 512)}  # at guide_size: skipped unless forced, size as planned


def test_guide_size_upscales_through_the_cli(tmp_path):
    """A real run with the tiny SD inpainting model: the sidecar's processing size is the crop
    box scaled so the detection's shorter side reaches guide_size (capped by max_side)."""
    import math
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    pytest.importorskip("diffusers")
    from sd_tiny import make_tiny_models

    model = make_tiny_models(tmp_path / "m", ("sd15-inpainting",))["sd15-inpainting"]
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(photo_array("astronaut")).save(src / "a.png")
    base = ("fix", str(src), "--preset", "faces", "--model", str(model.single_file), "--model-config",
            str(model.config_dir), "--steps", "2", "--strength", "0.5", "--resolution", "128", "-q", "--no-report")
    sizes = {}
    for name, extra in (("plain", ()), ("guided", ("--guide-size", "160", "--set", "stages.*.crop.max_side=512"))):
        res = _cli(*base, "-o", str(tmp_path / name), *extra)
        assert res.returncode == 0, res.stderr
        (region,) = json.loads((tmp_path / name / "a.png.autofix.json").read_text())["stages"][0]["regions"]
        assert region["repainted"]
        sizes[name] = region
    plain, guided = sizes["plain"], sizes["guided"]
    x0, y0, x1, y1 = guided["box"]
    short = min(x1 - x0, y1 - y0)
    assert short < 160
    cx0, cy0, cx1, cy1 = guided["crop"]["box"]
    scale = min(160 / short, 512 / max(cx1 - cx0, cy1 - cy0))

    def r8(v):
        return max(8, int(math.floor(v / 8 + 0.5)) * 8)

    assert guided["crop"]["size"] == [r8((cx1 - cx0) * scale), r8((cy1 - cy0) * scale)]
    assert plain["crop"]["box"] == guided["crop"]["box"] and plain["crop"]["size"] != guided["crop"]["size"]
    assert max(plain["crop"]["size"]) <= 256 and min(guided["crop"]["size"]) > 256
    assert any(n.startswith("guide_size 160: processed at") for n in guided["notes"])
