"""Add-difference inpainting merge (autofix.merge) and the streaming safetensors writer.

Models are tiny state dicts with real SD key names, built here and saved in the
single-file layout (or as diffusers folders); nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from safetensors import safe_open  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402

from autofix.errors import ConfigError, ModelNotFound, UnsafeModelFile  # noqa: E402
from autofix.io.atomic import TMP_MARK  # noqa: E402
from autofix.modelfiles.merge import (  # noqa: E402
    RULES,
    MergeError,
    detect_family,
    detect_layout,
    make_inpaint,
    open_checkpoint,
)
from autofix.modelfiles.safetensors_io import SafetensorsError, StreamWriter, TensorInfo, dtype_code  # noqa: E402

U = "model.diffusion_model."
CONV = U + "input_blocks.0.0.weight"
TE = "cond_stage_model.transformer.text_model."
M = 0.7
Models = dict[str, dict[str, torch.Tensor]]
WRITTEN = set(RULES) - {"ema_dropped", "not_in_inpaint_base"}


def sd1(in_ch: int = 4, seed: int = 0, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """A tiny SD1-style single-file state dict: UNet, VAE, text encoder, buffers, EMA."""
    g = torch.Generator().manual_seed(seed)

    def r(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g).to(dtype)

    return {
        CONV: r(8, in_ch, 3, 3),
        U + "input_blocks.0.0.bias": r(8),
        U + "time_embed.0.weight": r(16, 8),
        U + "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": r(8, 12),
        U + "out.2.weight": r(4, 8, 3, 3),
        "first_stage_model.encoder.conv_in.weight": r(8, 3, 3, 3),
        "first_stage_model.decoder.conv_out.bias": r(3),
        TE + "embeddings.token_embedding.weight": r(10, 12),
        TE + "final_layer_norm.weight": r(12),
        TE + "embeddings.position_ids": torch.arange(7)[None],
        "alphas_cumprod": torch.linspace(0.99, 0.01, 10),
        "model_ema.decay": torch.tensor(0.9999),
        "model_ema.diffusion_modelinput_blocks00weight": r(8, in_ch, 3, 3),
    }


def three_models() -> Models:
    """finetune (fp16), inpaint_base (9 channels), base, with keys that exercise every rule."""
    fin, inp, base = sd1(4, 1, torch.float16), sd1(9, 3), sd1(4, 2)
    for sd, seed in ((fin, 11), (inp, 13)):
        g = torch.Generator().manual_seed(seed)
        sd[U + "middle_block.1.proj_in.weight"] = torch.randn(8, 8, generator=g).to(sd[CONV].dtype)
        sd["first_stage_model.post_quant_conv.weight"] = torch.randn(4, 4, 1, 1, generator=g).to(sd[CONV].dtype)
    del fin[TE + "final_layer_norm.weight"]
    fin[U + "lora_extra.weight"] = torch.ones(2, dtype=torch.float16)
    inp["first_stage_model.quant_conv.weight"] = torch.randn(8, 8, 1, 1)
    return {"finetune": fin, "inpaint_base": inp, "base": base}


EXPECTED_RULES = {
    "merged": sorted([U + "input_blocks.0.0.bias", U + "time_embed.0.weight", U + "out.2.weight",
                      U + "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight",
                      "first_stage_model.encoder.conv_in.weight", "first_stage_model.decoder.conv_out.bias",
                      TE + "embeddings.token_embedding.weight"]),
    "input_conv": [CONV],
    "from_finetune": ["first_stage_model.post_quant_conv.weight"],
    "unet_not_in_base": [U + "middle_block.1.proj_in.weight"],
    "not_in_finetune": [TE + "final_layer_norm.weight"],
    "inpaint_only": ["first_stage_model.quant_conv.weight"],
    "verbatim": ["alphas_cumprod", TE + "embeddings.position_ids"],
    "ema_dropped": ["model_ema.decay", "model_ema.diffusion_modelinput_blocks00weight"],
    "not_in_inpaint_base": [U + "lora_extra.weight"],
}


def save_models(folder: Path, models: Models, suffix: str = ".safetensors") -> dict[str, Path]:
    paths = {}
    for role, sd in models.items():
        paths[role] = folder / f"{role}{suffix}"
        if suffix == ".safetensors":
            save_file(sd, paths[role])
        else:
            torch.save({"state_dict": sd, "global_step": 1}, paths[role])
    return paths


def merge(paths: dict[str, Path], out: Path, **kw: object):
    kw.setdefault("progress", False)
    return make_inpaint(paths["finetune"], paths["inpaint_base"], paths["base"], out, **kw)


def expected(models: Models, key: str, rule: str, m: float) -> torch.Tensor:
    """The documented value of ``key`` under ``rule``, in float32 (or the verbatim dtype)."""
    f, i, b = (models[r].get(key) for r in ("finetune", "inpaint_base", "base"))
    if rule == "merged":
        return i.float() + (f.float() - b.float()) * m
    if rule == "input_conv":
        value = i.float().clone()
        value[:, :4] = value[:, :4] + (f.float() - b.float()) * m
        return value
    if rule == "from_finetune":
        return f.float()
    return i if rule == "verbatim" else i.float()


@pytest.fixture()
def models() -> Models:
    return three_models()


@pytest.fixture()
def paths(tmp_path: Path, models: Models) -> dict[str, Path]:
    return save_models(tmp_path, models)


# --------------------------------------------------------------------------- arithmetic


def test_every_key_class_exact_fp32(tmp_path, models, paths):
    report = merge(paths, tmp_path / "out.safetensors", multiplier=M, fp16=False)
    out = load_file(tmp_path / "out.safetensors")
    assert {r: sorted(k) for r, k in report.rules.items() if k} == EXPECTED_RULES
    written = {k for r, ks in EXPECTED_RULES.items() if r in WRITTEN for k in ks}
    assert set(out) == written == {k for k in models["inpaint_base"] if not k.startswith("model_ema.")}
    for rule, keys in report.rules.items():
        for key in keys if rule in WRITTEN else []:
            want = expected(models, key, rule, M)
            assert out[key].dtype == want.dtype and torch.equal(out[key], want), (rule, key)


def test_input_conv_only_first_four_channels_get_the_difference(tmp_path, models, paths):
    merge(paths, tmp_path / "out.safetensors", multiplier=1.0, fp16=False)
    conv = load_file(tmp_path / "out.safetensors")[CONV]
    f, i, b = (models[r][CONV].float() for r in ("finetune", "inpaint_base", "base"))
    assert conv.shape == (8, 9, 3, 3)
    assert torch.equal(conv[:, 4:], i[:, 4:])
    assert torch.equal(conv[:, :4], i[:, :4] + (f - b) * 1.0)
    assert not torch.equal(conv[:, :4], i[:, :4])


def test_multiplier_zero_gives_the_inpaint_base(tmp_path, models, paths):
    merge(paths, tmp_path / "out.safetensors", multiplier=0.0, fp16=False)
    out = load_file(tmp_path / "out.safetensors")
    for key in EXPECTED_RULES["merged"] + EXPECTED_RULES["input_conv"]:
        assert torch.equal(out[key], models["inpaint_base"][key].float()), key


def test_fp16_output(tmp_path, models, paths):
    report = merge(paths, tmp_path / "out.safetensors", multiplier=M)
    out = load_file(tmp_path / "out.safetensors")
    assert report.dtype == "F16"
    for rule, keys in report.rules.items():
        for key in keys if rule in WRITTEN else []:
            want = expected(models, key, rule, M)
            if rule == "verbatim":  # int64 position_ids, float32 alphas_cumprod: dtype kept
                assert out[key].dtype == models["inpaint_base"][key].dtype and torch.equal(out[key], want)
            else:
                assert out[key].dtype == torch.float16 and torch.equal(out[key], want.half()), key


def test_metadata_records_inputs_multiplier_formula(tmp_path, paths):
    report = merge(paths, tmp_path / "out.safetensors", multiplier=M)
    with safe_open(tmp_path / "out.safetensors", "pt") as fh:
        meta = fh.metadata()
    assert meta["format"] == "pt"
    assert meta["autofix.merge.formula"] == "inpaint_base + (finetune - base) * multiplier"
    assert float(meta["autofix.merge.multiplier"]) == M
    assert meta["autofix.merge.dtype"] == "F16" and meta["autofix.merge.family"] == "sd1"
    for role, path in paths.items():
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert meta[f"autofix.merge.{role}.sha256"] == digest == report.inputs[role]["sha256"]
        assert meta[f"autofix.merge.{role}"] == path.name
    assert json.loads(meta["autofix.merge.rules"]) == report.counts()


def test_report_summary_and_json(tmp_path, paths):
    report = merge(paths, tmp_path / "out.safetensors")
    lines = report.summary_lines()
    for rule, keys in EXPECTED_RULES.items():
        at = next(i for i, ln in enumerate(lines) if ln.startswith(rule + " "))
        assert f" {len(keys)}  {RULES[rule]}" in lines[at] and keys[0] in lines[at + 1]
    assert not any(ln.startswith(r + " ") for r in set(RULES) - set(EXPECTED_RULES) for ln in lines)
    data = json.loads(report.to_json())
    assert data["counts"]["merged"] == 7 and data["rules"]["input_conv"] == [CONV]
    assert data["inputs"]["base"]["sha256"] == report.inputs["base"]["sha256"]


def test_old_text_encoder_key_spelling_is_aligned(tmp_path, models):
    old = "cond_stage_model.transformer."
    models["finetune"] = {k.replace(TE, old): v for k, v in models["finetune"].items()}
    paths = save_models(tmp_path, models)
    report = merge(paths, tmp_path / "out.safetensors", fp16=False)
    assert report.renamed == {"finetune": 2}
    assert {r: sorted(k) for r, k in report.rules.items() if k} == EXPECTED_RULES
    key = TE + "embeddings.token_embedding.weight"
    models["finetune"][key] = models["finetune"][old + "embeddings.token_embedding.weight"]
    assert torch.equal(load_file(tmp_path / "out.safetensors")[key], expected(models, key, "merged", 1.0))


# ------------------------------------------------------------------------------- checks


def test_family_mismatch_names_the_key(tmp_path, models):
    xl = {k.replace(TE, "conditioner.embedders.1.model."): v for k, v in models["base"].items()}
    models["base"] = xl
    paths = save_models(tmp_path, models)
    want = r"different families.*base base\.safetensors is sdxl \(conditioner\.embedders\.1\.model\.embeddings\."
    with pytest.raises(MergeError, match=want):
        merge(paths, tmp_path / "out.safetensors")
    assert not (tmp_path / "out.safetensors").exists()


def test_shape_mismatch_names_the_first_key(tmp_path, models):
    models["finetune"][U + "time_embed.0.weight"] = torch.zeros(16, 9, dtype=torch.float16)
    models["finetune"]["first_stage_model.post_quant_conv.weight"] = torch.zeros(4, 5, 1, 1, dtype=torch.float16)
    paths = save_models(tmp_path, models)
    # sorted order: first_stage_model.* comes before model.diffusion_model.*
    want = (r"^shape mismatch at first_stage_model\.post_quant_conv\.weight: "
            r"inpaint_base \[4, 4, 1, 1\], finetune \[4, 5, 1, 1\]$")
    with pytest.raises(MergeError, match=want):
        merge(paths, tmp_path / "out.safetensors")
    del models["finetune"]["first_stage_model.post_quant_conv.weight"]
    paths = save_models(tmp_path, models)
    with pytest.raises(MergeError, match=r"shape mismatch at .*time_embed\.0\.weight: finetune \[16, 9\]"):
        merge(paths, tmp_path / "out.safetensors")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths.values())  # no output, no temp


def test_inpaint_base_must_have_extra_channels(tmp_path, models):
    models["inpaint_base"] = sd1(4, 3)
    paths = save_models(tmp_path, models)
    with pytest.raises(MergeError, match=r"not an inpainting model: .*input_blocks\.0\.0\.weight has 4 input channels"):
        merge(paths, tmp_path / "out.safetensors")


def test_input_conv_out_channels_mismatch(tmp_path, models):
    models["inpaint_base"][CONV] = torch.zeros(16, 9, 3, 3)
    paths = save_models(tmp_path, models)
    with pytest.raises(MergeError, match=r"shape mismatch at .*input_blocks.0.0.weight: .*inpaint_base \[16, 9, 3, 3\]"):
        merge(paths, tmp_path / "out.safetensors")


def test_bad_arguments(tmp_path, paths):
    with pytest.raises(ModelNotFound, match="base .*nope.safetensors"):
        merge(dict(paths, base=tmp_path / "nope.safetensors"), tmp_path / "o.safetensors")
    with pytest.raises(ConfigError, match="is one of the inputs"):
        merge(paths, paths["finetune"])
    with pytest.raises(ConfigError, match="must end in .safetensors"):
        merge(paths, tmp_path / "out.ckpt")
    with pytest.raises(ConfigError, match="finite"):
        merge(paths, tmp_path / "o.safetensors", multiplier=float("nan"))


# ------------------------------------------------------------------------------ pickles


def test_ckpt_refused_without_flag_accepted_with_it(tmp_path, models, paths):
    ckpts = save_models(tmp_path, models, ".ckpt")
    with pytest.raises(UnsafeModelFile, match=r"finetune\.ckpt: refusing to load a pickle.*--allow-pickle"):
        merge(ckpts, tmp_path / "out.safetensors")
    mixed = dict(paths, finetune=ckpts["finetune"])
    merge(mixed, tmp_path / "a.safetensors", allow_pickle=True)
    report = merge(ckpts, tmp_path / "b.safetensors", allow_pickle=True)
    merge(paths, tmp_path / "c.safetensors")
    a, b, c = (load_file(tmp_path / f"{n}.safetensors") for n in "abc")
    assert a.keys() == b.keys() == c.keys()
    assert all(torch.equal(a[k], c[k]) and torch.equal(b[k], c[k]) for k in c)
    assert report.inputs["finetune"]["kind"] == "pickle"


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_ckpt_with_code_refused_even_with_flag(tmp_path, models):
    marker = tmp_path / "pwned"
    paths = save_models(tmp_path, models)
    torch.save({"state_dict": models["finetune"], "callback": _Evil(marker)}, tmp_path / "evil.ckpt")
    with pytest.raises(UnsafeModelFile, match=r"evil\.ckpt: .*refused by torch\.load\(weights_only=True\)"):
        merge(dict(paths, finetune=tmp_path / "evil.ckpt"), tmp_path / "out.safetensors", allow_pickle=True)
    assert not marker.exists()


# ---------------------------------------------------------------------- diffusers folders


def diffusers_folder(root: Path, in_ch: int, seed: int, bin_te: bool = False) -> Path:
    """A tiny diffusers pipeline folder: unet, vae, text_encoder, tokenizer, scheduler."""
    g = torch.Generator().manual_seed(seed)
    unet = {
        "conv_in.weight": torch.randn(8, in_ch, 3, 3, generator=g),
        "conv_in.bias": torch.randn(8, generator=g),
        "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight": torch.randn(8, 12, generator=g),
    }
    te = {
        "text_model.embeddings.token_embedding.weight": torch.randn(10, 12, generator=g),
        "text_model.embeddings.position_ids": torch.arange(7)[None],
    }
    vae = {"encoder.conv_in.weight": torch.randn(8, 3, 3, 3, generator=g)}
    comps = {"unet": ("diffusion_pytorch_model", unet), "vae": ("diffusion_pytorch_model", vae),
             "text_encoder": ("model", te)}
    for name, text in (("tokenizer/vocab.json", "{}"), ("scheduler/scheduler_config.json", "{}"),
                       ("model_index.json", '{"_class_name": "StableDiffusionInpaintPipeline"}'),
                       (".git/objects/big.safetensors", "not copied")):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    for name, (stem, sd) in comps.items():
        (root / name).mkdir()
        (root / name / "config.json").write_text(json.dumps({"in_channels": in_ch} if name == "unet" else {}))
        if bin_te and name == "text_encoder":
            torch.save(sd, root / name / "pytorch_model.bin")
        else:
            save_file(sd, root / name / f"{stem}.safetensors")
    return root


def _prefixed(folder: Path) -> dict[str, torch.Tensor]:
    return {f"{c}.{k}": v for c in ("unet", "vae", "text_encoder")
            for k, v in load_file(next((folder / c).glob("*.safetensors"))).items()}


def test_diffusers_folders_to_folder_and_to_single_file(tmp_path):
    paths = {r: diffusers_folder(tmp_path / r, 9 if r == "inpaint_base" else 4, s)
             for r, s in (("finetune", 1), ("inpaint_base", 3), ("base", 2))}
    report = merge(paths, tmp_path / "out", fp16=False)
    out = tmp_path / "out"
    assert report.layout == "diffusers" and report.rules["input_conv"] == ["unet.conv_in.weight"]
    assert json.loads((out / "unet" / "config.json").read_text()) == {"in_channels": 9}
    assert (out / "tokenizer" / "vocab.json").is_file() and (out / "model_index.json").is_file()
    assert not (out / ".git").exists()
    got, sds = _prefixed(out), {r: _prefixed(p) for r, p in paths.items()}
    assert set(got) == set(sds["inpaint_base"])
    for key in got:
        rule = next(r for r, keys in report.rules.items() if key in keys)
        assert torch.equal(got[key], expected(sds, key, rule, 1.0)), key
    assert got["text_encoder.text_model.embeddings.position_ids"].dtype == torch.int64
    with safe_open(out / "vae" / "diffusion_pytorch_model.safetensors", "pt") as fh:
        assert len(fh.metadata()["autofix.merge.inpaint_base.sha256"]) == 64

    # issue 11.7: a .safetensors output holds the same tensors under the original single-file names
    # (one file with diffusers key names is loadable by nothing)
    merge(paths, tmp_path / "one.safetensors", fp16=False)
    single = load_file(tmp_path / "one.safetensors")
    names = {"unet.conv_in.weight": CONV, "unet.conv_in.bias": U + "input_blocks.0.0.bias",
             "unet.down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight":
                 U + "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight",
             "vae.encoder.conv_in.weight": "first_stage_model.encoder.conv_in.weight",
             "text_encoder.text_model.embeddings.token_embedding.weight": TE + "embeddings.token_embedding.weight",
             "text_encoder.text_model.embeddings.position_ids": TE + "embeddings.position_ids"}
    assert set(single) == set(names.values()) and set(got) == set(names)
    assert all(torch.equal(single[names[k]], got[k]) for k in got)
    with pytest.raises(ConfigError, match="already exists and is not empty"):
        merge(paths, tmp_path / "out")


def test_mixed_layouts_and_pickle_components(tmp_path, paths):
    folder = diffusers_folder(tmp_path / "ft", 4, 1, bin_te=True)
    with pytest.raises(UnsafeModelFile, match=r"text_encoder/pytorch_model\.bin: refusing"):
        merge(dict(paths, finetune=folder), tmp_path / "out.safetensors")
    want = r"different layouts \(finetune ft is diffusers, inpaint_base inpaint_base\.safetensors is single-file"
    with pytest.raises(MergeError, match=want):
        merge(dict(paths, finetune=folder), tmp_path / "out.safetensors", allow_pickle=True)
    with open_checkpoint(folder, allow_pickle=True) as ckpt:
        assert "text_encoder.text_model.embeddings.position_ids" in ckpt.keys()
        assert [k for k, _ in ckpt] == ckpt.keys()


@pytest.mark.parametrize(
    ("key", "shape", "family"),
    [
        ("conditioner.embedders.1.model.ln_final.weight", (4,), "sdxl"),
        ("cond_stage_model.model.ln_final.weight", (4,), "sd2"),
        ("cond_stage_model.transformer.text_model.final_layer_norm.weight", (4,), "sd1"),
        (U + "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight", (320, 768), "sd1"),  # UNet-only file
        (U + "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight", (320, 1024), "sd2"),
        (U + "input_blocks.4.1.transformer_blocks.0.attn2.to_k.weight", (640, 2048), "sdxl"),
        (U + "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight", (8, 12), "unknown"),
    ],
)
def test_detect_family(tmp_path, key, shape, family):
    save_file({CONV: torch.zeros(2, 4, 1, 1), key: torch.zeros(shape)}, tmp_path / "m.safetensors")
    with open_checkpoint(tmp_path / "m.safetensors") as ckpt:
        assert detect_family(ckpt, detect_layout(ckpt))[0] == family


def test_progress_bars_go_to_stderr(tmp_path, paths, capsys):
    report = merge(paths, tmp_path / "out.safetensors", progress=True)
    err = capsys.readouterr().err
    assert "merging" in err and report.bytes_written == (tmp_path / "out.safetensors").stat().st_size


# ------------------------------------------------------------------ loads as a 9-ch UNet


def _ldm_prefixes(n_blocks: int, layers: int, attn_up: set[int]) -> list[tuple[str, str]]:
    """(original, diffusers) UNet key prefixes, as in diffusers'
    scripts/convert_diffusers_to_original_stable_diffusion.py, for any block count."""
    pairs = [("time_embed.0.", "time_embedding.linear_1."), ("time_embed.2.", "time_embedding.linear_2."),
             ("input_blocks.0.0.", "conv_in."), ("out.0.", "conv_norm_out."), ("out.2.", "conv_out."),
             ("middle_block.0.", "mid_block.resnets.0."), ("middle_block.1.", "mid_block.attentions.0."),
             ("middle_block.2.", "mid_block.resnets.1.")]
    for i in range(n_blocks):
        for j in range(layers):
            pairs.append((f"input_blocks.{1 + i * (layers + 1) + j}.0.", f"down_blocks.{i}.resnets.{j}."))
            pairs.append((f"input_blocks.{1 + i * (layers + 1) + j}.1.", f"down_blocks.{i}.attentions.{j}."))
        for j in range(layers + 1):
            pairs.append((f"output_blocks.{i * (layers + 1) + j}.0.", f"up_blocks.{i}.resnets.{j}."))
            pairs.append((f"output_blocks.{i * (layers + 1) + j}.1.", f"up_blocks.{i}.attentions.{j}."))
        if i < n_blocks - 1:
            pairs.append((f"input_blocks.{(i + 1) * (layers + 1)}.0.op.", f"down_blocks.{i}.downsamplers.0.conv."))
            up = 2 if i in attn_up else 1
            pairs.append((f"output_blocks.{i * (layers + 1) + layers}.{up}.", f"up_blocks.{i}.upsamplers.0."))
    return pairs


def _to_ldm(unet_sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    resnet = [("in_layers.0", "norm1"), ("in_layers.2", "conv1"), ("out_layers.0", "norm2"),
              ("out_layers.3", "conv2"), ("emb_layers.1", "time_emb_proj"), ("skip_connection", "conv_shortcut")]
    pairs = _ldm_prefixes(2, 1, {1})
    out = {}
    for key, value in unet_sd.items():
        ldm, hf = next(p for p in pairs if key.startswith(p[1]))
        rest = key[len(hf):]
        if "resnets" in hf:
            rest = next((rest.replace(b, a, 1) for a, b in resnet if rest.startswith(b)), rest)
        out[U + ldm + rest] = value.contiguous()
    return out


def test_result_loads_as_a_9_channel_unet(tmp_path):
    diffusers = pytest.importorskip("diffusers")
    cfg = dict(sample_size=8, out_channels=4, layers_per_block=1, block_out_channels=(8, 16),
               down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
               up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
               cross_attention_dim=12, attention_head_dim=2, norm_num_groups=4)
    unets, paths = {}, {}
    for role, seed in (("finetune", 1), ("inpaint_base", 3), ("base", 2)):
        torch.manual_seed(seed)
        unets[role] = diffusers.UNet2DConditionModel(in_channels=9 if role == "inpaint_base" else 4, **cfg)
        sd = _to_ldm(unets[role].state_dict())
        sd[TE + "embeddings.token_embedding.weight"] = torch.randn(10, 12)
        paths[role] = tmp_path / f"{role}.safetensors"
        save_file(sd, paths[role])
    unets["inpaint_base"].save_config(tmp_path / "config")
    merge(paths, tmp_path / "out.safetensors", multiplier=M, fp16=False)
    unet = diffusers.UNet2DConditionModel.from_single_file(
        str(tmp_path / "out.safetensors"), config=str(tmp_path / "config")
    )
    assert unet.config.in_channels == 9
    got = unet.state_dict()
    sds = {r: u.state_dict() for r, u in unets.items()}
    for key in got:
        rule = "input_conv" if key == "conv_in.weight" else "merged"
        assert torch.equal(got[key], expected(sds, key, rule, M)), key
    with torch.no_grad():
        sample = unet(torch.randn(1, 9, 8, 8), 10, encoder_hidden_states=torch.randn(1, 3, 12)).sample
    assert sample.shape == (1, 4, 8, 8) and torch.isfinite(sample).all()

    folders = {}  # the same models as diffusers folders → a diffusers folder that from_pretrained loads
    for role, model in unets.items():
        folders[role] = tmp_path / f"{role}-diffusers"
        model.save_pretrained(folders[role] / "unet")
        (folders[role] / "model_index.json").write_text("{}")
    merge(folders, tmp_path / "out-diffusers", multiplier=M, fp16=False)
    again = diffusers.UNet2DConditionModel.from_pretrained(tmp_path / "out-diffusers" / "unet")
    assert again.config.in_channels == 9
    assert all(torch.equal(again.state_dict()[k], v) for k, v in got.items())


# ---------------------------------------------------------------------------- streaming


_MEASURE = textwrap.dedent(
    """
    import json, sys, threading, time
    import torch, tqdm  # imported before the baseline: the merge imports them lazily
    from autofix.modelfiles.merge import make_inpaint

    def status(field):
        for line in open("/proc/self/status"):
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    peak = [0]
    def sample():
        while not done:
            peak[0] = max(peak[0], status("VmRSS")); time.sleep(0.002)
    try:
        open("/proc/self/clear_refs", "w").write("5")  # reset VmHWM
        reset = True
    except OSError:
        reset = False
    before, done = status("VmRSS"), False
    t = threading.Thread(target=sample); t.start()
    make_inpaint(*sys.argv[1:5], multiplier=0.5, fp16=True, progress=False)
    done = True; t.join()
    hwm = status("VmHWM") if reset else 0
    print(json.dumps({"before": before, "peak": max(peak[0], hwm), "hwm_reset": reset}))
    """
)


def _big_model(path: Path, in_ch: int, n: int = 50, rows: int = 1024) -> None:
    """~n × 4 MB of float32 UNet tensors (rows × 1024) plus a marker text-encoder key."""
    entries = [(CONV, TensorInfo("F32", (8, in_ch, 3, 3))), (TE + "final_layer_norm.weight", TensorInfo("F32", (8,)))]
    entries += [(f"{U}input_blocks.{i}.0.in_layers.2.weight", TensorInfo("F32", (rows, 1024)))
                for i in range(1, n + 1)]
    entries.sort()
    with StreamWriter(path, entries) as w:
        for name, info in entries:
            w.write(name, torch.full(info.shape, float(in_ch)))


def test_peak_memory_stays_far_below_one_model(tmp_path):
    paths = {r: tmp_path / f"{r}.safetensors" for r in ("finetune", "inpaint_base", "base")}
    for role, path in paths.items():
        _big_model(path, 9 if role == "inpaint_base" else 4)
    size = paths["base"].stat().st_size
    assert size > 200e6
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    args = [*map(str, paths.values()), str(tmp_path / "out.safetensors")]
    res = subprocess.run([sys.executable, "-c", _MEASURE, *args], capture_output=True, text=True, env=env,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    mem = json.loads(res.stdout.strip().splitlines()[-1])
    extra = mem["peak"] - mem["before"]
    print(f"\nmerge of 3 x {size / 1e6:.0f} MB: peak additional RSS {extra / 1e6:.1f} MB ({mem})")
    assert extra < 0.25 * size  # loading the three files would be 3 × size; measured ~20 MB
    out = load_file(tmp_path / "out.safetensors")
    assert out[U + "input_blocks.7.0.in_layers.2.weight"].dtype == torch.float16
    assert float(out[U + "input_blocks.7.0.in_layers.2.weight"][0, 0]) == 9.0  # 9 + (4 - 4) * 0.5


# ---------------------------------------------------------------------- writer on its own


def test_stream_writer_roundtrip_through_safetensors(tmp_path):
    tensors = {"a": torch.randn(3, 4), "b": torch.randn(5).bfloat16(), "c": torch.arange(4),
               "d": torch.tensor(2.5), "e": torch.empty(0, 3), "f": torch.tensor([True, False]),
               "g": torch.randn(2, 2).half()}
    entries = [(k, TensorInfo(dtype_code(v.dtype), tuple(v.shape))) for k, v in tensors.items()]
    with StreamWriter(tmp_path / "x.safetensors", entries, {"note": "ünïcode"}) as writer:
        for key, value in tensors.items():
            writer.write(key, value)
    back = load_file(tmp_path / "x.safetensors")
    assert all(back[k].dtype == v.dtype and torch.equal(back[k], v) for k, v in tensors.items())
    with safe_open(tmp_path / "x.safetensors", "pt") as fh:
        assert fh.metadata() == {"note": "ünïcode"}
    with open_checkpoint(tmp_path / "x.safetensors") as ckpt:
        assert ckpt.keys() == sorted(tensors) and all(torch.equal(ckpt.get(k), v) for k, v in tensors.items())


def test_stream_writer_refuses_unplanned_and_leaves_nothing(tmp_path):
    target = tmp_path / "x.safetensors"
    target.write_bytes(b"old")
    entries = [("a", TensorInfo("F32", (2,))), ("b", TensorInfo("F16", (2,)))]
    with pytest.raises(SafetensorsError, match=r"expected a F32\[2\], got b"):
        with StreamWriter(target, entries) as writer:
            writer.write("b", torch.zeros(2, dtype=torch.float16))
    with pytest.raises(SafetensorsError, match="not all tensors were written"):
        with StreamWriter(target, entries) as writer:
            writer.write("a", torch.zeros(2))
    assert target.read_bytes() == b"old"
    assert not [p for p in tmp_path.iterdir() if TMP_MARK in p.name]
