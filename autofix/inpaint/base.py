"""The inpainter contract and registry.

An inpainter takes a *batch* of crops (:class:`~autofix.types.InpaintJob`) and returns
one :class:`~autofix.types.InpaintResult` per job, in order. Generative backends batch
same-size crops into one model call; classical ones loop. Register a backend with
``@INPAINTERS.register("name", requires=(...), extra=...)`` on a factory
``(cfg: InpainterConfig) -> Inpainter``.
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence, runtime_checkable

import numpy as np

from ..registry import Registry
from ..types import InpaintJob, InpaintResult, check_rgb


@runtime_checkable
class Inpainter(Protocol):
    """Fills masked areas of crops.

    Attributes:
        name: backend name, e.g. ``"classical:telea"`` or ``"diffusers:<model>"``.
        generative: True if it can regenerate content (faces, hands) — a diffusion model.
            Read by the engine: a non-generative backend gets crops at their own pixel size
            (no aspect-bucket resize, :mod:`autofix.run.step`) and, with ``--engine ray``, runs
            in the CPU tasks instead of on model-holding actors. (Which stages a classical
            fill may repaint is the config's policy, :mod:`autofix.run.backends`.)
    """

    name: str
    generative: bool

    def inpaint(self, jobs: Sequence[InpaintJob]) -> list[InpaintResult]:
        """Inpaint every job. Each result's candidates have the job's crop size and
        uint8 RGB; pixels outside the job's mask may differ (the executor composites
        through the soft mask, so they are never used)."""
        ...

    def describe(self) -> dict[str, Any]:
        """Facts for the sidecar and stage keys: backend, model path/hash, dtype, device."""
        ...


INPAINTERS: Registry[Inpainter] = Registry("inpainter")


def check_job(job: InpaintJob, min_side: int = 0) -> None:
    """The input check every inpainter makes before any work: the job's image a non-empty
    ``(h, w, 3)`` uint8 array (:func:`~autofix.types.check_rgb`), its mask ``(h, w)`` uint8,
    both sides at least ``min_side`` pixels; else a one-line ValueError."""
    img, mask = check_rgb(job.image, "inpaint job image"), job.mask
    if not isinstance(mask, np.ndarray) or mask.dtype != np.uint8 or mask.shape != img.shape[:2]:
        shape, dtype = getattr(mask, "shape", None), getattr(mask, "dtype", None)
        raise ValueError(f"inpaint job mask must be (h, w) uint8 matching the image, is {shape} {dtype}")
    if min(img.shape[:2]) < min_side:
        raise ValueError(f"inpaint job crop must be at least {min_side}x{min_side} pixels, "
                         f"is {img.shape[1]}x{img.shape[0]}")
