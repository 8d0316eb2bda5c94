"""Fix images straight out of a diffusers txt2img pipeline.

    from autofix.integrations.diffusers import attach
    pipe = StableDiffusionPipeline.from_pretrained(...)      # or StableDiffusionXLPipeline
    attach(pipe, preset="faces+hands")                         # pipe(...).images come back fixed
    images = pipe("portrait of a violinist").images
    pipe.autofix.last_results                                  # per-image region records

The repaint runs on an inpainting pipeline made with ``AutoPipelineForInpainting.from_pipe``,
which shares the txt2img pipeline's modules (no second copy of the weights). A regular
4-channel UNet inpaints through the re-noise-and-blend path. ``attach(pipe,
inpainter={"model": X})`` repaints with model X instead (an inpainting checkpoint, a file or
folder or repo id as ``--model`` takes), loaded by autofix's loader; X's VAE and text encoders
are replaced by the txt2img pipeline's when they are the same weights (``hook.shared_modules``
lists them), and kept as X's own otherwise. Each image inherits the call's
prompt and negative prompt through the stage prompts' ``{prompt}``/``{negative_prompt}``
templates, unless the config overrides them (per stage or per region).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..api import Fixer, FixResult
from ..config import build_config
from ..io.metadata import GenerationInfo


class AutofixHook:
    """What :func:`attach` installs as ``pipe.autofix``."""

    def __init__(self, pipe: Any, fixer: Fixer, original_class: type) -> None:
        self.pipe, self.fixer, self.original_class = pipe, fixer, original_class
        self.last_results: list[FixResult] = []
        self.shared_modules: tuple[str, ...] = ()  # modules a given inpainting model shares with ``pipe``

    def fix_images(self, images: Sequence[Any], prompts: Sequence[str] = (), negatives: Sequence[str] = ()) -> list[Any]:
        """Fix PIL images (or ``(H, W, 3)`` float/uint8 arrays) with the prompts that made them."""
        self.fixer.backends.inpainter("diffusers").clear_prompt_cache()  # the user may have swapped a LoRA
        infos = [GenerationInfo(_at(prompts, i), _at(negatives, i), source="diffusers") for i in range(len(images))]
        rgbs = [_to_uint8(image) for image in images]
        # stage-major over the whole batch: every image's crops of a stage share pipeline calls
        fixed, stages = self.fixer.fix_arrays(rgbs, infos)
        out = [_like(f, rgb, image) for f, rgb, image in zip(fixed, rgbs, images)]
        self.last_results = [FixResult(r, tuple(st)) for r, st in zip(out, stages)]
        return out


def _at(values: Sequence[str], i: int) -> str:
    return values[i % len(values)] if values else ""


def _to_uint8(image: Any) -> np.ndarray:
    if hasattr(image, "convert"):
        return np.asarray(image.convert("RGB"))
    arr = np.asarray(image)
    return arr if arr.dtype == np.uint8 else np.clip(arr * 255 + 0.5, 0, 255).astype(np.uint8)


def _like(fixed: np.ndarray, rgb: np.ndarray, original: Any) -> Any:
    """``fixed`` in the form of ``original``: a PIL image, or an array whose pixels that
    autofix did not change are returned exactly as they were (float outputs included)."""
    if hasattr(original, "convert"):
        from PIL import Image

        return Image.fromarray(fixed)
    arr = np.asarray(original)
    if arr.dtype == np.uint8:
        return fixed
    out = arr.copy()
    changed = (fixed != rgb).any(axis=-1)
    out[changed] = fixed[changed].astype(arr.dtype) / 255.0
    return out


def _prompt_lists(args: tuple[Any, ...], kwargs: dict[str, Any], n_images: int) -> tuple[list[str], list[str]]:
    prompt = kwargs.get("prompt", args[0] if args else None)
    negative = kwargs.get("negative_prompt")
    prompts = [prompt] if isinstance(prompt, str) else list(prompt or [])
    negatives = [negative] if isinstance(negative, str) else list(negative or [])
    per = max(1, n_images // max(1, len(prompts)))  # num_images_per_prompt repeats each prompt
    return [p for p in prompts for _ in range(per)], [n for n in negatives for _ in range(per)]


def attach(pipe: Any, preset: str = "faces+hands", overrides: Sequence[str] = (), **patch: Any) -> AutofixHook:
    """Make ``pipe(...)`` return fixed images. Returns the hook (also ``pipe.autofix``).

    ``patch``/``overrides`` adjust the preset as in :func:`autofix.config.build_config`. The
    images of ``output_type`` ``"pil"`` (default) and ``"np"`` are fixed; latents pass through.
    """
    from diffusers import AutoPipelineForInpainting

    from ..inpaint.diffusion import DiffusionInpainter

    if hasattr(pipe, "autofix"):
        raise ValueError("autofix is already attached to this pipeline; call detach(pipe) first")
    patch = dict(patch)
    patch["inpainter"] = {**patch.get("inpainter", {}), "backend": "diffusers"}
    config = build_config(preset, overrides=list(overrides), patch=patch)
    fixer = Fixer(config)
    shared: tuple[str, ...] = ()
    if config.inpainter.model or config.inpainter.model_dir:
        # a given model repaints (e.g. an inpainting checkpoint): loaded by autofix's own loader;
        # its VAE / text encoders are replaced by the txt2img pipeline's when they are the same weights
        inpainter = DiffusionInpainter(config.inpainter)
        shared = share_modules(pipe, inpainter.pipeline)
    else:
        inpainter = DiffusionInpainter.from_pipeline(AutoPipelineForInpainting.from_pipe(pipe), config.inpainter)
    fixer.backends.use_inpainter("diffusers", inpainter)
    hook = AutofixHook(pipe, fixer, type(pipe))
    hook.shared_modules = shared
    pipe.__class__ = _hooked_class(type(pipe))
    pipe.autofix = hook
    return hook


#: Modules of a txt2img pipeline an inpainting model may share (tokenizers follow their encoders).
SHAREABLE = ("vae", "text_encoder", "text_encoder_2")


def share_modules(src: Any, dst: Any) -> tuple[str, ...]:
    """Point ``dst``'s VAE / text encoders at ``src``'s where they are the same module class,
    config and weights (then ``dst``'s own copy is dropped); returns the names shared. Modules
    that differ (another fine-tune's text encoder, another VAE) stay ``dst``'s own."""
    import torch

    shared = []
    for name in SHAREABLE:
        a, b = getattr(src, name, None), getattr(dst, name, None)
        if a is None or b is None or a is b:
            continue
        if type(a) is not type(b) or _config(a) != _config(b):
            continue
        sa, sb = a.state_dict(), b.state_dict()
        if sa.keys() != sb.keys() or not all(
                sa[k].shape == sb[k].shape and torch.equal(sa[k].detach().cpu().to(sb[k].dtype), sb[k].detach().cpu())
                for k in sa):
            continue
        dst.register_modules(**{name: a})
        tok = name.replace("text_encoder", "tokenizer")
        if tok != name and getattr(src, tok, None) is not None:
            dst.register_modules(**{tok: getattr(src, tok)})
        shared.append(name)
    return tuple(shared)


def _config(module: Any) -> Any:
    cfg = getattr(module, "config", None)
    if cfg is None:
        return None
    data = cfg.to_dict() if hasattr(cfg, "to_dict") else dict(cfg)
    return {k: v for k, v in data.items() if not k.startswith("_") and k not in ("transformers_version",
                                                                                  "torch_dtype", "dtype")}


def detach(pipe: Any) -> None:
    """Undo :func:`attach`."""
    hook = pipe.__dict__.pop("autofix", None)
    if hook is not None:
        pipe.__class__ = hook.original_class


def _hooked_class(cls: type) -> type:
    def __call__(self: Any, *args: Any, **kwargs: Any) -> Any:
        output = cls.__call__(self, *args, **kwargs)
        as_tuple = isinstance(output, tuple)  # return_dict=False
        images = output[0] if as_tuple else getattr(output, "images", None)
        if images is None or kwargs.get("output_type") in ("latent", "pt"):
            return output
        prompts, negatives = _prompt_lists(args, kwargs, len(images))
        fixed = self.autofix.fix_images(list(images), prompts, negatives)
        fixed = fixed if isinstance(images, list) else np.stack(fixed)
        if as_tuple:
            return (fixed, *output[1:])
        output.images = fixed
        return output

    return type(f"Autofix{cls.__name__}", (cls,), {"__call__": __call__, "__module__": cls.__module__})
