"""The inpainter contract and registry.

An inpainter takes a *batch* of crops (:class:`~autofix.types.InpaintJob`) and returns
one :class:`~autofix.types.InpaintResult` per job, in order. Generative backends batch
same-size crops into one model call; classical ones loop. Register a backend with
``@INPAINTERS.register("name", requires=(...), extra=...)`` on a factory
``(cfg: InpainterConfig) -> Inpainter``.
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence, runtime_checkable

from ..registry import Registry
from ..types import InpaintJob, InpaintResult


@runtime_checkable
class Inpainter(Protocol):
    """Fills masked areas of crops.

    Attributes:
        name: backend name, e.g. ``"classical:telea"`` or ``"diffusers:<model>"``.
        generative: True if it can regenerate content (faces, hands) — a diffusion model.
            Classical backends are False: the executor does not let them repaint faces or
            hands unless the user asked for them explicitly.
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
