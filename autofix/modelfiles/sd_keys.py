"""Diffusers key names → the original (single-file) Stable Diffusion layout.

What ``make-inpaint`` needs to write one A1111/ComfyUI-style ``.safetensors`` from diffusers
folders, and what ``tests/sd_tiny.py`` uses to save its tiny models as single files: the
inverse of the mapping diffusers' single-file loader applies, for any block count.

* UNet ``unet.*`` → ``model.diffusion_model.*`` (``input_blocks``/``middle_block``/
  ``output_blocks``, resnet sub-layers renamed, SDXL ``add_embedding`` → ``label_emb``);
* VAE ``vae.*`` → ``first_stage_model.*`` (mid-block attention linears become 1×1 convs);
* SD1 text encoder ``text_encoder.*`` → ``cond_stage_model.transformer.text_model.*``; SDXL's
  first → ``conditioner.embedders.0.transformer.text_model.*``, its second (OpenCLIP-G)
  ``text_encoder_2.*`` → ``conditioner.embedders.1.model.*`` with q/k/v fused into
  ``in_proj`` and the projection transposed.

:func:`conversion_plan` maps every diffusers key to one :class:`Converted` output: its name,
the source keys and how they combine (``same``, ``conv1x1``, ``cat0``, ``transpose``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

#: Keys with a fixed original name (diffusers' ``DIFFUSERS_TO_LDM_MAPPING``).
_UNET_FIXED = {
    "time_embedding.linear_1.weight": "time_embed.0.weight", "time_embedding.linear_1.bias": "time_embed.0.bias",
    "time_embedding.linear_2.weight": "time_embed.2.weight", "time_embedding.linear_2.bias": "time_embed.2.bias",
    "conv_in.weight": "input_blocks.0.0.weight", "conv_in.bias": "input_blocks.0.0.bias",
    "conv_norm_out.weight": "out.0.weight", "conv_norm_out.bias": "out.0.bias",
    "conv_out.weight": "out.2.weight", "conv_out.bias": "out.2.bias",
    "add_embedding.linear_1.weight": "label_emb.0.0.weight", "add_embedding.linear_1.bias": "label_emb.0.0.bias",
    "add_embedding.linear_2.weight": "label_emb.0.2.weight", "add_embedding.linear_2.bias": "label_emb.0.2.bias",
}
_VAE_FIXED = {
    "encoder.conv_norm_out.weight": "encoder.norm_out.weight", "encoder.conv_norm_out.bias": "encoder.norm_out.bias",
    "decoder.conv_norm_out.weight": "decoder.norm_out.weight", "decoder.conv_norm_out.bias": "decoder.norm_out.bias",
}
_RESNET = {"norm1": "in_layers.0", "conv1": "in_layers.2", "time_emb_proj": "emb_layers.1",
           "norm2": "out_layers.0", "conv2": "out_layers.3", "conv_shortcut": "skip_connection"}
_VAE_ATTN = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out": "proj_out"}
_OPEN_CLIP_RENAME = {"layer_norm1": "ln_1", "layer_norm2": "ln_2", "mlp.fc1": "mlp.c_fc", "mlp.fc2": "mlp.c_proj",
                     "self_attn.out_proj": "attn.out_proj"}
PREFIX = {"unet": "model.diffusion_model.", "vae": "first_stage_model."}
TEXT_PREFIX = {"sd1": "cond_stage_model.transformer.", "sdxl": "conditioner.embedders.0.transformer."}
OPEN_CLIP_PREFIX = "conditioner.embedders.1.model."


@dataclass(frozen=True)
class Converted:
    """One output tensor: ``name`` in the original layout, made from ``sources`` (diffusers
    keys, in order) by ``how``: ``same``, ``conv1x1`` (append two 1-sized dims), ``cat0``
    (concatenate along dim 0) or ``transpose`` (a 2-D matrix)."""

    name: str
    sources: tuple[str, ...]
    how: str = "same"


def unet_key(key: str, layers: int, up_has_attn: dict[int, bool]) -> str:
    """Original name of one diffusers UNet parameter; ``layers`` = ``layers_per_block``."""
    if key in _UNET_FIXED:
        return _UNET_FIXED[key]
    p = key.split(".")
    if p[0] == "down_blocks":
        i = int(p[1])
        if p[2] == "downsamplers":
            return f"input_blocks.{(layers + 1) * (i + 1)}.0.op." + ".".join(p[5:])
        slot, rest = _slot(p[2], p[4:])
        return f"input_blocks.{(layers + 1) * i + int(p[3]) + 1}.{slot}.{rest}"
    if p[0] == "up_blocks":
        i = int(p[1])
        if p[2] == "upsamplers":
            return f"output_blocks.{(layers + 1) * i + layers}.{2 if up_has_attn[i] else 1}.conv." + ".".join(p[5:])
        slot, rest = _slot(p[2], p[4:])
        return f"output_blocks.{(layers + 1) * i + int(p[3])}.{slot}.{rest}"
    if p[0] == "mid_block":
        index = 2 * int(p[2]) if p[1] == "resnets" else 1
        _, rest = _slot(p[1], p[3:])
        return f"middle_block.{index}.{rest}"
    raise KeyError(key)


def _slot(kind: str, parts: list[str]) -> tuple[str, str]:
    if kind == "resnets":
        return "0", ".".join([_RESNET.get(parts[0], parts[0]), *parts[1:]])
    if kind == "attentions":
        return "1", ".".join(parts)
    raise KeyError(kind)


def vae_key(key: str, n_blocks: int) -> tuple[str, bool]:
    """Original name of a diffusers VAE parameter, and whether a linear weight becomes a 1×1 conv."""
    if key in _VAE_FIXED:
        return _VAE_FIXED[key], False
    p = key.split(".")
    if len(p) == 2 or p[1] in ("conv_in", "conv_out"):
        return key, False  # quant_conv, post_quant_conv, encoder/decoder conv_in/conv_out
    side = p[0]
    if p[1] == "mid_block":
        if p[2] == "resnets":
            rest = ".".join(p[4:]).replace("conv_shortcut", "nin_shortcut")
            return f"{side}.mid.block_{int(p[3]) + 1}.{rest}", False
        tail = p[5:] if p[4] != "to_out" else p[6:]
        return f"{side}.mid.attn_1.{_VAE_ATTN[p[4]]}." + ".".join(tail), p[4] != "group_norm" and p[-1] == "weight"
    i = int(p[2]) if side == "encoder" else n_blocks - 1 - int(p[2])
    level = "down" if side == "encoder" else "up"
    if p[3] in ("downsamplers", "upsamplers"):
        return f"{side}.{level}.{i}.{level}sample.conv." + ".".join(p[6:]), False
    return f"{side}.{level}.{i}.block.{p[4]}." + ".".join(p[5:]).replace("conv_shortcut", "nin_shortcut"), False


def _open_clip(keys: set[str], prefix: str) -> list[Converted]:
    """CLIPTextModelWithProjection keys (without the component prefix) → open_clip names."""
    out = [Converted(OPEN_CLIP_PREFIX + dst, (src,), how) for src, dst, how in (
        ("text_model.embeddings.position_embedding.weight", "positional_embedding", "same"),
        ("text_model.embeddings.token_embedding.weight", "token_embedding.weight", "same"),
        ("text_model.final_layer_norm.weight", "ln_final.weight", "same"),
        ("text_model.final_layer_norm.bias", "ln_final.bias", "same"),
        ("text_projection.weight", "text_projection", "transpose"),
    ) if src in keys]
    layers = sorted({int(k.split(".")[3]) for k in keys if k.startswith("text_model.encoder.layers.")})
    for i in layers:
        src, dst = f"text_model.encoder.layers.{i}.", f"{OPEN_CLIP_PREFIX}transformer.resblocks.{i}."
        for kind in ("weight", "bias"):
            qkv = tuple(f"{src}self_attn.{n}_proj.{kind}" for n in "qkv")
            if all(k in keys for k in qkv):
                out.append(Converted(f"{dst}attn.in_proj_{kind}", qkv, "cat0"))
            for old, new in _OPEN_CLIP_RENAME.items():
                if f"{src}{old}.{kind}" in keys:
                    out.append(Converted(f"{dst}{new}.{kind}", (f"{src}{old}.{kind}",)))
    return [Converted(c.name, tuple(prefix + s for s in c.sources), c.how) for c in out]


def conversion_plan(keys: Iterable[str], family: str, unet_config: dict[str, Any],
                    vae_config: dict[str, Any]) -> tuple[list[Converted], list[str]]:
    """``(outputs, dropped)`` for ``<component>.``-prefixed diffusers ``keys`` of an SD1 or SDXL
    pipeline. ``dropped``: keys with no original counterpart (``position_ids`` of the OpenCLIP
    encoder). Raises ``KeyError`` naming a key it cannot place."""
    layers = int(unet_config.get("layers_per_block", 2))
    up_has_attn = {i: str(t).startswith("CrossAttn") for i, t in enumerate(unet_config.get("up_block_types", ()))}
    n_vae = len(vae_config.get("block_out_channels", (128, 256, 512, 512)))
    keys = list(keys)
    out: list[Converted] = []
    dropped: list[str] = []
    te2 = {k[len("text_encoder_2."):] for k in keys if k.startswith("text_encoder_2.")}
    if te2:
        out += _open_clip(te2, "text_encoder_2.")
        used = {s for c in out for s in c.sources}
        dropped += sorted(f"text_encoder_2.{k}" for k in te2 if f"text_encoder_2.{k}" not in used)
    for key in keys:
        component, _, rest = key.partition(".")
        if component == "unet":
            out.append(Converted(PREFIX["unet"] + unet_key(rest, layers, up_has_attn), (key,)))
        elif component == "vae":
            name, conv = vae_key(rest, n_vae)
            out.append(Converted(PREFIX["vae"] + name, (key,), "conv1x1" if conv else "same"))
        elif component == "text_encoder":
            full = rest if rest.startswith("text_model.") else "text_model." + rest
            out.append(Converted(TEXT_PREFIX["sdxl" if family == "sdxl" else "sd1"] + full, (key,)))
        elif component != "text_encoder_2":
            raise KeyError(key)
    return sorted(out, key=lambda c: c.name), dropped
