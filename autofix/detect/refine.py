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
* :func:`choose_mask` is the policy for a prompt's candidate masks (SAM's multimask output):
  for a click without a box, a candidate must contain every positive click and cover at most
  :data:`MAX_CLICK_COVER` of the image; the plausible one with the highest predicted IoU wins,
  and with none plausible the prompt fails rather than repainting (nearly) the whole image.
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

#: A click without a box names one object: a mask covering more than this fraction of the
#: image is not that object (SAM's "whole scene" / background candidates are), and repainting
#: most of the picture is never what a click asks for.
MAX_CLICK_COVER = 0.5


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


def _inside(mask: np.ndarray, x: float, y: float) -> bool:
    h, w = mask.shape
    return bool(mask[min(max(int(y), 0), h - 1), min(max(int(x), 0), w - 1)])


def mask_problem(mask: np.ndarray, points: Sequence[Sequence[float]] | None = None,
                 labels: Sequence[int] | None = None, box: Box | None = None,
                 max_cover: float = MAX_CLICK_COVER) -> str:
    """Why ``mask`` is not a plausible answer to the prompt, or ``""`` if it is.

    Empty masks never are. Without a ``box`` (a click-only prompt) the mask must contain every
    positive click (label 1; the pixel under it) and cover at most ``max_cover`` of the image.
    With a box the user's box bounds the object, so only emptiness counts."""
    if not mask.any():
        return "empty"
    if box is not None:
        return ""
    pts = [] if points is None else [(float(p[0]), float(p[1])) for p in points]
    labs = [int(v) for v in labels] if labels is not None else [1] * len(pts)
    missed = [p for p, lab in zip(pts, labs) if lab == 1 and not _inside(mask, p[0], p[1])]
    if missed:
        return f"misses the click at {missed[0][0]:g},{missed[0][1]:g}"
    cover = float(mask.mean())
    if cover > max_cover:
        return f"covers {cover:.0%} of the image"
    return ""


def choose_mask(masks: np.ndarray, scores: Sequence[float], points: Sequence[Sequence[float]] | None = None,
                labels: Sequence[int] | None = None, box: Box | None = None,
                max_cover: float = MAX_CLICK_COVER) -> tuple[int | None, str]:
    """``(index, "")`` of the candidate to keep among ``masks`` (``(C, H, W)`` bool, SAM's
    multimask output) with predicted IoUs ``scores``, or ``(None, reason)`` when none is plausible.

    The plausible candidates (:func:`mask_problem` is empty) compete on predicted IoU, as SAM's
    predictor recommends for a single click; ``reason`` lists what was wrong with each."""
    masks = np.asarray(masks, dtype=bool)
    problems = [mask_problem(m, points, labels, box, max_cover) for m in masks]
    ok = [i for i, why in enumerate(problems) if not why]
    if ok:
        return max(ok, key=lambda i: float(scores[i])), ""
    return None, "; ".join(f"candidate {i} {why}" for i, why in enumerate(problems))


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
