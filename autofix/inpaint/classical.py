"""The embedded classical inpainter: OpenCV's TELEA or Navier–Stokes fill, or PatchMatch.

* ``telea`` / ``ns``: diffusion-style fills from the border inward: right for thin scratches,
  blemishes and text, a smear on anything larger.
* ``patchmatch``: Barnes et al.'s PatchMatch (the ``pypatchmatch`` wheel's compiled library):
  the hole is filled with patches of the crop's own texture, so a removed object leaves
  background texture instead of a blur (``bench/removal_fill.py`` measures both on real photos).
* ``auto``: per crop, TELEA when the mask is a thin stroke (no pixel farther than
  :data:`THIN_RADIUS` px from its edge), PatchMatch otherwise (the ``remove`` preset's choice).

All are deterministic (PatchMatch's random generator is seeded before each fill): the same
crop and mask give the same bytes, which the resume tests rely on. None regenerates a face
or a hand.
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

import numpy as np

from ..config import InpainterConfig
from ..errors import ConfigError
from ..types import InpaintJob, InpaintResult
from .base import INPAINTERS, check_job

log = logging.getLogger(__name__)


class ClassicalInpainter:
    """OpenCV ``cv2.inpaint`` over each job's hard mask.

    Args:
        method: ``"telea"`` (fast marching, Telea 2004), ``"ns"`` (Navier–Stokes),
            ``"patchmatch"`` or ``"auto"`` (see the module docstring).
        radius: neighbourhood radius in pixels of the *crop* (after resizing).
    """

    generative = False

    def __init__(self, method: str = "telea", radius: int = 5) -> None:
        if method not in METHODS:
            raise ValueError(f"classical method must be one of {', '.join(METHODS)}, is {method!r}")
        self._patchmatch_missing = ""
        if method == "patchmatch":
            _patchmatch()  # a missing package fails now, once, with the command that installs it
        elif method == "auto":
            try:
                _patchmatch()
            except ConfigError as exc:  # auto without the wheel: TELEA everywhere, said once and recorded
                self._patchmatch_missing = str(exc)
                log.warning("classical fill auto uses TELEA only: %s", exc)
        if radius < 1:
            raise ValueError(f"classical radius must be >= 1, is {radius}")
        self.method = method
        self.radius = radius
        self.name = f"classical:{method}"

    def inpaint(self, jobs: Sequence[InpaintJob]) -> list[InpaintResult]:
        """Fill each job's mask. Candidates: exactly one per job (the method is deterministic)."""
        import cv2

        results = []
        for job in jobs:
            check_job(job)
            info: dict[str, Any] = {}
            if not job.mask.any():
                out = job.image.copy()
            else:
                method = self.method
                if method == "auto":
                    thin = _inscribed_radius(job.mask) <= THIN_RADIUS
                    method = "telea" if thin or self._patchmatch_missing else "patchmatch"
                    info["fill"] = method if thin or not self._patchmatch_missing else "telea (pypatchmatch missing)"
                if method == "patchmatch":
                    out = _patchmatch_fill(job.image, job.mask)
                else:
                    flag = cv2.INPAINT_TELEA if method == "telea" else cv2.INPAINT_NS
                    bgr = np.ascontiguousarray(job.image[:, :, ::-1])
                    out = cv2.inpaint(bgr, job.mask, self.radius, flag)[:, :, ::-1]
            results.append(InpaintResult(candidates=(np.ascontiguousarray(out),), info=info))
        return results

    def describe(self) -> dict[str, Any]:
        """Backend facts for sidecars and stage keys."""
        import cv2

        out = {"backend": "classical", "method": self.method, "radius": self.radius, "opencv": cv2.__version__}
        if self.method in ("patchmatch", "auto"):
            from importlib.metadata import PackageNotFoundError, version

            try:
                out.update(patchmatch=version("pypatchmatch"), patch_size=PATCH_SIZE)
            except PackageNotFoundError:
                out.update(patchmatch=None)
        return out


#: Classical methods.
METHODS = ("telea", "ns", "patchmatch", "auto")
#: ``auto``: masks whose inscribed radius is at most this (px) are thin strokes, filled by TELEA.
THIN_RADIUS = 4.0
#: PatchMatch patch radius (patches of (2·3+1)² px, the library's own examples' choice).
PATCH_SIZE = 3
PATCHMATCH_SEED = 14


def _inscribed_radius(mask: np.ndarray) -> float:
    import cv2

    return float(cv2.distanceTransform((mask >= 128).astype(np.uint8), cv2.DIST_L2, 3).max())


def _patchmatch() -> Any:
    try:
        from patchmatch import patch_match
    except ImportError:
        from ..registry import install_hint

        raise ConfigError("the PatchMatch fill needs pypatchmatch, which is not installed: "
                          f"{install_hint(None, ['pypatchmatch'])} (or --set inpainter.classical_method=telea)") from None
    if not patch_match.patchmatch_available:
        raise ConfigError("pypatchmatch is installed but its compiled library did not load on this platform; "
                          "use --set inpainter.classical_method=telea")
    return patch_match


def _patchmatch_fill(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    pm = _patchmatch()
    pm.set_random_seed(PATCHMATCH_SEED)  # deterministic fills (resume, window invariance)
    hole = (mask >= 128).astype(np.uint8) * 255
    out = np.asarray(pm.inpaint(np.ascontiguousarray(image), hole, patch_size=PATCH_SIZE), dtype=np.uint8)
    return np.where(hole[..., None] > 0, out, image).astype(np.uint8)  # only the hole changes


@INPAINTERS.register("classical", requires=("cv2",),
                     summary="OpenCV TELEA / Navier-Stokes, PatchMatch (embedded)")
def _build_classical(cfg: InpainterConfig) -> ClassicalInpainter:
    return ClassicalInpainter(cfg.classical_method, cfg.classical_radius)
