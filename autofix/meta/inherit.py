"""What a region's inpainting inherits from the image's own generation: seed and sampler.

Pure functions, so the executor only has to call :func:`job_settings` per region:

* seed ``N >= 0``: region *i* uses ``N + i`` (as before);
* seed ``-1``: a fresh random seed per region (like A1111's -1), recorded in the sidecar;
* seed ``"image"``: the generation's own seed + *i* (what ADetailer does in the webui);
  an image without a seed gets a fresh random one, and the record says so;
* scheduler ``"image"``: the generation's sampler (+ its separate schedule, A1111's
  "Schedule type" or ComfyUI's scheduler) mapped to a diffusers scheduler; a schedule the
  diffusers class lacks (Euler a + Karras) falls back to the sampler's default and a sampler
  with no equivalent (DPM fast) to the model's own, both recorded;
* any other scheduler: its canonical key (unknown names are a config error).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from .model import GenerationInfo

SEED_RANDOM = -1
SEED_IMAGE = "image"
_SEED_SPAN = 2**32  # fresh seeds are drawn like A1111's: 0 .. 2**32-1


def _draw() -> int:
    return secrets.randbelow(_SEED_SPAN)


@dataclass(frozen=True)
class JobSettings:
    """The concrete seed and scheduler key for one region, and where they came from."""

    seed: int
    seed_from: str  # "config", "random", "image", "random (image has no seed)"
    scheduler: str | None
    scheduler_from: str  # "config", "model", "image: <name>", ...

    def record(self) -> dict[str, Any]:
        """What goes into the region's sidecar record."""
        return {"seed": self.seed, "seed_from": self.seed_from, "scheduler": self.scheduler,
                "scheduler_from": self.scheduler_from}


def resolve_seed(setting: int | str, region_index: int, info: GenerationInfo | None,
                 draw: Callable[[], int] = _draw) -> tuple[int, str]:
    """``(seed, where it came from)`` for region ``region_index``."""
    if setting == SEED_IMAGE:
        if info is not None and info.seed is not None and info.seed >= 0:
            return (int(info.seed) + int(region_index)) % 2**64, "image"
        return int(draw()), "random (image has no seed)"
    value = int(setting)
    if value == SEED_RANDOM:
        return int(draw()), "random"
    if value < 0:
        raise ConfigError(f"seed must be -1, 'image' or 0..2**64-1, is {setting!r}")
    return (value + int(region_index)) % 2**64, "config"


def resolve_sampler(setting: str | None, info: GenerationInfo | None) -> tuple[str | None, str]:
    """``(scheduler key or None, where it came from)``."""
    from ..inpaint.samplers import scheduler_name

    if setting is None or not str(setting).strip():
        return None, "model"
    if str(setting).strip().lower() != "image":
        return scheduler_name(setting), "config"
    sampler = info.sampler if info is not None else None
    if not sampler:
        return None, "model (image has no sampler)"
    label = info.sampler_label or sampler  # type: ignore[union-attr]
    try:
        exact = scheduler_name(sampler, info.scheduler)  # type: ignore[union-attr]
        return exact, f"image: {label}"
    except ConfigError:
        pass
    try:
        near = scheduler_name(sampler, info.scheduler, nearest=True)  # type: ignore[union-attr]
    except ConfigError as exc:
        return None, f"model (image's sampler {label!r} has no diffusers equivalent: {str(exc).split(';')[0]})"
    return near, f"image: {label} (schedule not available in diffusers for this sampler: its default used)"


def job_settings(params: Any, region_index: int, info: GenerationInfo | None,
                 draw: Callable[[], int] = _draw) -> JobSettings:
    """Seed and scheduler for region ``region_index`` of a stage whose inpaint parameters
    are ``params`` (an :class:`~autofix.config.InpaintParams`), given the image's ``info``."""
    seed, seed_from = resolve_seed(params.seed, region_index, info, draw)
    scheduler, scheduler_from = resolve_sampler(params.scheduler, info)
    return JobSettings(seed, seed_from, scheduler, scheduler_from)


def inherited_summary(params: Any, info: GenerationInfo | None) -> str:
    """One line for the run summary: what a stage inherits from the image (``""`` if nothing)."""
    parts = []
    if params.seed == SEED_IMAGE:
        parts.append(f"seed {info.seed} + region index" if info is not None and info.seed is not None
                     else "seed: image has none, fresh random seeds")
    elif params.seed == SEED_RANDOM:
        parts.append("fresh random seed per region")
    if str(params.scheduler or "").lower() == "image":
        key, source = resolve_sampler("image", info)
        parts.append(f"sampler {key or 'model default'} ({source})")
    templated = "{prompt}" in params.prompt or "{negative_prompt}" in params.negative_prompt
    if info is not None and info.found and templated:
        parts.append(f"prompt from {info.generator or info.source} ({info.reader})")
    return "inherited: " + "; ".join(parts) if parts else ""
