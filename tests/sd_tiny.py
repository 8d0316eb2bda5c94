"""Tiny Stable Diffusion inpainting models built from configs, for tests and ``bench/``.

Same architecture families as the real models (SD1.x and SDXL, 9- or 4-channel UNets),
a few hundred KB of random weights each, saved the two ways users keep models:

* a diffusers folder (``model_index.json`` + one subfolder per component), and
* one ``.safetensors`` (or ``.ckpt``) file with the original Stable Diffusion key names
  (``model.diffusion_model.*``, ``first_stage_model.*``, ``cond_stage_model.transformer.*``;
  SDXL: ``conditioner.embedders.0.transformer.*`` and ``conditioner.embedders.1.model.*``),
  written by inverting the key mapping diffusers' single-file loader applies, plus
* a config folder (the same layout with no weights) that single-file loading of such a
  tiny file needs in place of the shipped full-size one.

Nothing here touches the network. Typical use::

    paths = make_tiny_models(tmp_path)            # {"sd15-inpainting": TinyModel(...), ...}
    inp = DiffusionInpainter(paths["sd15-inpainting"].single_file,
                             config_dir=paths["sd15-inpainting"].config_dir)
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Names of the tiny variants :func:`make_tiny_models` builds, as ``(family, in_channels)``.
VARIANTS: dict[str, tuple[str, int]] = {
    "sd15-inpainting": ("sd15", 9),
    "sd15": ("sd15", 4),
    "sdxl-inpainting": ("sdxl", 9),
}

_SD_PREFIX = {"unet": "model.diffusion_model.", "vae": "first_stage_model."}
_TE1_PREFIX = {"sd15": "cond_stage_model.transformer.", "sdxl": "conditioner.embedders.0.transformer."}
_TE2_PREFIX = "conditioner.embedders.1.model."


@dataclass(frozen=True)
class TinyModel:
    """Where one tiny variant was written.

    Attributes:
        folder: diffusers folder (with weights).
        single_file: ``<name>.safetensors`` with original SD key names.
        config_dir: diffusers-layout folder with configs and tokenizer files, no weights.
    """

    folder: Path
    single_file: Path
    config_dir: Path


def tiny_tokenizer() -> Any:
    """A CLIP BPE tokenizer over a 518-token vocabulary (bytes, bytes + ``</w>``, 4 merges)."""
    from transformers import CLIPTokenizer

    from autofix.inpaint.sd_loading import clip_byte_symbols

    symbols = clip_byte_symbols()
    merges = [("h", "a"), ("ha", "n"), ("han", "d</w>"), ("f", "a")]
    tokens = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    tok = CLIPTokenizer(vocab={t: i for i, t in enumerate(tokens)}, merges=merges)
    tok.model_max_length = 77
    return tok


def _text_config(with_projection: bool = False) -> Any:
    from transformers import CLIPTextConfig

    # The second (SDXL) encoder must differ in width from the first: diffusers tells them apart by shape.
    return CLIPTextConfig(
        hidden_size=48 if with_projection else 32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
        vocab_size=520, max_position_embeddings=77, projection_dim=32,
        hidden_act="gelu" if with_projection else "quick_gelu", bos_token_id=0, eos_token_id=2, pad_token_id=1,
    )


def _vae() -> Any:
    from diffusers import AutoencoderKL

    # Four blocks, so the latent is 1/8 of the image as in the real VAE.
    return AutoencoderKL(
        block_out_channels=(8, 16, 32, 32), layers_per_block=1, norm_num_groups=8, latent_channels=4,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4, sample_size=64,
        force_upcast=False,
    )


def _unet(family: str, in_channels: int) -> Any:
    from diffusers import UNet2DConditionModel

    common = dict(
        block_out_channels=(32, 64), layers_per_block=2, sample_size=32, in_channels=in_channels, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
    )
    if family == "sd15":
        return UNet2DConditionModel(cross_attention_dim=32, **common)
    return UNet2DConditionModel(
        attention_head_dim=(2, 4), use_linear_projection=True, addition_embed_type="text_time",
        addition_time_embed_dim=8, transformer_layers_per_block=(1, 2), projection_class_embeddings_input_dim=80,
        cross_attention_dim=80, **common,
    )


def build_tiny_pipeline(family: str = "sd15", in_channels: int = 9, seed: int = 0) -> Any:
    """A random-weight inpainting pipeline: ``family`` ``"sd15"`` or ``"sdxl"``, UNet ``in_channels`` 4 or 9."""
    import torch
    from diffusers import DDIMScheduler, StableDiffusionInpaintPipeline, StableDiffusionXLInpaintPipeline
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    if family not in ("sd15", "sdxl") or in_channels not in (4, 9):
        raise ValueError(f"family must be sd15/sdxl and in_channels 4/9, are {family!r} {in_channels}")
    torch.manual_seed(seed)
    unet, vae = _unet(family, in_channels), _vae()
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    te = CLIPTextModel(_text_config()).eval()
    if family == "sd15":
        return StableDiffusionInpaintPipeline(
            vae=vae, text_encoder=te, tokenizer=tiny_tokenizer(), unet=unet, scheduler=scheduler,
            safety_checker=None, feature_extractor=None, requires_safety_checker=False,
        )
    te2 = CLIPTextModelWithProjection(_text_config(with_projection=True)).eval()
    return StableDiffusionXLInpaintPipeline(
        vae=vae, text_encoder=te, text_encoder_2=te2, tokenizer=tiny_tokenizer(), tokenizer_2=tiny_tokenizer(),
        unet=unet, scheduler=scheduler, requires_aesthetics_score=False, force_zeros_for_empty_prompt=True,
    )


# ---------------------------------------------------------------- diffusers → original keys


def _unet_ldm_key(key: str, layers: int, up_has_attn: dict[int, bool]) -> str:
    """Original (LDM) name of one diffusers UNet parameter name; ``layers`` = layers_per_block."""
    from diffusers.loaders.single_file_utils import DIFFUSERS_TO_LDM_MAPPING as M

    fixed = {**M["unet"]["layers"], **M["unet"]["addition_embed_type"]}
    if key in fixed:
        return fixed[key]
    p = key.split(".")
    if p[0] == "down_blocks":
        i = int(p[1])
        if p[2] == "downsamplers":
            return f"input_blocks.{(layers + 1) * (i + 1)}.0.op." + ".".join(p[5:])
        slot = "0" if p[2] == "resnets" else "1"
        rest = _resnet_ldm(p[4:]) if p[2] == "resnets" else ".".join(p[4:])
        return f"input_blocks.{(layers + 1) * i + int(p[3]) + 1}.{slot}.{rest}"
    if p[0] == "up_blocks":
        i = int(p[1])
        if p[2] == "upsamplers":
            return f"output_blocks.{(layers + 1) * i + layers}.{2 if up_has_attn[i] else 1}.conv." + ".".join(p[5:])
        slot = "0" if p[2] == "resnets" else "1"
        rest = _resnet_ldm(p[4:]) if p[2] == "resnets" else ".".join(p[4:])
        return f"output_blocks.{(layers + 1) * i + int(p[3])}.{slot}.{rest}"
    if p[0] == "mid_block":
        index = 2 * int(p[2]) if p[1] == "resnets" else 1
        rest = _resnet_ldm(p[3:]) if p[1] == "resnets" else ".".join(p[3:])
        return f"middle_block.{index}.{rest}"
    raise KeyError(f"no original name for UNet parameter {key}")


def _resnet_ldm(parts: list[str]) -> str:
    names = {"norm1": "in_layers.0", "conv1": "in_layers.2", "time_emb_proj": "emb_layers.1",
             "norm2": "out_layers.0", "conv2": "out_layers.3", "conv_shortcut": "skip_connection"}
    return ".".join([names.get(parts[0], parts[0]), *parts[1:]])


def _vae_ldm_key(key: str, n_blocks: int) -> tuple[str, bool]:
    """Original name of a diffusers VAE parameter, and whether a linear weight becomes a 1×1 conv."""
    from diffusers.loaders.single_file_utils import DIFFUSERS_TO_LDM_MAPPING as M

    if key in M["vae"]:
        return M["vae"][key], False
    p = key.split(".")
    side = p[0]
    if p[1] == "mid_block":
        if p[2] == "resnets":
            rest = ".".join(p[4:]).replace("conv_shortcut", "nin_shortcut")
            return f"{side}.mid.block_{int(p[3]) + 1}.{rest}", False
        attn = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out": "proj_out"}
        tail = p[5:] if p[4] != "to_out" else p[6:]
        return f"{side}.mid.attn_1.{attn[p[4]]}." + ".".join(tail), p[4] != "group_norm" and p[-1] == "weight"
    i = int(p[2]) if side == "encoder" else n_blocks - 1 - int(p[2])
    level = "down" if side == "encoder" else "up"
    if p[3] in ("downsamplers", "upsamplers"):
        return f"{side}.{level}.{i}.{level}sample.conv." + ".".join(p[6:]), False
    return f"{side}.{level}.{i}.block.{p[4]}." + ".".join(p[5:]).replace("conv_shortcut", "nin_shortcut"), False


def _clip_ldm_items(model: Any, prefix: str) -> dict[str, Any]:
    """transformers CLIPTextModel weights under the original ``<prefix>text_model.*`` names."""
    out = {}
    for key, value in model.state_dict().items():
        full = key if key.startswith("text_model.") else "text_model." + key
        out[prefix + full] = value
    return out


def _open_clip_items(model: Any, prefix: str = _TE2_PREFIX) -> dict[str, Any]:
    """CLIPTextModelWithProjection weights under open_clip names (fused q/k/v ``in_proj``)."""
    import torch

    sd = model.state_dict()
    out = {prefix + "positional_embedding": sd["text_model.embeddings.position_embedding.weight"],
           prefix + "token_embedding.weight": sd["text_model.embeddings.token_embedding.weight"],
           prefix + "ln_final.weight": sd["text_model.final_layer_norm.weight"],
           prefix + "ln_final.bias": sd["text_model.final_layer_norm.bias"],
           prefix + "text_projection": sd["text_projection.weight"].T.contiguous()}
    rename = {"layer_norm1": "ln_1", "layer_norm2": "ln_2", "mlp.fc1": "mlp.c_fc", "mlp.fc2": "mlp.c_proj",
              "self_attn.out_proj": "attn.out_proj"}
    for i in range(model.config.num_hidden_layers):
        src = f"text_model.encoder.layers.{i}."
        dst = f"{prefix}transformer.resblocks.{i}."
        for kind in ("weight", "bias"):
            qkv = [sd[f"{src}self_attn.{n}_proj.{kind}"] for n in "qkv"]
            out[f"{dst}attn.in_proj_{kind}"] = torch.cat(qkv, 0)
            for old, new in rename.items():
                out[f"{dst}{new}.{kind}"] = sd[f"{src}{old}.{kind}"]
    return out


def to_original_state_dict(pipe: Any) -> dict[str, Any]:
    """All weights of a tiny pipeline under the original Stable Diffusion checkpoint names."""
    unet_cfg = pipe.unet.config
    up_attn = {i: t.startswith("CrossAttn") for i, t in enumerate(unet_cfg.up_block_types)}
    out = {}
    for key, value in pipe.unet.state_dict().items():
        out[_SD_PREFIX["unet"] + _unet_ldm_key(key, unet_cfg.layers_per_block, up_attn)] = value
    for key, value in pipe.vae.state_dict().items():
        name, to_conv = _vae_ldm_key(key, len(pipe.vae.config.block_out_channels))
        out[_SD_PREFIX["vae"] + name] = value[:, :, None, None] if to_conv else value
    family = "sdxl" if hasattr(pipe, "text_encoder_2") else "sd15"
    out.update(_clip_ldm_items(pipe.text_encoder, _TE1_PREFIX[family]))
    if family == "sdxl":
        out.update(_open_clip_items(pipe.text_encoder_2))
    return {k: v.detach().contiguous().clone() for k, v in out.items()}


# ---------------------------------------------------------------- writing to disk


def save_single_file(pipe: Any, path: str | Path) -> Path:
    """Write ``pipe`` as one A1111-style checkpoint: ``.safetensors``, or ``.ckpt`` (torch pickle)."""
    import torch
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sd = to_original_state_dict(pipe)
    if path.suffix == ".safetensors":
        save_file(sd, str(path))
    else:
        torch.save({"state_dict": sd}, path)
    return path


def write_config_folder(pipe: Any, folder: str | Path) -> Path:
    """Write ``pipe``'s configs and tokenizers in diffusers layout, with no weights."""
    folder = Path(folder)
    pipe.save_config(folder)
    for name, component in pipe.components.items():
        if component is None:
            continue
        if hasattr(component, "save_vocabulary") or name.startswith("tokenizer"):
            component.save_pretrained(folder / name)
        elif hasattr(component, "save_config"):
            component.save_config(folder / name)
        else:
            component.config.save_pretrained(folder / name)
    return folder


def make_tiny_models(root: str | Path, variants: tuple[str, ...] = tuple(VARIANTS)) -> dict[str, TinyModel]:
    """Build each of ``variants`` (keys of :data:`VARIANTS`) under ``root/<name>/``; reuses finished ones."""
    root = Path(root)
    out = {}
    for seed, name in enumerate(variants):
        family, in_channels = VARIANTS[name]
        base = root / name
        model = TinyModel(base / "diffusers", base / f"{name}.safetensors", base / "config")
        done = base / "done.json"
        if not done.exists():
            shutil.rmtree(base, ignore_errors=True)
            pipe = build_tiny_pipeline(family, in_channels, seed=seed)
            pipe.save_pretrained(model.folder, safe_serialization=True)
            save_single_file(pipe, model.single_file)
            write_config_folder(pipe, model.config_dir)
            done.write_text(json.dumps({"family": family, "in_channels": in_channels}))
        out[name] = model
    return out
