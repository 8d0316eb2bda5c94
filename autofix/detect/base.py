"""The detector contract and registry.

A detector is built from a :class:`~autofix.config.DetectorConfig` and called on one
image. Register a backend with ``@DETECTORS.register("name", requires=(...), extra=...)``
on a factory ``(cfg: DetectorConfig) -> Detector``; import heavy modules inside the
factory or the class, never at module import.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..registry import Registry
from ..types import Detection


@runtime_checkable
class Detector(Protocol):
    """Finds regions in an image.

    Attributes:
        name: the registry name plus model, e.g. ``"mediapipe_face:full"``; recorded in
            sidecars and stage keys.
    """

    name: str

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Return detections for ``image`` (``(H, W, 3)`` uint8 RGB), any order.

        Boxes are in ``image`` pixels and clipped to it; masks, when present, are
        ``(H, W)`` bool. Must be deterministic for a given image.
        """
        ...


DETECTORS: Registry[Detector] = Registry("detector")


def check_image(image: Any) -> np.ndarray:
    """The input check every detector and refiner makes before any model work: ``image``
    must be a non-empty ``(H, W, 3)`` uint8 RGB array, else a one-line ValueError."""
    if isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8 \
            and image.size:
        return image
    shape, dtype = getattr(image, "shape", None), getattr(image, "dtype", None)
    got = f"shape {tuple(shape)} dtype {dtype}" if shape is not None else type(image).__name__
    raise ValueError(f"`image` must be an (H, W, 3) uint8 RGB array, got {got}")
