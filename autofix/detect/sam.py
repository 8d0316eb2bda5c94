"""Segment Anything refinement: a box and/or clicks → the object's mask.

Checkpoints are Meta's ``sam_vit_b_01ec64.pth`` / ``sam_vit_l_0b3195.pth`` /
``sam_vit_h_4b8939.pth`` (``autofix models pull sam_vit_b``), found through
:mod:`autofix.modelfiles.store` (``vit_b`` etc. are aliases). They are pickles and follow
the one pickle policy (:mod:`autofix.modelfiles.trust`: sha256 in the manifest — Meta's
files are — or ``allow_pickle`` / ``$AUTOFIX_ALLOW_PICKLE``); they are then read with
``torch.load(weights_only=True)`` — tensors only, nothing is executed — and the model is
built with ``sam_model_registry[type](checkpoint=None)`` then ``load_state_dict``
(strict), so segment-anything's own unrestricted ``torch.load`` is never used. The
model type is taken from the checkpoint itself (encoder width 768/1024/1280 → b/l/h).

Unlike peers that AND the mask with the detection box (cutting off fingers and hair),
the mask may grow past the box by ``margin`` × the box's width/height on each side;
anything beyond that is clipped. With several candidate masks (``multimask``) the one
with the highest predicted IoU wins.

A click without a box is SAM's ambiguous prompt: as segment-anything's predictor recommends,
it always asks for the 3 candidates (sub-part, part, whole object) and keeps the best by
predicted IoU — but only among plausible ones (:func:`autofix.detect.refine.choose_mask`: the
mask contains every positive click and covers at most half the image; SAM's "everything"
candidate does not). The chosen candidate's low-resolution logits are then fed back as
``mask_input`` for one single-mask pass, as SAM's notebooks refine a prediction; that result
replaces it when it is plausible too. With no plausible candidate the refiner returns an empty
mask and the prompt detector fails that prompt with one line. The image embedding (the slow part: ~15 s for
vit_b on 2 CPU cores) is computed once per image and reused for every prompt on it.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import ConfigError
from ..modelfiles import store as modelstore
from ..modelfiles import trust
from ..types import Box
from .base import check_image

#: Image-encoder width → ``sam_model_registry`` key.
SAM_TYPES = {768: "vit_b", 1024: "vit_l", 1280: "vit_h"}
_ENCODER_KEY = "image_encoder.patch_embed.proj.weight"


def read_state_dict(path: str | Path, allow_pickle: bool | None = None) -> dict[str, Any]:
    """Tensors of a SAM checkpoint, as the pickle policy allows, via ``torch.load(weights_only=True)``
    (:func:`autofix.modelfiles.trust.load_weights`).

    Accepts a bare state dict or one wrapped as ``{"model": ...}`` / ``{"state_dict": ...}``.
    Raises :class:`~autofix.errors.UnsafeModelFile` if the file is refused or holds anything
    but plain tensors/containers, :class:`ConfigError` if it is not a SAM checkpoint.
    """
    data = trust.load_weights(path, allow_pickle)
    if _ENCODER_KEY not in data:
        raise ConfigError(f"{path}: not a Segment Anything checkpoint (no {_ENCODER_KEY})")
    return data


def sam_type_of(state: dict[str, Any], path: str | Path = "checkpoint") -> str:
    """``vit_b``/``vit_l``/``vit_h`` from the encoder width stored in ``state``."""
    width = int(state[_ENCODER_KEY].shape[0])
    if width not in SAM_TYPES:
        raise ConfigError(f"{path}: unknown SAM encoder width {width}; expected one of {sorted(SAM_TYPES)}")
    return SAM_TYPES[width]


def load_sam(
    checkpoint: str | Path,
    model_type: str = "auto",
    builder: Callable[[], Any] | None = None,
    allow_pickle: bool | None = None,
) -> Any:
    """Build a ``segment_anything.Sam`` in eval mode from a checkpoint file.

    ``builder`` (a no-argument callable returning an untrained ``Sam``) replaces the
    registry, for non-standard sizes such as the tests' tiny model.
    """
    state = read_state_dict(checkpoint, allow_pickle)
    if builder is not None:
        model = builder()
    else:
        from segment_anything import sam_model_registry

        kind = sam_type_of(state, checkpoint) if model_type == "auto" else model_type
        if kind not in sam_model_registry:
            raise ConfigError(f"unknown SAM model type {kind!r}; choose one of: vit_b, vit_l, vit_h")
        model = sam_model_registry[kind](checkpoint=None)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ConfigError(f"{checkpoint}: weights do not fit the SAM model ({str(exc).splitlines()[0]})") from None
    return model.eval()


class SamRefiner:
    """Box/click → mask with a local SAM checkpoint.

    Args:
        checkpoint: path or name (``sam_vit_b``, ``vit_b``, a file name) of the checkpoint.
        model_type: ``auto`` (read from the checkpoint) or ``vit_b``/``vit_l``/``vit_h``.
        margin: how far the mask may extend past the prompt box, as a fraction of the box's
            width (left/right) and height (top/bottom). ``0`` clips to the box.
        multimask: ask SAM for 3 candidates and keep the best by predicted IoU.
        builder: custom ``Sam`` constructor (see :func:`load_sam`).
        device: torch device (default ``cpu``).
        allow_pickle: read a checkpoint whose sha256 is not in the manifest (``None``: env).
    """

    def __init__(
        self,
        checkpoint: str | Path = "sam_vit_b",
        model_type: str = "auto",
        margin: float = 0.25,
        multimask: bool = True,
        builder: Callable[[], Any] | None = None,
        device: str = "cpu",
        allow_pickle: bool | None = None,
    ) -> None:
        from segment_anything import SamPredictor

        if margin < 0:
            raise ConfigError(f"SAM margin must be >= 0, got {margin}")
        self.path = modelstore.resolve(checkpoint, task="sam")
        self.predictor = SamPredictor(load_sam(self.path, model_type, builder, allow_pickle).to(device))
        self.margin = float(margin)
        self.multimask = bool(multimask)
        self.name = f"sam:{self.path.name}"
        self._image_key: str | None = None
        self._lock = threading.Lock()
        self._last = threading.local()

    def why_empty(self) -> str:
        """Why this thread's last click-only :meth:`refine` returned an empty mask ("" if it did not)."""
        return getattr(self._last, "why", "")

    def refine(
        self,
        image: np.ndarray,
        box: Box | None = None,
        points: Sequence[Sequence[float]] | None = None,
        labels: Sequence[int] | None = None,
    ) -> tuple[np.ndarray, float]:
        """Mask of the object at ``box`` and/or ``points`` (labels 1 = object, 0 = not).

        Returns ``(mask, score)``: an ``(H, W)`` bool array and SAM's predicted IoU of it.
        Click-only prompts follow :func:`~autofix.detect.refine.choose_mask` (see the module
        docstring); with no plausible candidate the mask is empty and the score 0.
        """
        from .refine import choose_mask

        image = check_image(image)
        pts, lbl = _point_arrays(points, labels)
        if box is None and pts is None:
            raise ValueError("SAM needs a box or at least one point")
        click_only = box is None
        self._last.why = ""
        with self._lock:
            self._set_image(image)
            masks, scores, logits = self.predictor.predict(
                point_coords=pts,
                point_labels=lbl,
                box=None if box is None else np.asarray(box, dtype=np.float32),
                multimask_output=self.multimask or click_only,
            )
            if not click_only:
                best = int(np.argmax(scores))
                return clip_to_margin(np.asarray(masks[best], dtype=bool), box, self.margin), float(scores[best])
            best, self._last.why = choose_mask(masks, scores, pts, lbl)
            if best is None:
                return np.zeros(image.shape[:2], dtype=bool), 0.0
            mask, score = np.asarray(masks[best], dtype=bool), float(scores[best])
            again, again_scores, _ = self.predictor.predict(
                point_coords=pts, point_labels=lbl, mask_input=logits[best][None], multimask_output=False)
            if choose_mask(again, again_scores, pts, lbl)[0] is not None:
                mask, score = np.asarray(again[0], dtype=bool), float(again_scores[0])
        return mask, score

    def _set_image(self, image: np.ndarray) -> None:
        key = hashlib.sha1(np.ascontiguousarray(image).data).hexdigest() + str(image.shape)
        if key != self._image_key:
            self.predictor.set_image(np.ascontiguousarray(image), image_format="RGB")
            self._image_key = key


def _point_arrays(
    points: Sequence[Sequence[float]] | None, labels: Sequence[int] | None
) -> tuple[np.ndarray | None, np.ndarray | None]:
    if not points:
        return None, None
    pts = np.asarray([[float(p[0]), float(p[1])] for p in points], dtype=np.float32)
    lbl = np.asarray(labels if labels is not None else [1] * len(pts), dtype=np.int32)
    if lbl.shape != (len(pts),):
        raise ValueError(f"got {len(pts)} points but {lbl.size} labels")
    return pts, lbl


def margin_box(box: Box, margin: float, width: int, height: int) -> tuple[int, int, int, int]:
    """``box`` grown by ``margin`` × its size on each side, as integer pixels clamped to the image."""
    x0, y0, x1, y1 = box
    dx, dy = (x1 - x0) * margin, (y1 - y0) * margin
    return (
        max(0, int(np.floor(x0 - dx))),
        max(0, int(np.floor(y0 - dy))),
        min(width, int(np.ceil(x1 + dx))),
        min(height, int(np.ceil(y1 + dy))),
    )


def clip_to_margin(mask: np.ndarray, box: Box, margin: float) -> np.ndarray:
    """Zero ``mask`` outside :func:`margin_box`; returns a new bool array."""
    height, width = mask.shape
    x0, y0, x1, y1 = margin_box(box, margin, width, height)
    out = np.zeros_like(mask, dtype=bool)
    out[y0:y1, x0:x1] = mask[y0:y1, x0:x1]
    return out
