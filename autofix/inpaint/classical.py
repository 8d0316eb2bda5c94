"""The embedded classical inpainter: OpenCV's TELEA or Navier–Stokes fill.

Right for small objects, blemishes and text; wrong for regenerating a face or a hand
(it smears from the borders inward). It is deterministic: the same crop and mask give
the same bytes, which the resume tests rely on.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..config import InpainterConfig
from ..types import InpaintJob, InpaintResult
from .base import INPAINTERS


class ClassicalInpainter:
    """OpenCV ``cv2.inpaint`` over each job's hard mask.

    Args:
        method: ``"telea"`` (fast marching, Telea 2004) or ``"ns"`` (Navier–Stokes).
        radius: neighbourhood radius in pixels of the *crop* (after resizing).
    """

    generative = False

    def __init__(self, method: str = "telea", radius: int = 5) -> None:
        if method not in ("telea", "ns"):
            raise ValueError(f"classical method must be 'telea' or 'ns', is {method!r}")
        if radius < 1:
            raise ValueError(f"classical radius must be >= 1, is {radius}")
        self.method = method
        self.radius = radius
        self.name = f"classical:{method}"

    def inpaint(self, jobs: Sequence[InpaintJob]) -> list[InpaintResult]:
        """Fill each job's mask. Candidates: exactly one per job (the method is deterministic)."""
        import cv2

        flag = cv2.INPAINT_TELEA if self.method == "telea" else cv2.INPAINT_NS
        results = []
        for job in jobs:
            _check_job(job)
            if not job.mask.any():
                out = job.image.copy()
            else:
                bgr = np.ascontiguousarray(job.image[:, :, ::-1])
                out = cv2.inpaint(bgr, job.mask, self.radius, flag)[:, :, ::-1]
            results.append(InpaintResult(candidates=(np.ascontiguousarray(out),), info={}))
        return results

    def describe(self) -> dict[str, Any]:
        """Backend facts for sidecars and stage keys."""
        import cv2

        return {"backend": "classical", "method": self.method, "radius": self.radius, "opencv": cv2.__version__}


def _check_job(job: InpaintJob) -> None:
    img, mask = job.image, job.mask
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"inpaint job image must be (h, w, 3) uint8, is {img.shape} {img.dtype}")
    if mask.dtype != np.uint8 or mask.shape != img.shape[:2]:
        raise ValueError(f"inpaint job mask must be (h, w) uint8 matching the image, is {mask.shape} {mask.dtype}")


@INPAINTERS.register("classical", requires=("cv2",), summary="OpenCV TELEA / Navier-Stokes (embedded)")
def _build_classical(cfg: InpainterConfig) -> ClassicalInpainter:
    return ClassicalInpainter(cfg.classical_method, cfg.classical_radius)
