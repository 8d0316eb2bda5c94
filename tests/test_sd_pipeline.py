"""The Stable Diffusion backend through the whole pipeline (detect → plan → batch inpaint →
composite → checkpoint), with tiny models the tests build and save as A1111-style single
files; and an add-difference merged checkpoint running as a 9-channel model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("diffusers")

from autofix.config import build_config  # noqa: E402
from autofix.photos import photo_array  # noqa: E402
from autofix.run.batch import run_folder  # noqa: E402

from sd_tiny import build_tiny_pipeline, make_tiny_models, save_single_file  # noqa: E402

FAST = ["stages.*.inpaint.steps=4", "stages.*.inpaint.strength=0.5", "stages.*.crop.resolution=128"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_models(tmp_path_factory.mktemp("tiny"), ("sd15-inpainting", "sd15"))


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    src = tmp_path_factory.mktemp("photos")
    Image.fromarray(photo_array("zidane")).save(src / "zidane.png")
    return src


def _cfg(model: Path, config_dir: Path, extra=()):
    return build_config("faces", patch={"inpainter": {"model": str(model), "config_dir": str(config_dir)}},
                        overrides=FAST + list(extra))


def _check_outside_identical(src: Path, out: Path, rel: str) -> np.ndarray:
    before = np.asarray(Image.open(src / rel).convert("RGB"))
    after = np.asarray(Image.open(out / rel).convert("RGB"))
    from autofix.run.snapshots import SnapshotStore

    mask = np.max(SnapshotStore(out / "_autofix").stage_unions(Path(rel), after.shape[:2]), axis=0)
    assert np.array_equal(after[mask == 0], before[mask == 0])
    return after


@pytest.mark.parametrize("variant", ["sd15-inpainting", "sd15"])
def test_single_file_model_fixes_faces_and_keeps_outside_pixels(tiny, photos, tmp_path, variant):
    model = tiny[variant]
    out = tmp_path / "out"
    summary = run_folder(photos, out, _cfg(model.single_file, model.config_dir), progress=False)
    assert summary.exit_code() == 0 and summary.outcomes[0].status == "fixed"
    after = _check_outside_identical(photos, out, "zidane.png")
    assert after.shape == photo_array("zidane").shape
    side = json.loads((out / "zidane.png.autofix.json").read_text())
    stage = side["stages"][0]
    assert stage["inpainter"]["backend"] == "diffusers"
    assert stage["inpainter"]["in_channels"] == (9 if variant == "sd15-inpainting" else 4)
    assert [r["seed"] for r in stage["regions"]] == [0, 1] and all(r["repainted"] for r in stage["regions"])


def test_fixed_seed_reproduces_through_the_pipeline(tiny, photos, tmp_path):
    model = tiny["sd15-inpainting"]
    cfg = _cfg(model.single_file, model.config_dir, ["stages.*.inpaint.seed=7"])
    a = run_folder(photos, tmp_path / "a", cfg, progress=False)
    b = run_folder(photos, tmp_path / "b", cfg, progress=False)
    assert a.outcomes[0].status == b.outcomes[0].status == "fixed"
    assert (tmp_path / "a" / "zidane.png").read_bytes() == (tmp_path / "b" / "zidane.png").read_bytes()


def test_never_worse_guard_keeps_originals_when_candidates_are_noise(tiny, photos, tmp_path):
    model = tiny["sd15-inpainting"]  # random weights: every candidate face is noise
    cfg = _cfg(model.single_file, model.config_dir, ["stages.*.inpaint.candidates=3",
                                                     "stages.*.inpaint.strength=1.0"])
    out = tmp_path / "out"
    summary = run_folder(photos, out, cfg, progress=False)
    assert summary.outcomes[0].status == "planned"  # regions found, none made worse
    regions = json.loads((out / "zidane.png.autofix.json").read_text())["stages"][0]["regions"]
    assert len(regions) == 2
    for r in regions:
        assert not r["repainted"] and r["reason"].startswith("kept original")
        assert len(r["candidate_scores"]) == 3 and max(r["candidate_scores"]) <= r["original_score"]
    assert (out / "zidane.png").read_bytes() == (photos / "zidane.png").read_bytes()


def test_merged_inpaint_checkpoint_runs_as_9_channel_model(tiny, photos, tmp_path):
    from autofix.modelfiles.merge import make_inpaint

    finetune = save_single_file(build_tiny_pipeline("sd15", 4, seed=11), tmp_path / "finetune.safetensors")
    merged = tmp_path / "finetune-inpainting.safetensors"
    report = make_inpaint(finetune, tiny["sd15-inpainting"].single_file, tiny["sd15"].single_file, merged,
                          fp16=False, progress=False)
    assert report.counts()["input_conv"] == 1
    out = tmp_path / "out"
    summary = run_folder(photos, out, _cfg(merged, tiny["sd15-inpainting"].config_dir), progress=False)
    assert summary.outcomes[0].status == "fixed"
    stage = json.loads((out / "zidane.png.autofix.json").read_text())["stages"][0]
    assert stage["inpainter"]["in_channels"] == 9
    _check_outside_identical(photos, out, "zidane.png")


def test_remove_with_candidates_keeps_candidate_0_without_scoring(tiny, photos, tmp_path):
    model = tiny["sd15-inpainting"]
    cfg = build_config("remove", patch={"inpainter": {"model": str(model.single_file),
                                                      "config_dir": str(model.config_dir)}},
                       overrides=FAST + ["stages.*.inpaint.candidates=2", "stages.*.detector.refine=none"])
    from autofix.detect.user_prompts import prompts_from_args

    out = tmp_path / "out"
    summary = run_folder(photos, out, cfg, progress=False,
                         prompts={"zidane.png": prompts_from_args(["900,100,1100,330"], [])})
    assert summary.outcomes[0].status == "fixed", summary.outcomes[0].detail
    region = json.loads((out / "zidane.png.autofix.json").read_text())["stages"][0]["regions"][0]
    assert region["repainted"] and "candidate_scores" not in region
    _check_outside_identical(photos, out, "zidane.png")
