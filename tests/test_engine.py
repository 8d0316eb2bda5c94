"""The throughput engine: bucket maths, snapshots, window-size invariance, resume, the
incremental report, and batched VAE encoding — on real photos where detectors are involved."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from autofix.config import build_config
from autofix.photos import photo_array
from autofix.plan.crop import MAX_GROWTH, bucket_grid, bucket_window, buckets, crop_window
from autofix.run.batch import run_folder
from autofix.run.executor import RunOptions
from autofix.run.records import StageRecord
from autofix.run.report import THUMB_H, THUMB_W, thumb_size, write_report
from autofix.run.snapshots import SnapshotStore, apply_patches, encode_patches, pixels_sha256
from autofix.types import CropWindow

# --------------------------------------------------------------------------- bucket maths


def test_sd15_buckets_exact():
    assert bucket_grid(512) == ((256, 1024), (320, 768), (384, 640), (448, 576), (512, 512),
                                (576, 448), (640, 384), (768, 320), (1024, 256))
    assert buckets(512) == ((320, 768), (448, 576), (512, 512), (576, 448), (768, 320))


def test_sdxl_buckets_come_from_the_usual_set():
    grid = set(bucket_grid(1024))
    assert {(1024, 1024), (1152, 896), (896, 1152), (1216, 832), (1344, 768), (768, 1344)} <= grid
    assert buckets(1024) == ((640, 1600), (896, 1152), (1024, 1024), (1152, 896), (1600, 640))
    for w, h in grid:
        assert w % 64 == 0 and h % 64 == 0 and w * h <= 1024 * 1024 and max(w / h, h / w) <= 4


def test_square_window_gets_the_square_bucket():
    assert bucket_window((100, 100, 164, 164), (1000, 800), 32, 512) == CropWindow((68, 68, 196, 196), (512, 512))


def test_tall_window_grows_to_bucket_aspect_without_stretch():
    # padded box 128 x 264 (aspect 0.485) -> nearest bucket 320x768 (0.417): height grows to 308
    win = bucket_window((100, 100, 164, 300), (1000, 800), 32, 512)
    assert win == CropWindow((68, 46, 196, 354), (320, 768))
    x0, y0, x1, y1 = win.box
    assert abs((x1 - x0) / (y1 - y0) - 320 / 768) < 0.01


def test_window_is_shifted_inside_the_image_at_borders_not_cut():
    # a 100 x 64 support at the left edge: grown to 4:3-ish bucket width, shifted to x0 = 0
    win = bucket_window((0, 300, 40, 340), (1000, 800), 32, 512)
    x0, y0, x1, y1 = win.box
    assert x0 == 0 and y0 >= 0 and x1 <= 1000 and y1 <= 800
    bw, bh = win.size
    assert abs((x1 - x0) / (y1 - y0) - bw / bh) < 0.02  # the window has the bucket's aspect


def test_large_window_keeps_detail_by_default_and_downscale_is_an_option():
    keep = bucket_window((100, 100, 800, 700), (1000, 800), 32, 512)
    assert keep == CropWindow((23, 68, 877, 732), (832, 640))
    down = bucket_window((100, 100, 800, 700), (1000, 800), 32, 512, large="downscale")
    assert down.box == keep.box and down.size == (576, 448)
    capped = bucket_window((0, 0, 2000, 2000), (2000, 2000), 0, 512)
    assert capped.size == (1024, 1024)  # long side capped at 2 x resolution


def test_no_bucket_fits_keeps_the_window_shape():
    # a 20000 x 4 strip cannot grow to any bucket: the padded window is processed as before
    win = bucket_window((0, 0, 20000, 4), (20000, 4), 32, 512)
    assert win == crop_window((0, 0, 20000, 4), (20000, 4), 32, 512)


@pytest.mark.parametrize("support", [(5, 5, 60, 200), (300, 10, 900, 90), (0, 0, 1000, 800), (480, 380, 520, 420)])
def test_bucket_window_contains_padded_box_and_growth_is_bounded(support):
    padded = crop_window(support, (1000, 800), 32, 512)
    win = bucket_window(support, (1000, 800), 32, 512)
    px0, py0, px1, py1 = padded.box
    x0, y0, x1, y1 = win.box
    assert x0 <= px0 and y0 <= py0 and x1 >= px1 and y1 >= py1
    assert (x1 - x0) <= MAX_GROWTH * (px1 - px0) + 1 and (y1 - y0) <= MAX_GROWTH * (py1 - py0) + 1
    assert win.size in buckets(512) or win.size[0] % 64 == 0 or win == padded


# --------------------------------------------------------------------------- snapshots


def test_snapshot_patches_round_trip_exactly():
    rng = np.random.default_rng(0)
    before = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    union = np.zeros((120, 160), np.uint8)
    union[10:40, 20:70] = rng.integers(1, 256, (30, 50), dtype=np.uint8)
    union[80:110, 100:150] = 255
    after = before.copy()
    sel = union > 0
    after[sel] = rng.integers(0, 256, (int(sel.sum()), 3), dtype=np.uint8)
    blob, index = encode_patches(after, union, [(20, 10, 70, 40), (100, 80, 150, 110)])
    restored, got_union = apply_patches(before, blob, index)
    assert np.array_equal(restored, after) and np.array_equal(got_union, union)
    assert len(blob) < after.nbytes / 4  # only what the stage changed is stored


def test_snapshot_store_verifies_key_and_pixels(tmp_path):
    store = SnapshotStore(tmp_path)
    before = np.full((40, 50, 3), 7, np.uint8)
    after, union = before.copy(), np.zeros((40, 50), np.uint8)
    after[5:15, 5:25], union[5:15, 5:25] = 200, 255
    rec = StageRecord("face", 0, "face", "mediapipe_face", 1, None, [], [], key="k1", image_sha256=pixels_sha256(after))
    store.write(Path("a.png"), rec, after, union, [(5, 5, 25, 15)])
    got = store.load(Path("a.png"), 0, "face", "k1", before)
    assert got is not None and np.array_equal(got.image, after) and got.record.key == "k1"
    assert store.load(Path("a.png"), 0, "face", "other-key", before) is None
    assert store.load(Path("a.png"), 0, "face", "k1", before + 1) is None  # wrong base: pixels do not verify
    rec_path, blob_path = store.paths(Path("a.png"), 0, "face")
    blob_path.write_bytes(blob_path.read_bytes()[:-3])  # torn patch file
    assert store.load(Path("a.png"), 0, "face", "k1", before) is None


# --------------------------------------------------------------------------- folder runs


def _photos(root: Path, names=("astronaut", "zidane", "grace_hopper", "camera")) -> Path:
    src = root / "in"
    (src / "sub").mkdir(parents=True)
    for i, name in enumerate(names):
        Image.fromarray(photo_array(name)).save((src / "sub" if i % 2 else src) / f"{name}.png")
    (src / "broken.png").write_text("not an image")
    return src


def _outputs(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes()
            for p in sorted(out.rglob("*")) if p.is_file() and "_autofix" not in p.parts}


@pytest.fixture(scope="module")
def classical_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("engine")
    src = _photos(root)
    cfg = build_config("faces+hands", patch={"inpainter": {"backend": "classical"}})
    runs = {}
    for window, threaded in ((1, False), (16, True), (2, True)):
        out = root / f"w{window}" / "out"
        summary = run_folder(src, out, cfg, RunOptions(window=window, threaded=threaded), progress=False)
        runs[window] = (out, summary)
    return src, cfg, runs


def test_window_size_does_not_change_outputs_or_sidecars(classical_runs):
    _, _, runs = classical_runs
    ref = _outputs(runs[1][0])
    assert len([k for k in ref if not k.endswith(".json")]) == 4
    assert any(json.loads(v)["status"] == "fixed" for k, v in ref.items() if k.endswith(".json"))
    for window in (16, 2):
        assert _outputs(runs[window][0]) == ref, f"window {window} differs from window 1"
        counts = runs[window][1].counts()
        assert counts["failed"] == 1 and counts == runs[1][1].counts()


def test_snapshot_disk_is_well_below_inputs(classical_runs):
    src, _, runs = classical_runs
    out = runs[16][0]
    work = sum(p.stat().st_size for p in (out / "_autofix" / "work").rglob("*") if p.is_file())
    inputs = sum(p.stat().st_size for p in src.rglob("*.png"))
    assert work < 0.25 * inputs, (work, inputs)


def test_resume_from_snapshots_gives_identical_outputs_and_report(classical_runs, tmp_path):
    src, cfg, runs = classical_runs
    ref_out = runs[16][0]
    write_report(ref_out)
    out = tmp_path / "w16" / "out"  # same folder name: the report title is the same
    shutil.copytree(ref_out, out)
    # forget every final result and the whole report: only the stage snapshots remain
    for p in list(out.rglob("*")):
        if p.is_file() and "_autofix" not in p.relative_to(out).parts:
            p.unlink()
    shutil.rmtree(out / "_autofix" / "report")
    summary = run_folder(src, out, cfg, RunOptions(window=3), progress=False)
    resumed = {o.rel.as_posix(): o.resumed_stages for o in summary.outcomes if o.status != "failed"}
    assert all(n == len(cfg.stages) for n in resumed.values()), resumed
    assert _outputs(out) == _outputs(ref_out)
    write_report(out)
    ref_report, new_report = ref_out / "_autofix" / "report", out / "_autofix" / "report"
    assert (new_report / "index.html").read_text() == (ref_report / "index.html").read_text()
    ref_files = {p.relative_to(ref_report).as_posix(): p.read_bytes() for p in ref_report.rglob("*") if p.is_file()}
    new_files = {p.relative_to(new_report).as_posix(): p.read_bytes() for p in new_report.rglob("*") if p.is_file()}
    assert new_files == ref_files


def test_report_rebuilds_missing_tiles_from_snapshots(classical_runs, tmp_path):
    _, _, runs = classical_runs
    out = tmp_path / "copy"
    shutil.copytree(runs[2][0], out)
    write_report(out)
    ref = {p.name: p.read_bytes() for p in (out / "_autofix" / "report" / "thumbs").iterdir()}
    shutil.rmtree(out / "_autofix" / "report")
    page = write_report(out)
    again = {p.name: p.read_bytes() for p in (out / "_autofix" / "report" / "thumbs").iterdir()}
    assert again == ref and ref
    assert "classical fill" in page.read_text()  # a classical repaint is not labelled a plain "fixed"


def test_unchanged_rerun_reads_no_pixels(classical_runs, monkeypatch):
    src, cfg, runs = classical_runs
    import autofix.io.image as image_mod

    def no_decode(*a, **k):
        raise AssertionError("a finished image was decoded again")

    monkeypatch.setattr(image_mod, "load_image", no_decode)
    summary = run_folder(src, runs[16][0], cfg, RunOptions(), progress=False)
    assert summary.counts()["unchanged"] == 4
    write_report(runs[16][0])  # the report uses the tiles made during the run


@pytest.mark.parametrize("shape", [(4, 20000), (20000, 4)])
def test_thumbnails_are_bounded_on_both_sides(shape):
    w, h = thumb_size(*shape)
    assert 1 <= w <= THUMB_W and 1 <= h <= THUMB_H


# --------------------------------------------------------------------------- diffusion


diffusers = pytest.importorskip("diffusers")


@pytest.fixture(scope="module")
def tiny_sd(tmp_path_factory):
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from sd_tiny import make_tiny_models

    return make_tiny_models(tmp_path_factory.mktemp("tiny"), ("sd15-inpainting",))["sd15-inpainting"]


def _jobs(n: int, size=(128, 96)):
    from autofix.types import InpaintJob

    rng = np.random.default_rng(3)
    jobs = []
    for i in range(n):
        image = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        mask = np.zeros(image.shape[:2], np.uint8)
        mask[16:-16, 24:-40] = 255
        jobs.append(InpaintJob(image, mask, seed=10 + i, prompt="a face",
                               params={"strength": 0.5, "steps": 4, "cfg": 7.0}))
    return jobs


def test_vae_encodes_a_batch_in_one_call_with_per_item_noise(tiny_sd):
    from autofix.config import InpainterConfig
    from autofix.inpaint.diffusion import DiffusionInpainter

    inp = DiffusionInpainter(InpainterConfig(backend="diffusers", model=str(tiny_sd.single_file)),
                             config_dir=str(tiny_sd.config_dir))
    vae = inp.pipeline.vae
    sizes, encode = [], vae.encode
    vae.encode = lambda x, *a, **k: sizes.append(x.shape[0]) or encode(x, *a, **k)
    try:
        batched = inp.inpaint(_jobs(4))
    finally:
        del vae.encode
    # 9-channel model at strength < 1: the image and the masked image, each encoded once for all 4
    assert sizes == [4, 4], sizes
    single = [inp.inpaint([job])[0] for job in _jobs(4)]
    for b, s in zip(batched, single):
        diff = np.abs(b.candidates[0].astype(int) - s.candidates[0].astype(int))
        assert diff.max() <= 2 and (diff > 0).mean() < 0.01
    assert not np.array_equal(batched[0].candidates[0], batched[1].candidates[0])  # own noise per item


def test_sd_window_invariance_and_crops_share_unet_calls(tiny_sd, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for name in ("zidane", "astronaut", "grace_hopper"):
        Image.fromarray(photo_array(name)).save(src / f"{name}.png")
    cfg = build_config("faces+hands", patch={"inpainter": {"model": str(tiny_sd.single_file),
                                                           "config_dir": str(tiny_sd.config_dir)}},
                       overrides=["stages.*.inpaint.steps=2", "stages.*.inpaint.strength=0.5",
                                  "stages.*.crop.resolution=128"])
    from autofix.inpaint.diffusion import DiffusionInpainter

    calls = []
    original = DiffusionInpainter._run

    def counting(self, chunk, s):
        calls.append(len(chunk))
        return original(self, chunk, s)

    outs = {}
    for window in (1, 8):
        calls.clear()
        DiffusionInpainter._run = counting
        try:
            out = tmp_path / f"w{window}"
            summary = run_folder(src, out, cfg, RunOptions(window=window), progress=False)
        finally:
            DiffusionInpainter._run = original
        assert summary.exit_code() == 0
        outs[window] = (out, list(calls))
    crops = sum(outs[1][1])
    assert crops >= 5 and sum(outs[8][1]) == crops
    assert len(outs[8][1]) < len(outs[1][1])  # crops of different images share UNet calls
    for rel in ("zidane.png", "astronaut.png", "grace_hopper.png"):
        a = np.asarray(Image.open(outs[1][0] / rel)).astype(int)
        b = np.asarray(Image.open(outs[8][0] / rel)).astype(int)
        diff = np.abs(a - b)  # the documented tolerance: float summation order only
        assert diff.max() <= 2 and (diff > 0).mean() < 0.01, rel


def test_seed_and_sampler_from_the_image_reach_the_jobs(tiny_sd, tmp_path):
    """--seed image / --sampler image through the real fix path: the A1111 seed + region index
    and the image's sampler are what the pipeline got, and the sidecar says where they came from."""
    from PIL import PngImagePlugin

    src = tmp_path / "in"
    src.mkdir()
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a man, detailed face\nNegative prompt: blurry\n"
                  "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1234, Size: 1280x720, Model: x")
    Image.fromarray(photo_array("zidane")).save(src / "z.png", pnginfo=info)
    cfg = build_config("faces", patch={"inpainter": {"model": str(tiny_sd.single_file),
                                                     "config_dir": str(tiny_sd.config_dir)}},
                       overrides=["stages.*.inpaint.steps=2", "stages.*.inpaint.strength=0.5",
                                  "stages.*.crop.resolution=128", "stages.*.inpaint.seed=image",
                                  "stages.*.inpaint.scheduler=image"])
    from autofix.inpaint.diffusion import DiffusionInpainter

    seen, original = [], DiffusionInpainter._run

    def spy(self, chunk, s):
        seen.extend((it.seed, s.scheduler) for it in chunk)
        return original(self, chunk, s)

    DiffusionInpainter._run = spy
    try:
        summary = run_folder(src, tmp_path / "out", cfg, progress=False)
    finally:
        DiffusionInpainter._run = original
    assert summary.exit_code() == 0, [o.detail for o in summary.outcomes]
    side = json.loads((tmp_path / "out" / "z.png.autofix.json").read_text())
    regions = side["stages"][0]["regions"]
    assert len(regions) == 2
    assert [r["seed"] for r in regions] == [1234, 1235]
    assert sorted(seen) == [(1234, "euler_a"), (1235, "euler_a")]
    assert all(r["inherited"]["seed_from"] == "image" and r["inherited"]["scheduler"] == "euler_a" for r in regions)
    assert "seed from the image" in "\n".join(summary.lines())


def test_stage_key_follows_lora_files_named_in_the_stage_prompt(tmp_path, monkeypatch):
    from autofix.run.backends import Backends
    from autofix.run.executor import ImageRunner

    monkeypatch.setenv("AUTOFIX_LORA_DIRS", str(tmp_path))
    (tmp_path / "detail.safetensors").write_bytes(b"v1")
    cfg = build_config("faces", patch={"inpainter": {"backend": "diffusers", "model": str(tmp_path / "m.safetensors")}},
                       overrides=["stages.*.inpaint.prompt={prompt}, <lora:detail:0.6>"])

    def keys():
        return ImageRunner(cfg, None, tmp_path, Backends(cfg)).stage_keys("0" * 64)

    first = keys()
    assert keys() == first
    (tmp_path / "detail.safetensors").write_bytes(b"version 2")
    assert keys() != first


def test_stage_key_follows_lora_files_named_by_the_images_own_prompt(tmp_path, monkeypatch):
    """A ``{prompt}`` template inherits the image's ``<lora:...>`` tags; the LoRA file's
    identity (not only its name, which the input's sha256 covers) is in that image's keys."""
    import io

    from PIL import Image, PngImagePlugin

    from autofix.run.backends import Backends
    from autofix.run.executor import ImageRunner

    monkeypatch.setenv("AUTOFIX_LORA_DIRS", str(tmp_path))
    (tmp_path / "ink.safetensors").write_bytes(b"v1")

    def png(prompt: str) -> bytes:
        info = PngImagePlugin.PngInfo()
        info.add_text("parameters", f"{prompt}\nSteps: 20, Sampler: Euler a, Seed: 1, Size: 8x8")
        buf = io.BytesIO()
        Image.new("RGB", (8, 8)).save(buf, "PNG", pnginfo=info)
        return buf.getvalue()

    tagged, plain = png("a portrait, <lora:ink:0.7>"), png("a portrait")

    def keys(data: bytes, template: str = "{prompt}, detailed") -> list[str]:
        cfg = build_config("faces", patch={"inpainter": {"backend": "diffusers", "model": str(tmp_path / "m.safetensors")}},
                           overrides=[f"stages.*.inpaint.prompt={template}"])
        return ImageRunner(cfg, None, tmp_path, Backends(cfg)).stage_keys("0" * 64, None, data)

    first, untagged, fixed = keys(tagged), keys(plain), keys(tagged, template="detailed")
    assert keys(tagged) == first
    (tmp_path / "ink.safetensors").write_bytes(b"version 2")
    assert keys(tagged) != first  # the file the image's tag names changed: its stages are redone
    assert keys(plain) == untagged  # an image without the tag does not depend on that file
    assert keys(tagged, template="detailed") == fixed  # a template without {prompt} inherits no tag
