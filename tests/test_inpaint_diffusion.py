"""The diffusers inpainting backend, through its real loaders, on tiny random-weight models.

The tiny models (tests/sd_tiny.py) are written once per session as diffusers folders and as
single A1111-style checkpoints with original SD key names; single files load with the tiny
config folder in place of the shipped full-size one.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("transformers")

from autofix.config import InpainterConfig  # noqa: E402
from autofix.errors import ConfigError, ModelNotFound, UnsafeModelFile  # noqa: E402
from autofix.inpaint.base import INPAINTERS, Inpainter  # noqa: E402
from autofix.inpaint.diffusion import SCHEDULERS, DiffusionInpainter, candidate_seed  # noqa: E402
from autofix.inpaint.sd_loading import (  # noqa: E402
    SD_CONFIGS,
    UnsupportedModel,
    inspect_checkpoint,
    load_tokenizer,
    pick_model,
    resolve_model,
    scan_model_dir,
)
from autofix.types import InpaintJob  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from sd_tiny import make_tiny_models, save_single_file, build_tiny_pipeline  # noqa: E402

FAST = {"strength": 0.5, "steps": 4, "cfg": 7.0}


@pytest.fixture(autouse=True)
def _hash_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOFIX_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    return make_tiny_models(tmp_path_factory.mktemp("sd-tiny"))


def _inpainter(model, config_dir=None, **kw) -> DiffusionInpainter:
    cfg = InpainterConfig(backend="diffusers", model=str(model), allow_pickle=kw.pop("allow_pickle", False))
    return DiffusionInpainter(cfg, config_dir=str(config_dir) if config_dir else None, **kw)


@pytest.fixture(scope="module")
def inp9(tiny):
    m = tiny["sd15-inpainting"]
    return _inpainter(m.single_file, m.config_dir)


@pytest.fixture(scope="module")
def inp4(tiny):
    m = tiny["sd15"]
    return _inpainter(m.single_file, m.config_dir)


def _crop(h=96, w=128, seed=0):
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    mask = np.zeros((h, w), np.uint8)
    mask[16 : h - 16, 24 : w - 40] = 255
    return image, mask


def _job(seed=1, prompt="a hand", h=96, w=128, **params):
    image, mask = _crop(h, w)
    return InpaintJob(image, mask, seed=seed, prompt=prompt, params={**FAST, **params})


# ---------------------------------------------------------------- shipped configs and tokenizer


def test_shipped_configs_build_published_architectures():
    """Full-size models built (without memory) from the shipped configs have the published sizes."""
    from accelerate import init_empty_weights
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    def count(cls, folder, **kw):
        with init_empty_weights():
            if cls in (CLIPTextModel, CLIPTextModelWithProjection):
                model = cls(CLIPTextConfig.from_pretrained(str(folder)))
            else:
                model = cls.from_config(cls.load_config(str(folder)))
        return sum(p.numel() for p in model.parameters())

    expected_unet = {"sd15": 859_520_964, "sd15-inpainting": 859_535_364,
                     "sdxl": 2_567_463_684, "sdxl-inpainting": 2_567_478_084}
    for name, params in expected_unet.items():
        assert count(UNet2DConditionModel, SD_CONFIGS / name / "unet") == params, name
        assert count(AutoencoderKL, SD_CONFIGS / name / "vae") == 83_653_863, name
    assert count(CLIPTextModel, SD_CONFIGS / "sd15" / "text_encoder") == 123_060_480
    assert count(CLIPTextModelWithProjection, SD_CONFIGS / "sdxl" / "text_encoder_2") == 694_659_840


def test_shipped_clip_tokenizer_matches_clip_ids():
    tok = load_tokenizer(SD_CONFIGS / "sd15", "tokenizer")
    assert len(tok) == 49408 and tok.model_max_length == 77
    assert tok("a photo of a cat")["input_ids"] == [49406, 320, 1125, 539, 320, 2368, 49407]
    tok2 = load_tokenizer(SD_CONFIGS / "sdxl", "tokenizer_2")
    assert tok2.pad_token == "!" and tok2.pad_token_id == 0


# ---------------------------------------------------------------- resolving and inspecting


def _fake_safetensors(path: Path, shapes: dict[str, tuple[int, ...]]) -> Path:
    """A safetensors file with zero-filled tensors of ``shapes`` (float32)."""
    header, offset = {}, 0
    for key, shape in shapes.items():
        size = 4 * int(np.prod(shape))
        header[key] = {"dtype": "F32", "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + bytes(offset))
    return path


def test_family_and_channels_from_checkpoint_keys(tiny, tmp_path):
    assert inspect_checkpoint(tiny["sd15-inpainting"].single_file) == ("sd1", 9)
    assert inspect_checkpoint(tiny["sd15"].single_file) == ("sd1", 4)
    assert inspect_checkpoint(tiny["sdxl-inpainting"].single_file) == ("sdxl", 9)
    unet = {"model.diffusion_model.input_blocks.0.0.weight": (4, 4, 3, 3), "first_stage_model.x": (1,)}
    sd2 = _fake_safetensors(tmp_path / "sd2.safetensors", {**unet, "cond_stage_model.model.ln_final.weight": (2,)})
    with pytest.raises(UnsupportedModel, match="SD 2.x"):
        inspect_checkpoint(sd2)
    lora = _fake_safetensors(tmp_path / "lora.safetensors", {"lora_unet_down.alpha": (1,)})
    with pytest.raises(UnsupportedModel, match="not a full Stable Diffusion checkpoint"):
        inspect_checkpoint(lora)


def test_production_picks_shipped_config_by_family(tiny):
    for name in ("sd15-inpainting", "sd15", "sdxl-inpainting"):
        cfg = InpainterConfig(backend="diffusers", model=str(tiny[name].single_file))
        assert resolve_model(cfg).config_dir == SD_CONFIGS / name


def test_ckpt_refused_without_allow_pickle_then_loaded_weights_only(tiny, tmp_path, inp9, monkeypatch):
    monkeypatch.delenv("AUTOFIX_ALLOW_PICKLE", raising=False)
    pipe = build_tiny_pipeline("sd15", 9, seed=0)  # same weights as tiny["sd15-inpainting"]
    ckpt = save_single_file(pipe, tmp_path / "model.ckpt")
    with pytest.raises(UnsafeModelFile) as err:
        _inpainter(ckpt, tiny["sd15-inpainting"].config_dir)
    assert "--allow-pickle" in str(err.value) and "\n" not in str(err.value)
    inp = _inpainter(ckpt, tiny["sd15-inpainting"].config_dir, allow_pickle=True)
    job = _job()
    np.testing.assert_array_equal(inp.inpaint([job])[0].candidates[0], inp9.inpaint([job])[0].candidates[0])


def _a1111_tree(root: Path, tiny) -> Path:
    ckpts = root / "models" / "Stable-diffusion"
    for sub in ("faces", "hands"):
        (ckpts / sub).mkdir(parents=True)
        shutil.copy(tiny["sd15"].single_file, ckpts / sub / "base.safetensors")
    shutil.copy(tiny["sd15-inpainting"].single_file, ckpts / "Realistic-Inpaint.safetensors")
    shutil.copy(tiny["sd15"].single_file, ckpts / "base.safetensors")
    shutil.copytree(tiny["sdxl-inpainting"].folder, ckpts / "xl-folder")
    (ckpts / "notes.txt").write_text("not a model")
    return ckpts


def test_model_dir_listing_and_pick_by_name(tiny, tmp_path):
    ckpts = _a1111_tree(tmp_path / "webui", tiny)
    entries = scan_model_dir(tmp_path / "webui")  # an install root resolves to models/Stable-diffusion
    assert [(e.name, e.kind) for e in entries] == [
        ("base", "single_file"), ("faces/base", "single_file"), ("hands/base", "single_file"),
        ("Realistic-Inpaint", "single_file"), ("xl-folder", "diffusers"),
    ]
    assert pick_model(ckpts, "realistic-inpaint").path == ckpts / "Realistic-Inpaint.safetensors"
    assert pick_model(ckpts, "faces/base").path == ckpts / "faces" / "base.safetensors"
    assert pick_model(ckpts, "XL-FOLDER").kind == "diffusers"
    assert pick_model(ckpts, "base").path == ckpts / "base.safetensors"  # exact relative name wins
    (ckpts / "base.safetensors").unlink()
    with pytest.raises(ConfigError, match="'base' is ambiguous.*faces/base.safetensors, hands/base.safetensors"):
        pick_model(ckpts, "base")
    with pytest.raises(ModelNotFound, match="no model named 'nope'.*Realistic-Inpaint"):
        pick_model(ckpts, "nope")
    cfg = InpainterConfig(backend="diffusers", model_dir=str(tmp_path / "webui"), model="realistic-inpaint")
    inp = DiffusionInpainter(cfg, config_dir=str(tiny["sd15-inpainting"].config_dir))
    assert inp.name == "diffusers:Realistic-Inpaint" and inp.source.in_channels == 9


def test_missing_model_errors_say_which_file_and_where(tiny, tmp_path, monkeypatch):
    missing = tmp_path / "models" / "gone.safetensors"
    with pytest.raises(ModelNotFound, match=str(missing)):
        _inpainter(missing)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    with pytest.raises(ModelNotFound, match=r"models--someone--sd-inpaint.*hf download someone/sd-inpaint"):
        _inpainter("someone/sd-inpaint")
    broken = tmp_path / "broken"
    shutil.copytree(tiny["sd15"].folder, broken)
    shutil.rmtree(broken / "unet")
    with pytest.raises(ModelNotFound, match=str(broken / "unet")):
        _inpainter(broken)
    with pytest.raises(ModelNotFound, match=str(tmp_path / "nocfg" / "model_index.json")):
        _inpainter(tiny["sd15"].single_file, tmp_path / "nocfg")
    with pytest.raises(ConfigError, match="needs inpainter.model"):
        DiffusionInpainter(InpainterConfig(backend="diffusers"))


def test_manifest_name_is_found_where_models_are_kept(tiny, tmp_path, monkeypatch):
    """A bare manifest name resolves like every autofix model; missing, the error says where to put it."""
    store = tmp_path / "store"
    store.mkdir()
    monkeypatch.setenv("AUTOFIX_MODELS", str(store))
    with pytest.raises(ModelNotFound, match=re.escape(f"put sd-v1-5-inpainting.safetensors at {store}")):
        _inpainter("sd15_inpainting")
    shutil.copy(tiny["sd15-inpainting"].single_file, store / "sd-v1-5-inpainting.safetensors")
    inp = _inpainter("sd15_inpainting")
    assert inp.source.path == store / "sd-v1-5-inpainting.safetensors"
    assert inp.source.config_dir == SD_CONFIGS / "sd15-inpainting"


# ---------------------------------------------------------------- registry and describe


def test_registered_backend_describes_itself(tiny):
    m = tiny["sd15-inpainting"]
    inp = INPAINTERS.build("diffusers", InpainterConfig(backend="diffusers", model=str(m.single_file)))
    assert isinstance(inp, Inpainter) and inp.generative and inp.name == "diffusers:sd15-inpainting"
    facts = inp.describe()
    assert facts["sha256"] == hashlib.sha256(m.single_file.read_bytes()).hexdigest()
    assert (facts["family"], facts["in_channels"], facts["config"]) == ("sd1", 9, "sd15-inpainting")
    assert (facts["dtype"], facts["device"], facts["source"]) == ("float32", "cpu", "single_file")
    assert inp._pipe is None  # describing loads no weights


def test_importing_the_backend_does_not_import_torch():
    code = "import sys, autofix.inpaint, autofix.inpaint.diffusion; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------- inpainting


def test_output_size_equals_crop_size_and_seed_reproduces(inp9):
    jobs = [_job(seed=5), _job(seed=5, h=76, w=100), _job(seed=6)]
    first = inp9.inpaint(jobs)
    assert [r.candidates[0].shape for r in first] == [(96, 128, 3), (76, 100, 3), (96, 128, 3)]
    assert all(r.candidates[0].dtype == np.uint8 for r in first)
    again = inp9.inpaint(jobs)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a.candidates[0], b.candidates[0])
    assert not np.array_equal(first[0].candidates[0], first[2].candidates[0])
    assert first[0].info["seeds"] == [5] and first[0].info["denoise_steps"] == 2


def _same_pixels(a: np.ndarray, b: np.ndarray) -> None:
    """Equal up to float summation order: CPU kernels add in a batch-size-dependent order, which
    moves a few pixels by one level; the noise itself is identical (one generator per image)."""
    diff = np.abs(a.astype(int) - b.astype(int))
    assert diff.max() <= 1 and (diff > 0).mean() < 0.01


def test_batched_call_equals_one_by_one(inp9):
    jobs = [_job(seed=1, prompt="a hand"), _job(seed=2, prompt="a face", candidates=2), _job(seed=3, prompt="a hand")]
    pipe = inp9.pipeline
    calls, encodes = [], []
    run, encode = inp9._run, pipe.encode_prompt
    inp9._run = lambda chunk, s: calls.append(len(chunk)) or run(chunk, s)
    pipe.encode_prompt = lambda *a, **k: (encodes.append(k["prompt"]) if "prompt" in k else None) or encode(*a, **k)
    inp9._embeds.clear()
    try:
        batched = inp9.inpaint(jobs)
    finally:
        del inp9._run, pipe.encode_prompt
    assert calls == [4]  # four images (one job has two candidates) in one pipeline call
    assert sorted(encodes) == ["", "a face", "a hand"]  # one encoding per distinct text
    single = [inp9.inpaint([job])[0] for job in jobs]
    for b, s in zip(batched, single):
        assert len(b.candidates) == len(s.candidates)
        for x, y in zip(b.candidates, s.candidates):
            _same_pixels(x, y)
    assert batched[1].info["seeds"] == [2, candidate_seed(2, 1)] == [2, 2 + 1_000_003]
    assert not np.array_equal(*batched[1].candidates)


def test_max_batch_splits_into_chunks_with_same_pixels(tiny, inp9):
    m = tiny["sd15-inpainting"]
    small = _inpainter(m.single_file, m.config_dir, max_batch=2)
    calls = []
    run = small._run
    small._run = lambda chunk, s: calls.append(len(chunk)) or run(chunk, s)
    jobs = [_job(seed=s) for s in range(5)]
    out = small.inpaint(jobs)
    assert calls == [2, 2, 1]
    ref = inp9.inpaint(jobs)
    for a, b in zip(out, ref):
        _same_pixels(a.candidates[0], b.candidates[0])


def _final_latents(inp, job):
    seen = []
    decode = inp._decode
    inp._decode = lambda latents: seen.append(latents.clone()) or decode(latents)
    try:
        inp.inpaint([job])
    finally:
        del inp._decode
    return seen[0]


def test_4_channel_unet_keeps_original_latents_outside_mask(inp4, inp9):
    """4-channel UNet: outside the mask the final latents are the encoded original whatever the
    prompt (diffusers re-noises and blends them each step); 9-channel: the UNet's own."""
    assert inp4.pipeline.unet.config.in_channels == 4 and inp9.pipeline.unet.config.in_channels == 9
    inside = np.zeros((12, 16), bool)
    inside[2:10, 3:11] = True  # the job mask (rows 16:80, cols 24:88) at 1/8 scale
    for inp, blended in ((inp4, True), (inp9, False)):
        a = _final_latents(inp, _job(seed=4, prompt="a hand"))[0].numpy()
        b = _final_latents(inp, _job(seed=4, prompt="a face"))[0].numpy()
        assert not np.allclose(a[:, inside], b[:, inside])
        assert np.allclose(a[:, ~inside], b[:, ~inside]) == blended


def test_sdxl_strength_one_is_guarded(tiny):
    inp = _inpainter(tiny["sdxl-inpainting"].folder)
    res = inp.inpaint([_job(strength=1.0, steps=3), _job(strength=0.5)])
    assert res[0].info["strength"] == 0.99 and "lowered to 0.99" in res[0].info["notes"][0]
    assert res[1].info["strength"] == 0.5 and "notes" not in res[1].info
    assert res[0].candidates[0].shape == (96, 128, 3)


@pytest.mark.parametrize("name", ["euler_a", "dpm++_2m", "ddim", "unipc", "DPM++ 2M Karras"])
def test_schedulers_by_name(inp9, name):
    first = inp9.inpaint([_job(scheduler=name)])[0]
    again = inp9.inpaint([_job(scheduler=name)])[0]
    np.testing.assert_array_equal(first.candidates[0], again.candidates[0])


def test_unknown_scheduler_and_bad_params_fail_before_any_work(inp9):
    names = ", ".join(SCHEDULERS)
    with pytest.raises(ConfigError, match=re.escape(f"unknown scheduler 'k_lms_magic'; choose one of: {names}")):
        inp9.inpaint([_job(), _job(scheduler="k_lms_magic")])
    with pytest.raises(ConfigError, match="strength"):
        inp9.inpaint([_job(strength=1.5)])
    with pytest.raises(ConfigError, match="no denoising step"):
        inp9.inpaint([_job(steps=2, strength=0.3)])
    image, mask = _crop()
    with pytest.raises(ValueError, match="uint8"):
        inp9.inpaint([InpaintJob(image.astype(np.float32), mask, seed=0)])


@pytest.mark.parametrize("mode", ["original", "fill", "latent_noise", "latent_nothing"])
def test_masked_content_modes(inp4, mode):
    job = _job(seed=9, masked_content=mode, strength=0.75)
    a = inp4.inpaint([job])[0].candidates[0]
    b = inp4.inpaint([job])[0].candidates[0]
    np.testing.assert_array_equal(a, b)
    if mode != "original":
        ref = inp4.inpaint([_job(seed=9, strength=0.75)])[0].candidates[0]
        assert not np.array_equal(a, ref)


def test_empty_mask_returns_the_crop(inp9):
    image, _ = _crop()
    res = inp9.inpaint([InpaintJob(image, np.zeros(image.shape[:2], np.uint8), seed=0, params=FAST)])[0]
    np.testing.assert_array_equal(res.candidates[0], image)
    assert res.info == {"skipped": "empty mask"}


def test_half_precision_nan_decode_is_retried_in_float32(tiny):
    import torch

    m = tiny["sd15-inpainting"]
    inp = _inpainter(m.single_file, m.config_dir, dtype="bfloat16")
    vae = inp.pipeline.vae
    decode = vae.decode

    def nan_unless_fp32(z, **kw):
        out = decode(z, **kw)
        return (out[0] * float("nan"),) if vae.dtype != torch.float32 else out

    vae.decode = nan_unless_fp32
    res = inp.inpaint([_job()])[0]
    assert inp._vae_fp32 and vae.dtype == torch.bfloat16
    assert res.candidates[0].shape == (96, 128, 3) and res.candidates[0].std() > 0


def _always_flagging_checker(folder: Path) -> None:
    """A tiny SD safety checker whose thresholds flag every image, saved into a diffusers folder."""
    import torch
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from transformers import CLIPConfig, CLIPImageProcessor

    small = {"hidden_size": 16, "intermediate_size": 20, "num_attention_heads": 2, "num_hidden_layers": 1}
    config = CLIPConfig(text_config=small, vision_config={**small, "image_size": 32, "patch_size": 8}, projection_dim=8)
    checker = StableDiffusionSafetyChecker(config)
    with torch.no_grad():
        checker.concept_embeds_weights.fill_(-10.0)
    checker.save_pretrained(folder / "safety_checker")
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(
        folder / "feature_extractor"
    )


def test_safety_checker_keeps_original_pixels_when_flagged(tiny, tmp_path):
    folder = tmp_path / "with-checker"
    shutil.copytree(tiny["sd15-inpainting"].folder, folder)
    _always_flagging_checker(folder)
    job = _job(candidates=2)
    res = _inpainter(folder, safety_checker=True).inpaint([job])[0]
    assert res.info["blocked"] == "safety_checker" and res.info["blocked_candidates"] == [0, 1]
    for candidate in res.candidates:
        np.testing.assert_array_equal(candidate, job.image)
    assert "blocked" not in _inpainter(folder).inpaint([job])[0].info  # off by default
