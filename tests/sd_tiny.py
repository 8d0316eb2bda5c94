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


def to_original_state_dict(pipe: Any) -> dict[str, Any]:
    """All weights of a tiny pipeline under the original Stable Diffusion checkpoint names, by the
    product's own key conversion (:mod:`autofix.modelfiles.sd_keys`, what make-inpaint writes)."""
    import torch

    from autofix.modelfiles.sd_keys import conversion_plan

    family = "sdxl" if getattr(pipe, "text_encoder_2", None) is not None else "sd1"
    comps = ["unet", "vae", "text_encoder"] + (["text_encoder_2"] if family == "sdxl" else [])
    flat = {f"{c}.{k}": v for c in comps for k, v in getattr(pipe, c).state_dict().items()}
    plan, _ = conversion_plan(flat, family, dict(pipe.unet.config), dict(pipe.vae.config))
    out = {}
    for conv in plan:
        parts = [flat[s] for s in conv.sources]
        if conv.how == "cat0":
            value = torch.cat(parts, 0)
        elif conv.how == "transpose":
            value = parts[0].T
        elif conv.how == "conv1x1":
            value = parts[0][:, :, None, None]
        else:
            value = parts[0]
        out[conv.name] = value.detach().contiguous().clone()
    return out


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
