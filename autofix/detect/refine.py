"""Turn any detector's boxes into object masks: ``refine: sam | grabcut``.

A *refiner* has ``name`` and ``refine(image, box=None, points=None, labels=None) ->
(mask (H, W) bool, score float)`` — :class:`~autofix.detect.sam.SamRefiner` and
:class:`~autofix.detect.grabcut.GrabCutRefiner` both do.

* :func:`build_refiner` makes one from the config words (``DetectorConfig.refine`` /
  ``refine_model``).
* :func:`refine_detections` gives every detection its refined mask (the detection's box,
  score, label and landmarks are kept; ``source`` gains ``+sam``/``+grabcut``). A
  detection whose refined mask comes out empty is kept unchanged (box-shaped), so a
  refinement never loses a region.
* :func:`with_refinement` (a :class:`RefinedDetector`) wraps a detector so its output is
  refined; the run's backends apply it to any detector with the refiner its
  ``DetectorConfig`` asks for (:meth:`autofix.run.backends.Backends.detector`).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol, Sequence, get_args

import numpy as np

from ..choices import Refine
from ..errors import ConfigError
from ..types import Box, Detection
from .base import Detector

REFINE_METHODS: tuple[str, ...] = get_args(Refine)


class Refiner(Protocol):
    """Box/click → mask. Masks are ``(H, W)`` bool at the image's size."""

    name: str

    def refine(
        self,
        image: np.ndarray,
        box: Box | None = None,
        points: Sequence[Sequence[float]] | None = None,
        labels: Sequence[int] | None = None,
    ) -> tuple[np.ndarray, float]: ...


def build_refiner(
    method: str, model: str | None = None, allow_pickle: bool | None = None, **options: Any
) -> Refiner | None:
    """``none`` → ``None``; ``grabcut`` → GrabCut; ``sam`` → SAM with ``model`` (default ``sam_vit_b``).

    ``options`` go to the refiner's constructor (e.g. ``margin=0.25``). SAM checkpoints
    follow the one pickle policy (:mod:`autofix.modelfiles.trust`): ``allow_pickle`` (``None``:
    ``$AUTOFIX_ALLOW_PICKLE``) or a manifest hash, then ``torch.load(weights_only=True)``.
    """
    if method == "none":
        return None
    if method == "grabcut":
        from .grabcut import GrabCutRefiner

        return GrabCutRefiner(**options)
    if method == "sam":
        _require_sam()
        from .sam import SamRefiner

        return SamRefiner(model or "sam_vit_b", allow_pickle=allow_pickle, **options)
    raise ConfigError(f"unknown refine method {method!r}; choose one of: {', '.join(REFINE_METHODS)}")


def _require_sam() -> None:
    import importlib.util

    from ..errors import BackendUnavailable
    from ..registry import install_hint

    missing = [m for m in ("segment_anything", "torch", "torchvision") if importlib.util.find_spec(m) is None]
    if missing:
        raise BackendUnavailable(
            f"refine 'sam' needs {', '.join(missing)}, which is not installed: {install_hint('sam')}"
        )


def refine_detections(image: np.ndarray, detections: Sequence[Detection], refiner: Refiner | None) -> list[Detection]:
    """Each detection with ``mask`` replaced by the refiner's mask for its box (see module doc)."""
    if refiner is None:
        return list(detections)
    out = []
    for det in detections:
        mask, _ = refiner.refine(image, box=det.box)
        if not mask.any():
            out.append(det)
            continue
        source = f"{det.source}+{refiner.name.split(':')[0]}" if det.source else refiner.name
        out.append(dataclasses.replace(det, mask=mask, source=source))
    return out


class RefinedDetector:
    """A detector whose detections are refined into masks by ``refiner``."""

    def __init__(self, detector: Detector, refiner: Refiner) -> None:
        self.detector = detector
        self.refiner = refiner
        self.name = f"{detector.name}+{refiner.name}"

    def detect(self, image: np.ndarray) -> list[Detection]:
        """The wrapped detector's detections with refined masks."""
        return refine_detections(image, self.detector.detect(image), self.refiner)


def with_refinement(detector: Detector, refiner: Refiner | None) -> Detector:
    """``detector`` wrapped so ``refiner`` refines its output (unchanged for None: ``refine: none``)."""
    return detector if refiner is None else RefinedDetector(detector, refiner)
