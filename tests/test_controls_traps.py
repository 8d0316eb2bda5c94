"""Issue 14 (6): the traps in presets and settings — recursive repaint refused unless --force,
steps × strength and masked_content at strength 1.0 as config errors reported once before any
image, the remove preset's masked_content meaningful, invert acting on the union."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from autofix.config import ConfigError, build_config
from autofix.photos import photo_array
from autofix.run.repaint_guard import previous_repaint


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autofix.cli.main", *args], capture_output=True, text=True,
                          timeout=600)


def test_previous_repaint_reads_autofix_own_record():
    chunk = json.dumps({"autofix": "0.1.0", "autofix stages": "hand:0/1 face:1/2", "autofix inpainter": "x"})
    assert previous_repaint({"autofix": chunk}) == "autofix 0.1.0 repainted face:1/2"
    none = json.dumps({"autofix": "0.1.0", "autofix stages": "hand:0/1 face:0/2"})
    assert previous_repaint({"autofix": none}) is None  # re-encoded, nothing repainted
    assert previous_repaint({}) is None and previous_repaint({"autofix": "not json"}) is None
    params = "a cat\nSteps: 20, Seed: 1, autofix: 0.1.0, autofix stages: \"face:1/1\""
    assert previous_repaint({"parameters": params}) == "autofix repainted face:1/1"


def test_second_pass_is_refused_unless_force(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(photo_array("astronaut")).save(src / "a.png")
    first = _cli("fix", str(src), "-o", str(tmp_path / "once"), "--preset", "faces", "--inpainter", "classical",
                 "--no-report", "-q")
    assert first.returncode == 0, first.stderr
    again = _cli("fix", str(tmp_path / "once"), "-o", str(tmp_path / "twice"), "--preset", "faces",
                 "--inpainter", "classical", "--no-report", "-q")
    assert again.returncode == 3
    errors = [line for line in again.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "already repainted" in errors[0] and "--force" in errors[0], again.stderr
    assert not (tmp_path / "twice" / "a.png").exists()
    forced = _cli("fix", str(tmp_path / "once"), "-o", str(tmp_path / "forced"), "--preset", "faces",
                  "--inpainter", "classical", "--no-report", "-q", "--force")
    assert forced.returncode == 0, forced.stderr
    assert (tmp_path / "forced" / "a.png").exists()


def test_no_denoising_step_is_one_config_error_before_any_image(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for name in ("astronaut", "coffee"):
        Image.fromarray(photo_array(name)).save(src / f"{name}.png")
    res = _cli("fix", str(src), "-o", str(tmp_path / "out"), "--steps", "2", "--strength", "0.3", "-q")
    assert res.returncode == 1
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "no denoising step" in lines[0], res.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.png"))


def test_masked_content_at_strength_one_and_the_remove_preset():
    remove = build_config("remove").stages[0].inpaint
    assert remove.masked_content == "fill" and remove.strength < 1.0  # fill does something here
    with pytest.raises(ConfigError, match="does nothing at strength 1.0"):
        build_config("remove", overrides=["stages.*.inpaint.strength=1.0"])
    build_config("remove", overrides=["stages.*.inpaint.strength=1.0", "stages.*.inpaint.masked_content=original"])


def test_invert_is_the_complement_of_the_union():
    from autofix.plan import plan_stage
    from autofix.types import Detection

    stage = build_config("faces", overrides=["stages.*.mask.invert=true", "stages.*.mask.dilate=0",
                                             "stages.*.mask.shape=box"]).stages[0]
    dets = [Detection((10, 10, 30, 30), 0.9, "face"), Detection((60, 20, 90, 50), 0.9, "face")]
    (region,) = plan_stage(dets, (100, 120), stage).regions
    assert region.hard_mask[15, 15] == 0 and region.hard_mask[30, 70] == 0  # no face is repainted
    assert region.hard_mask[80, 5] == 255
    assert np.count_nonzero(region.hard_mask) == 100 * 120 - 20 * 20 - 30 * 30
