"""The Stable Diffusion inpainting backend (diffusers): ``DiffusionInpainter``.

What one :meth:`DiffusionInpainter.inpaint` call does with its jobs:

* **Validates everything first**: image/mask formats and each job's ``params`` (the
  :class:`~autofix.config.InpaintParams` fields; unknown keys are ignored), before any model work.
* **Batches**: jobs (and their candidates) that share a crop size and sampling settings
  (strength, steps, cfg, scheduler, masked_content) go through ONE pipeline call, split into
  near-equal chunks of at most ``max_batch`` images.
* **Seeds**: every image gets its own CPU ``torch.Generator``; candidate ``k`` of a job with
  seed ``s`` uses ``(s + 1_000_003·k) mod 2**64`` (candidate 0 uses ``s`` itself; the prime
  stride keeps candidates away from neighbouring regions' ``base_seed + index`` seeds). So a
  batched call draws exactly the noise one-by-one calls draw (and CPU and GPU draw the same);
  the pixels then agree up to float summation order, which kernels vary with batch size
  (measured on CPU: at most one level, on well under 1% of pixels).
* **Text**: each distinct prompt / negative prompt is encoded once and kept (LRU, 256 texts)
  across calls; the pipeline gets ``prompt_embeds``. Prompts past 77 CLIP tokens are truncated.
* **Both UNet kinds**: 9-channel inpainting UNets get ``cat(latents, mask, masked-image
  latents)``; with a 4-channel UNet, diffusers' ``StableDiffusionInpaintPipeline`` re-noises the
  original latents to the next timestep and blends them back outside the mask after every
  step (pipeline_stable_diffusion_inpaint.py, ``num_channels_unet == 4``; tested here).
* **SDXL at strength 1.0** runs at 0.99 (diffusers#8450: pure-noise SDXL inpainting degrades);
  the result's ``info["notes"]`` says so.
* **masked_content**: ``original`` (default) uses the crop as is; ``fill`` pre-fills the masked
  pixels from their surroundings (OpenCV TELEA at ≤128 px, upscaled) before encoding;
  ``latent_noise`` / ``latent_nothing`` replace the masked part of the initial latents by seeded
  Gaussian noise / zeros (then noised to the start timestep like the rest), as A1111 does. All
  four only matter below strength 1.0.
* **Precision**: CUDA runs float16 by default (``dtype`` may say bfloat16/float32) with PyTorch
  SDPA attention (diffusers' default ``AttnProcessor2_0``) and a channels-last UNet; CPU runs
  float32. The VAE decodes in float32 when its config asks (SDXL ``force_upcast``) or after a
  half-precision decode produced NaN/inf (retried at once, and float32 from then on).
* **Safety checker**: off by default. When on, a flagged candidate is replaced by the job's
  original crop and ``info["blocked"] = "safety_checker"`` (``info["blocked_candidates"]`` lists which).

The pipeline is loaded on first use and kept in the object. Output candidates are
``(h, w, 3)`` uint8 RGB at the job's crop size; crops whose sides are not multiples of 8 are
edge-padded for the model and cropped back.
"""

from __future__ import annotations

import logging
import math
from collections import OrderedDict
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence, get_args

import numpy as np
from pydantic import ValidationError

from ..choices import Dtype
from ..config import InpainterConfig, InpaintParams
from ..errors import ConfigError
from ..types import InpaintJob, InpaintResult
from .base import INPAINTERS, check_job
from .samplers import SCHEDULERS as _SAMPLER_TABLE
from .samplers import scheduler_name as _sampler_key
from .sd_loading import (
    SD_CONFIGS,
    ResolvedModel,
    load_pipeline,
    load_safety_checker,
    resolve_model,
)
from ..modelfiles.identity import model_sha256

log = logging.getLogger(__name__)

#: Scheduler names accepted in ``params["scheduler"]`` → (diffusers class, config overrides):
#: every A1111/ComfyUI/InvokeAI/NovelAI sampler with a diffusers equivalent (see :mod:`.samplers`).
SCHEDULERS = _SAMPLER_TABLE
#: Seed offset between candidates of one job.
CANDIDATE_SEED_STRIDE = 1_000_003
#: SDXL strength ceiling (see module docstring).
SDXL_MAX_STRENGTH = 0.99
#: Accepted ``dtype`` settings.
DTYPES: tuple[str, ...] = get_args(Dtype)
_DTYPE_ALIASES = {"fp32": "float32", "fp16": "float16", "half": "float16", "bf16": "bfloat16"}
_EMBED_CACHE = 256
_FILL_SEED_OFFSET = 2**32  # latent_noise fill draws from a stream no region seed (< 2**32) uses


def scheduler_name(name: str | None) -> str | None:
    """Canonical scheduler key for ``name`` in A1111 ("DPM++ 2M Karras"), ComfyUI
    ("dpmpp_2m_sde_gpu"), InvokeAI ("dpmpp_2m_k") or autofix ("dpm++_2m_karras") spelling;
    ``None`` keeps the model's own. Unknown names raise :class:`ConfigError` listing the valid ones."""
    return _sampler_key(name)


def candidate_seed(seed: int, k: int) -> int:
    """Seed of candidate ``k`` of a job whose seed is ``seed``."""
    return (int(seed) + CANDIDATE_SEED_STRIDE * k) % 2**64


@dataclass(frozen=True)
class _Settings:
    """A job's validated sampling settings; the first seven fields are its batching key."""

    width: int
    height: int
    strength: float
    steps: int
    cfg: float
    scheduler: str | None
    masked_content: str
    candidates: int
    notes: tuple[str, ...] = ()
    loras: tuple[Any, ...] = ()  # ResolvedLora set of the job's prompts (batches never mix sets)
    #: ControlNet units as (model, type, weight, start, end) (batches never mix sets)
    controlnets: tuple[tuple[Any, ...], ...] = ()

    @property
    def key(self) -> tuple[Any, ...]:
        return (self.width, self.height, self.strength, self.steps, self.cfg, self.scheduler, self.masked_content,
                self.loras, self.controlnets)


@dataclass
class _Item:
    """One image to generate: candidate ``k`` of job ``job``."""

    job: int
    k: int
    seed: int
    image: np.ndarray  # padded to multiples of 8, masked_content "fill" applied
    mask: np.ndarray  # padded, 0/255
    prompt: str
    negative: str
    original: np.ndarray  # the job's crop as given (kept for safety-checker blocks)
    control: tuple[np.ndarray, ...] = ()  # ControlNet control images, padded like ``image`` (float32 HxWx3)


class DiffusionInpainter:
    """Stable Diffusion 1.x / SDXL inpainting through diffusers (see the module docstring).

    Args:
        cfg: ``model`` / ``model_dir`` / ``allow_pickle`` / ``device`` pick the weights and device.
        config_dir: architecture folder for single-file checkpoints, instead of the shipped one.
        max_batch: most images per pipeline call (``>= 1``).
        dtype: ``"auto"`` (float16 on CUDA, float32 elsewhere), ``"float32"``, ``"float16"``, ``"bfloat16"``.
        cpu_offload: on CUDA, keep only the running component on the GPU (diffusers model offload).
        safety_checker: run the SD safety checker on every candidate.

    Keyword arguments left ``None`` are taken from same-named fields of ``cfg`` when it has them.
    """

    generative = True

    def __init__(
        self,
        cfg: InpainterConfig,
        *,
        config_dir: str | None = None,
        max_batch: int | None = None,
        dtype: str | None = None,
        cpu_offload: bool | None = None,
        safety_checker: bool | None = None,
    ) -> None:
        self.max_batch = int(_opt(max_batch, cfg, "max_batch", 8))
        if self.max_batch < 1:
            raise ConfigError(f"max_batch must be >= 1, is {self.max_batch}")
        dtype_name = _dtype_name(_opt(dtype, cfg, "dtype", "auto"))
        self.cpu_offload = bool(_opt(cpu_offload, cfg, "cpu_offload", False))
        self.safety_checker = bool(_opt(safety_checker, cfg, "safety_checker", False))
        self.allow_pickle = bool(cfg.allow_pickle)  # False: $AUTOFIX_ALLOW_PICKLE decides (modelfiles.trust)
        self.source: ResolvedModel = resolve_model(cfg, config_dir=_opt(config_dir, cfg, "config_dir", None))
        self.device = _pick_device(cfg.device)
        self.dtype = _pick_dtype(self.device, dtype_name)
        self.name = f"diffusers:{self.source.stem}"
        self._pipe: Any = None
        self._safety: tuple[Any, Any] | None = None
        self._embeds: OrderedDict[str, tuple[Any, Any]] = OrderedDict()
        self._schedulers: dict[str | None, Any] = {}
        self._vae_fp32 = False
        self._sha256: str | None = None

    @classmethod
    def from_pipeline(cls, pipe: Any, cfg: InpainterConfig | None = None, *, max_batch: int | None = None) -> "DiffusionInpainter":
        """Wrap an already loaded diffusers *inpainting* pipeline (e.g. built with
        ``AutoPipelineForInpainting.from_pipe(txt2img)``, which shares its weights). Nothing is
        loaded or moved: the pipeline keeps its device and dtype."""
        import torch

        cfg = cfg or InpainterConfig(backend="diffusers")
        self = cls.__new__(cls)
        self.max_batch = int(_opt(max_batch, cfg, "max_batch", 8))
        self.cpu_offload, self.safety_checker = False, bool(cfg.safety_checker)
        self.allow_pickle = bool(cfg.allow_pickle)
        unet = pipe.unet
        family = "sdxl" if getattr(unet.config, "addition_embed_type", None) == "text_time" else "sd1"
        path = Path(str(getattr(pipe.config, "_name_or_path", "") or "in-memory-pipeline"))
        self.source = ResolvedModel("diffusers", path, family, int(unet.config.in_channels))
        self.device = pipe._execution_device if hasattr(pipe, "_execution_device") else torch.device("cpu")
        self.dtype = unet.dtype
        self.name = f"diffusers:{self.source.stem}"
        self._pipe, self._safety, self._embeds = pipe, None, OrderedDict()
        self._schedulers = {None: pipe.scheduler}
        self._vae_fp32, self._sha256 = False, "in-memory pipeline (not hashed)"
        return self

    def clear_prompt_cache(self) -> None:
        """Forget cached text embeddings (after a LoRA or text-encoder change on a shared pipeline)."""
        self._embeds.clear()

    # ------------------------------------------------------------ protocol

    def describe(self) -> dict[str, Any]:
        """Backend facts for sidecars and stage keys (stable for a given model and settings).

        ``sha256`` is :func:`autofix.modelfiles.identity.model_sha256` of the file or folder (the
        value stage keys and make-inpaint metadata record for it), computed on the first call and
        cached by path, size and mtime."""
        if self._sha256 is None:
            self._sha256 = model_sha256(self.source.path)
        src = self.source
        config = None
        if src.config_dir is not None:
            config = src.config_dir.name if src.config_dir.parent == SD_CONFIGS else str(src.config_dir)
        return {
            "backend": "diffusers", "model": str(src.path), "source": src.kind, "repo_id": src.repo_id,
            "sha256": self._sha256, "family": src.family, "in_channels": src.in_channels, "config": config,
            "dtype": str(self.dtype).removeprefix("torch."), "device": str(self.device),
            "safety_checker": self.safety_checker,
        }

    def inpaint(self, jobs: Sequence[InpaintJob]) -> list[InpaintResult]:
        """Inpaint every job; one result per job, in order (see the module docstring)."""
        settings = [self._settings(job) for job in jobs]
        outputs: list[list[Any]] = [[None] * s.candidates for s in settings]
        items = [it for i, job in enumerate(jobs) if job.mask.any() for it in _items(i, job, settings[i])]
        for group in _groups(items, settings):
            for chunk in _chunks(group, self.max_batch):
                for item, result in zip(chunk, self._run(chunk, settings[chunk[0].job])):
                    outputs[item.job][item.k] = result
        return [_result(job, s, out) for job, s, out in zip(jobs, settings, outputs)]

    # ------------------------------------------------------------ loading

    @property
    def pipeline(self) -> Any:
        """The diffusers pipeline, loaded on first use and kept."""
        if self._pipe is None:
            pipe = load_pipeline(self.source, dtype=self.dtype, allow_pickle=self.allow_pickle)
            _place(pipe, self.device, self.cpu_offload)
            self._schedulers[None] = pipe.scheduler
            self._pipe = pipe
            log.info("loaded %s (%s, %s UNet channels) on %s in %s", self.source.path, self.source.family,
                     self.source.in_channels, self.device, self.dtype)
        return self._pipe

    def _safety_models(self) -> tuple[Any, Any]:
        if self._safety is None:
            checker, processor = load_safety_checker(self.source, allow_pickle=self.allow_pickle)
            pipe = self.pipeline
            self._safety = (checker.to(pipe._execution_device, dtype=self.dtype), processor)
        return self._safety

    # ------------------------------------------------------------ validation

    def _settings(self, job: InpaintJob) -> _Settings:
        check_job(job, min_side=8)
        fields = {k: v for k, v in job.params.items() if k in InpaintParams.model_fields}
        try:
            p = InpaintParams.model_validate(fields)
        except ValidationError as exc:
            err = exc.errors()[0]
            raise ConfigError(f"inpaint job params: {'.'.join(map(str, err['loc']))}: {err['msg']}") from None
        strength, notes = p.strength, ()
        if self.source.family == "sdxl" and strength > SDXL_MAX_STRENGTH:
            strength, notes = SDXL_MAX_STRENGTH, (f"SDXL strength {p.strength} lowered to {SDXL_MAX_STRENGTH}",)
            log.info(notes[0])
        if int(p.steps * strength) < 1:
            raise ConfigError(
                f"steps {p.steps} x strength {strength} leaves no denoising step; raise steps or strength"
            )
        h, w = job.image.shape[:2]
        loras, lora_notes = self._lora_set(job)
        controlnets = tuple((u.model, u.type, u.weight, u.start, u.end) for u in p.controlnet)
        if len(job.params.get("control_images", ())) != len(controlnets):
            raise ConfigError(f"inpaint job params: {len(controlnets)} ControlNet(s) but "
                              f"{len(job.params.get('control_images', ()))} control image(s)")
        return _Settings(_up8(w), _up8(h), strength, p.steps, p.cfg, scheduler_name(p.scheduler),
                         p.masked_content, p.candidates, notes + lora_notes, loras, controlnets)

    @contextmanager
    def _lora_scope(self, loras: tuple[Any, ...]) -> Iterator[None]:
        """While ``loras`` are applied, prompt embeddings are cached under their identity."""
        self._lora_key = tuple((x.identity, x.te, x.unet) for x in loras)
        try:
            yield
        finally:
            self._lora_key = ()

    def _lora_set(self, job: InpaintJob) -> tuple[tuple[Any, ...], tuple[str, ...]]:
        """The LoRAs the job's prompts ask for (``<lora:NAME:W>``), found on disk; a missing
        one is one warning (per name) naming the file and the folders searched."""
        from .loras import lora_dirs, prompt_lora_requests, resolve_loras

        requests = prompt_lora_requests(job.prompt, job.negative_prompt)
        if not requests:
            return (), ()
        found, notes = resolve_loras(requests, lora_dirs(self.source.path))
        warned = self.__dict__.setdefault("_lora_warned", set())
        for note in notes:
            if note not in warned:
                warned.add(note)
                log.warning(note)
        return found, tuple(notes)

    # ------------------------------------------------------------ one batch

    def _run(self, chunk: list[_Item], s: _Settings) -> list[tuple[np.ndarray, bool]]:
        """Generate ``chunk`` (same settings) in one pipeline call; ``(image, blocked)`` per item."""
        import torch
        from PIL import Image

        from .loras import applied

        pipe = self.pipeline
        self._use_scheduler(s.scheduler)
        latent_init = s.masked_content in ("latent_noise", "latent_nothing")
        with torch.no_grad(), applied(pipe, s.loras), self._lora_scope(s.loras):
            prompt_kw = self._prompt_kwargs(chunk, s.cfg)
            run, control_kw = (self._controlnet_call(chunk, s) if s.controlnets else (pipe, {}))
            ctx = _latent_init(run, s.masked_content, chunk) if latent_init else nullcontext()
            with ctx, _batched_vae_encode(run):
                latents = run(
                    image=[Image.fromarray(it.image) for it in chunk],
                    mask_image=[Image.fromarray(it.mask, mode="L") for it in chunk],
                    height=s.height, width=s.width, strength=s.strength, num_inference_steps=s.steps,
                    guidance_scale=s.cfg, generator=[torch.Generator("cpu").manual_seed(it.seed) for it in chunk],
                    output_type="latent", **prompt_kw, **control_kw,
                ).images
            pixels = self._decode(latents)
        images = [px[: it.original.shape[0], : it.original.shape[1]] for px, it in zip(pixels, chunk)]
        return self._screen(chunk, images)

    def _controlnet_call(self, chunk: list[_Item], s: _Settings) -> tuple[Any, dict[str, Any]]:
        """The ControlNet inpainting pipeline for ``s.controlnets`` (sharing every module of the
        base pipeline; ControlNets loaded once per path) and its call's control arguments."""
        import torch
        from diffusers import AutoPipelineForInpainting

        from .controlnet import load_controlnet

        base = self.pipeline
        models = self.__dict__.setdefault("_controlnets", {})
        for path, *_ in s.controlnets:
            if path not in models:
                models[path] = load_controlnet(path, base.unet, self.dtype, allow_pickle=True if self.allow_pickle
                                               else None).to(base.unet.device)
                log.info("loaded ControlNet %s", path)
        nets = [models[u[0]] for u in s.controlnets]
        pipes = self.__dict__.setdefault("_controlnet_pipes", {})
        key = tuple(u[0] for u in s.controlnets)
        if key not in pipes:
            pipes[key] = AutoPipelineForInpainting.from_pipe(base, controlnet=nets[0] if len(nets) == 1 else nets)
        run = pipes[key]
        run.scheduler = base.scheduler
        images = [torch.from_numpy(np.stack([it.control[n] for it in chunk])).permute(0, 3, 1, 2).contiguous()
                  for n in range(len(nets))]
        one = len(nets) == 1
        weights = [u[2] for u in s.controlnets]
        starts, ends = [u[3] for u in s.controlnets], [u[4] for u in s.controlnets]
        return run, {"control_image": images[0] if one else images,
                     "controlnet_conditioning_scale": weights[0] if one else weights,
                     "control_guidance_start": starts[0] if one else starts,
                     "control_guidance_end": ends[0] if one else ends}

    def _use_scheduler(self, name: str | None) -> None:
        import diffusers

        if name not in self._schedulers:
            cls_name, overrides = SCHEDULERS[name]  # type: ignore[index]
            base = self._schedulers[None].config
            self._schedulers[name] = getattr(diffusers, cls_name).from_config(base, **overrides)
        self.pipeline.scheduler = self._schedulers[name]

    def _prompt_kwargs(self, chunk: list[_Item], cfg: float) -> dict[str, Any]:
        """``prompt_embeds`` (+ negatives when ``cfg > 1``; + pooled ones for SDXL) for ``chunk``,
        in A1111's prompt language (emphasis, BREAK, 75-token chunks; see :mod:`.prompt_weights`).
        Every embedding of the call is padded to the longest with the empty prompt's chunk
        (zeros for SDXL's zeroed empty negative), as the webui pads cond and uncond."""
        import torch

        from .prompt_weights import pad_to

        out: dict[str, Any] = {}
        sides = [("", [it.prompt for it in chunk], False)]
        if cfg > 1:
            sides.append(("negative_", [it.negative for it in chunk], True))
        encoded = [(prefix, [self._embedding(t, negative) for t in texts]) for prefix, texts, negative in sides]
        length = max(pair[0].shape[1] for _, pairs in encoded for pair in pairs)
        empty = self._embedding("")[0]
        for prefix, pairs in encoded:
            padded = [pad_to(e, length, torch.zeros_like(empty) if not e.any() else empty) for e, _ in pairs]
            out[prefix + "prompt_embeds"] = torch.cat(padded)
            if pairs[0][1] is not None:
                out[prefix + "pooled_prompt_embeds"] = torch.cat([p[1] for p in pairs])
        return out

    def prompt_record(self, text: str) -> dict[str, Any]:
        """What the text encoder received for ``text`` once it was encoded: ``chunks`` of 77
        tokens, ``tokens``, whether emphasis ``weighted`` it, extra-network tags removed
        (A1111 syntax), or ``{"chunks": 1, "plain": True}`` for plain text; for sidecar records."""
        return getattr(self, "_prompt_records", {}).get(text) or {"chunks": 1, "plain": True}

    def _embedding(self, text: str, negative: bool = False) -> tuple[Any, Any]:
        """``(embeds [1, 77*k, D], pooled [1, D2] or None)`` for ``text`` (A1111 rules, k chunks),
        encoded once and cached. SDXL's empty negative prompt is zeros when the model asks
        (``force_zeros_for_empty_prompt``)."""
        import torch

        from .prompt_weights import encode_prompt, needs_a1111

        pipe = self.pipeline
        zeros = negative and text == "" and bool(getattr(pipe.config, "force_zeros_for_empty_prompt", False))
        loras = getattr(self, "_lora_key", ())  # text-encoder LoRAs change every embedding
        key = ("\0zeros" if zeros else "") + text + (f"\0{loras}" if loras else "")
        if key in self._embeds:
            self._embeds.move_to_end(key)
            return self._embeds[key]
        if zeros:
            embeds, pooled = self._embedding("")
            value = (torch.zeros_like(embeds), None if pooled is None else torch.zeros_like(pooled))
        elif needs_a1111(pipe.tokenizer, text):
            enc = encode_prompt(pipe, text, pipe._execution_device)
            value = (enc.embeds, enc.pooled)
            records = self.__dict__.setdefault("_prompt_records", OrderedDict())
            records[text] = enc.record()
            while len(records) > _EMBED_CACHE:
                records.popitem(last=False)
        else:  # plain text: diffusers' own encoding (identical result, keeps its LoRA/TI handling)
            enc = pipe.encode_prompt(prompt=text, device=pipe._execution_device, num_images_per_prompt=1,
                                     do_classifier_free_guidance=False)
            value = (enc[0], enc[2] if len(enc) == 4 else None)
        self._embeds[key] = value
        while len(self._embeds) > _EMBED_CACHE:
            self._embeds.popitem(last=False)
        return value

    def _decode(self, latents: Any) -> np.ndarray:
        """``(B, H, W, 3)`` uint8 from latents; float32 retry when half precision gives NaN/inf."""
        import torch

        vae = self.pipeline.vae
        z = latents / vae.config.scaling_factor
        fp32 = self._vae_fp32 or (vae.dtype == torch.float16 and bool(getattr(vae.config, "force_upcast", False)))
        out = _vae_decode(vae, z, fp32)
        if not bool(torch.isfinite(out).all()) and not fp32 and vae.dtype != torch.float32:
            log.warning("VAE decode in %s produced NaN/inf; retrying in float32 (kept from now on)", vae.dtype)
            self._vae_fp32 = True
            out = _vae_decode(vae, z, True)
        out = (out / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).float().cpu().numpy()
        return (out * 255).round().astype(np.uint8)

    def _screen(self, chunk: list[_Item], images: list[np.ndarray]) -> list[tuple[np.ndarray, bool]]:
        """Safety checker (when on): flagged images are replaced by the job's original crop."""
        if not self.safety_checker:
            return [(img, False) for img in images]
        import torch
        from PIL import Image

        checker, processor = self._safety_models()
        pixels = processor([Image.fromarray(i) for i in images], return_tensors="pt").pixel_values
        pixels = pixels.to(self.pipeline._execution_device, dtype=self.dtype)
        with torch.no_grad():
            _, flags = checker(clip_input=pixels, images=[i.astype(np.float32) / 255 for i in images])
        out = []
        for item, img, flag in zip(chunk, images, flags):
            out.append((item.original.copy(), True) if flag else (img, False))
        return out


# ---------------------------------------------------------------- helpers


def _opt(value: Any, cfg: Any, field: str, default: Any) -> Any:
    """``value`` if given, else ``cfg.<field>`` if the config has that field, else ``default``."""
    if value is not None:
        return value
    found = getattr(cfg, field, None)
    return default if found is None else found


def _dtype_name(name: str) -> str:
    key = _DTYPE_ALIASES.get(str(name).lower(), str(name).lower())
    if key not in DTYPES:
        raise ConfigError(f"unknown dtype {name!r}; choose one of: {', '.join(DTYPES)}")
    return key


def _pick_device(requested: str | None) -> Any:
    import torch

    if requested:
        try:
            return torch.device(requested)
        except RuntimeError:
            raise ConfigError(f"unknown device {requested!r}; use e.g. cpu, cuda, cuda:1") from None
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _pick_dtype(device: Any, name: str) -> Any:
    import torch

    if name == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    if name == "float16" and device.type == "cpu":
        raise ConfigError("dtype float16 needs a GPU; use float32 (or bfloat16) on the CPU")
    return getattr(torch, name)


def _place(pipe: Any, device: Any, offload: bool) -> None:
    """Move ``pipe`` to ``device`` (model CPU offload on CUDA when ``offload``); channels-last UNet on CUDA."""
    import torch

    if offload and device.type == "cuda":
        pipe.enable_model_cpu_offload(device=device)
    else:
        if offload:
            log.info("cpu_offload only applies on CUDA; running on %s", device)
        if pipe.device != device:
            pipe.to(device)
    if device.type == "cuda":
        pipe.unet.to(memory_format=torch.channels_last)


def _vae_decode(vae: Any, z: Any, fp32: bool) -> Any:
    """``vae.decode(z)`` as float32 output; with ``fp32`` the VAE runs in float32 for this call only
    (it must stay in the pipeline dtype for the pipeline's own encodes)."""
    import torch

    dtype = vae.dtype
    # torch.nn.Module.to: diffusers' ModelMixin.to logs a warning on every dtype cast.
    if fp32 and dtype != torch.float32:
        torch.nn.Module.to(vae, torch.float32)
    try:
        return vae.decode(z.to(vae.dtype), return_dict=False)[0].float()
    finally:
        if vae.dtype != dtype:
            torch.nn.Module.to(vae, dtype)


def _up8(n: int) -> int:
    return (n + 7) // 8 * 8


def _items(index: int, job: InpaintJob, s: _Settings) -> Iterator[_Item]:
    """The ``s.candidates`` images to generate for job ``index``."""
    image = _prefill(job.image, job.mask) if s.masked_content == "fill" else job.image
    h, w = job.mask.shape
    pad = ((0, s.height - h), (0, s.width - w))
    padded = np.pad(image, (*pad, (0, 0)), mode="edge")
    mask = np.pad(np.where(job.mask >= 128, 255, 0).astype(np.uint8), pad)
    control = tuple(np.pad(np.asarray(c, np.float32), (*pad, (0, 0)), mode="edge")
                    for c in job.params.get("control_images", ()))
    for k in range(s.candidates):
        yield _Item(index, k, candidate_seed(job.seed, k), padded, mask, job.prompt, job.negative_prompt, job.image,
                    control)


def _prefill(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``masked_content="fill"``: masked pixels replaced by a smooth fill from their surroundings."""
    import cv2

    h, w = mask.shape
    scale = min(1.0, 128 / max(h, w))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    small_mask = (cv2.resize(mask, size, interpolation=cv2.INTER_NEAREST) >= 128).astype(np.uint8)
    filled = cv2.inpaint(small, small_mask, 3, cv2.INPAINT_TELEA)
    filled = cv2.GaussianBlur(cv2.resize(filled, (w, h), interpolation=cv2.INTER_CUBIC), (0, 0), 2)
    return np.where(mask[..., None] >= 128, filled, image).astype(np.uint8)


def _groups(items: list[_Item], settings: list[_Settings]) -> list[list[_Item]]:
    """Items grouped by their job's batching key, in first-seen order."""
    groups: dict[tuple[Any, ...], list[_Item]] = {}
    for item in items:
        groups.setdefault(settings[item.job].key, []).append(item)
    return list(groups.values())


def _chunks(group: list[_Item], max_batch: int) -> list[list[_Item]]:
    """``group`` split into the fewest chunks of at most ``max_batch``, sizes differing by at most 1."""
    n = math.ceil(len(group) / max_batch)
    size, extra = divmod(len(group), n)
    out, start = [], 0
    for i in range(n):
        end = start + size + (1 if i < extra else 0)
        out.append(group[start:end])
        start = end
    return out


@contextmanager
def _latent_init(pipe: Any, mode: str, chunk: list[_Item]) -> Iterator[None]:
    """For this call, replace the masked part of the initial latents by seeded noise
    (``latent_noise``) or zeros (``latent_nothing``), noised to the start timestep with the
    same noise as the rest. Wraps ``pipe.prepare_latents`` on the instance and restores it."""
    import torch

    original = pipe.prepare_latents

    def prepare_latents(*args: Any, **kwargs: Any) -> Any:
        out = original(*args, **kwargs)
        if kwargs.get("is_strength_max", True) or kwargs.get("timestep") is None:
            return out
        latents, noise = out[0], out[1]
        masks = torch.from_numpy(np.stack([it.mask for it in chunk])[:, None] >= 128).float()
        m = torch.nn.functional.interpolate(masks, size=latents.shape[-2:]).to(latents)
        if mode == "latent_nothing":
            fill = torch.zeros_like(latents)
        else:
            gens = [torch.Generator("cpu").manual_seed((it.seed + _FILL_SEED_OFFSET) % 2**64) for it in chunk]
            fill = torch.stack([torch.randn(latents.shape[1:], generator=g) for g in gens]).to(latents)
        start = pipe.scheduler.add_noise(fill, noise, kwargs["timestep"])
        return (latents * (1 - m) + start * m, *out[1:])

    pipe.prepare_latents = prepare_latents
    try:
        yield
    finally:
        del pipe.prepare_latents


@contextmanager
def _batched_vae_encode(pipe: Any) -> Iterator[None]:
    """For this call, encode a batch with ONE VAE encoder call instead of diffusers' loop of
    batch-1 calls (it loops whenever a list of generators is passed, which we do so every
    item draws its own seeded noise). Each item's latent sample still draws its noise from its
    own generator, in the same order the loop would (``mean + std · randn(generator_i)``), so
    the result equals the loop's up to float summation order. Wraps ``pipe._encode_vae_image``
    on the instance and restores it; pipelines without it are left alone."""
    import torch
    from diffusers.utils.torch_utils import randn_tensor

    original = getattr(pipe, "_encode_vae_image", None)
    if original is None:
        yield
        return
    upcast_family = "XL" in type(pipe).__name__  # SDXL's version upcasts a force_upcast VAE

    def encode(image: Any, generator: Any) -> Any:
        if not isinstance(generator, list) or len(generator) != image.shape[0]:
            return original(image=image, generator=generator)
        vae, dtype = pipe.vae, image.dtype
        upcast = upcast_family and bool(getattr(vae.config, "force_upcast", False))
        if upcast:
            image = image.float()
            vae.to(dtype=torch.float32)
        try:
            dist = vae.encode(image).latent_dist
            noise = torch.cat([randn_tensor(dist.mean[i:i + 1].shape, generator=g, device=dist.parameters.device,
                                            dtype=dist.parameters.dtype) for i, g in enumerate(generator)])
            latents = dist.mean + dist.std * noise
        finally:
            if upcast:
                vae.to(dtype)
        return vae.config.scaling_factor * latents.to(dtype)

    pipe._encode_vae_image = encode
    try:
        yield
    finally:
        del pipe._encode_vae_image


def _result(job: InpaintJob, s: _Settings, outputs: list[Any]) -> InpaintResult:
    """The job's :class:`InpaintResult` from its ``(image, blocked)`` outputs (``None``: empty mask)."""
    if not job.mask.any():
        return InpaintResult(candidates=(job.image.copy(),), info={"skipped": "empty mask"})
    info: dict[str, Any] = {
        "seeds": [candidate_seed(job.seed, k) for k in range(s.candidates)], "strength": s.strength,
        "steps": s.steps, "denoise_steps": int(s.steps * s.strength), "cfg": s.cfg,
        "scheduler": s.scheduler or "model default", "masked_content": s.masked_content,
    }
    if s.notes:
        info["notes"] = list(s.notes)
    if s.controlnets:
        info["controlnet"] = [{"model": m, "type": t, "weight": w, "start": a, "end": b}
                              for m, t, w, a, b in s.controlnets]
    blocked = [k for k, (_, flag) in enumerate(outputs) if flag]
    if blocked:
        info["blocked"] = "safety_checker"
        info["blocked_candidates"] = blocked
    return InpaintResult(candidates=tuple(img for img, _ in outputs), info=info)


@INPAINTERS.register(
    "diffusers", requires=("torch", "diffusers", "transformers"), extra="sd",
    summary="Stable Diffusion 1.x/SDXL inpainting (A1111/ComfyUI .safetensors, diffusers folders, HF cache)",
)
def _build_diffusers(cfg: InpainterConfig) -> DiffusionInpainter:
    return DiffusionInpainter(cfg)
