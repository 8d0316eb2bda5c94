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
from ..types import Detection, check_rgb


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
    """The input check every detector and refiner makes before any model work
    (:func:`autofix.types.check_rgb`): a non-empty ``(H, W, 3)`` uint8 RGB array, else a
    one-line ValueError."""
    return check_rgb(image)
