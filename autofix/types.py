"""Records passed between the four parts: detect → plan → inpaint → run.

Conventions used everywhere in autofix (stated once here, relied on everywhere):

* **Image**: ``np.ndarray`` of shape ``(H, W, 3)``, dtype ``uint8``, RGB, range 0–255.
  Alpha is never part of an image array; :mod:`autofix.io.image` keeps it aside and
  re-attaches it byte-identical on save.
* **Box**: ``(x0, y0, x1, y1)`` in pixels of the image it was found in, ``x1``/``y1``
  exclusive (a box covering the whole image is ``(0, 0, W, H)``).
* **Hard mask**: ``np.ndarray`` ``(H, W)`` ``uint8`` with values exactly 0 or 255.
* **Soft mask** (feathered): ``np.ndarray`` ``(H, W)`` ``uint8`` in 0–255; 0 means the
  pixel is taken from the input unchanged, 255 means fully from the inpainted result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

Box = tuple[float, float, float, float]
IntBox = tuple[int, int, int, int]

#: MediaPipe hand landmark indices (the planner's hand-plus-wrist rule, hand masks, the hand score).
HAND_WRIST = 0
HAND_MIDDLE_MCP = 9
HAND_INDEX_MCP = 5
HAND_PINKY_MCP = 17
#: Finger chains in MediaPipe's 21-point order, from the base joint to the tip (thumb first).
HAND_FINGER_CHAINS = ((1, 2, 3, 4), (5, 6, 7, 8), (9, 10, 11, 12), (13, 14, 15, 16), (17, 18, 19, 20))
#: The palm scale is the wrist→middle-MCP length, but at least this × the index-MCP↔pinky-MCP
#: span (a hand pointing at the camera foreshortens the palm's length, not its width).
PALM_LENGTH_PER_WIDTH = 1.25
#: Sizes of MediaPipe's face mesh (478 with the irises); BlazeFace gives 6 keypoints.
FACE_MESH_POINTS = (468, 478)


def palm_scale(landmarks: Any) -> float:
    """A hand's size in pixels from its 21 MediaPipe landmarks (``(21, 2|3)``): ``max(|wrist −
    MCP9|, PALM_LENGTH_PER_WIDTH × |MCP5 − MCP17|)``, a size a palm foreshortened along its
    length keeps; 0 for a degenerate or non-finite hand. Raises ValueError on another shape."""
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.ndim != 2 or lm.shape[0] != 21 or lm.shape[1] < 2:
        raise ValueError(f"expected 21 hand landmarks of (x, y), got shape {lm.shape}")
    length = float(np.hypot(*(lm[HAND_WRIST, :2] - lm[HAND_MIDDLE_MCP, :2])))
    width = float(np.hypot(*(lm[HAND_INDEX_MCP, :2] - lm[HAND_PINKY_MCP, :2])))
    scale = max(length, PALM_LENGTH_PER_WIDTH * width)
    return scale if np.isfinite(scale) else 0.0


def check_rgb(image: Any, name: str = "`image`") -> np.ndarray:
    """The one image-array check (the **Image** convention above), made by every detector,
    refiner and inpainter, the API and the image writer before any work: ``image`` must be
    a non-empty ``(H, W, 3)`` uint8 array, else a one-line ValueError naming ``name``."""
    shape, dtype = getattr(image, "shape", None), getattr(image, "dtype", None)
    if isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8:
        if image.size:
            return image
        raise ValueError(f"{name} must be an (H, W, 3) uint8 RGB array and must not be empty, got shape {shape}")
    got = f"shape {tuple(shape)} dtype {dtype}" if shape is not None else type(image).__name__
    raise ValueError(f"{name} must be an (H, W, 3) uint8 RGB array, got {got}")


@dataclass(frozen=True)
class Detection:
    """One thing a detector found.

    Attributes:
        box: ``(x0, y0, x1, y1)`` float pixels in the detected image.
        score: confidence in ``[0, 1]``.
        label: class name, e.g. ``"face"``, ``"hand"``, ``"person"``, ``"object"``.
        mask: optional ``(H, W)`` ``bool`` array, the object's own shape (segmentation
            detectors, SAM); ``None`` for box-only detectors.
        landmarks: optional ``(K, 2)`` ``float32`` array of ``(x, y)`` pixels. From
            MediaPipe: a hand's 21 landmarks in MediaPipe order (0 = wrist, 9 =
            middle-finger MCP); a face's ``(468, 2)`` face mesh where the mesh model
            confirmed it (the planner's face mask, forehead to chin, is built from it),
            else BlazeFace's ``(6, 2)`` keypoints (eyes, nose tip, mouth, ears).
        source: registry name of the detector that produced it, e.g. ``"mediapipe_hands"``.
    """

    box: Box
    score: float
    label: str
    mask: np.ndarray | None = None
    landmarks: np.ndarray | None = None
    source: str = ""

    @property
    def area(self) -> float:
        """Box area in square pixels."""
        x0, y0, x1, y1 = self.box
        return max(0.0, x1 - x0) * max(0.0, y1 - y0)


@dataclass(frozen=True)
class CropWindow:
    """An only-masked crop: where to cut the image and what size to process it at.

    Attributes:
        box: ``(x0, y0, x1, y1)`` integer pixels, clamped to the image.
        size: ``(width, height)`` the crop is resized to for inpainting; both sides are
            multiples of 8 and the aspect ratio of ``box`` is kept (within rounding).
    """

    box: IntBox
    size: tuple[int, int]


@dataclass(frozen=True)
class PlannedRegion:
    """A region the planner decided to repaint (or, with ``merge``, a group of them).

    Attributes:
        index: position in the stage's order (0-based); seeds are ``base_seed + index``.
        label: class name.
        score: detector confidence (max over merged detections).
        box: detection box (union over merged detections), float pixels.
        hard_mask: ``(H, W)`` uint8 0/255, after dilation/erosion and the wrist rule; the
            area the inpainter is asked to fill.
        soft_mask: ``(H, W)`` uint8 0–255, ``hard_mask`` feathered; the compositing weight.
            Pixels where it is 0 are byte-identical to the stage's input.
        crop: the only-masked crop window.
        detections: the detections this region came from.
        notes: human-readable notes recorded into the sidecar (e.g. fallback rules used).
    """

    index: int
    label: str
    score: float
    box: Box
    hard_mask: np.ndarray
    soft_mask: np.ndarray
    crop: CropWindow
    detections: tuple[Detection, ...] = ()
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class InpaintJob:
    """One crop for an inpainter.

    Attributes:
        image: ``(h, w, 3)`` uint8 RGB crop, already resized to ``CropWindow.size``.
        mask: ``(h, w)`` uint8 0/255 hard mask of the area to fill, same size as ``image``.
        seed: the region's seed (``base_seed + region index``).
        prompt / negative_prompt: text for generative backends (ignored by classical ones).
        params: backend-neutral parameters from the stage config (strength, steps, cfg,
            masked_content, scheduler, candidates, ...), as a plain dict.
    """

    image: np.ndarray
    mask: np.ndarray
    seed: int
    prompt: str = ""
    negative_prompt: str = ""
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class InpaintResult:
    """What an inpainter returns for one :class:`InpaintJob`.

    Attributes:
        candidates: one or more ``(h, w, 3)`` uint8 RGB images the size of the job's crop.
        info: per-job facts for the sidecar (e.g. ``{"nsfw": True}``, the seeds used).
    """

    candidates: tuple[np.ndarray, ...]
    info: dict[str, Any] = field(default_factory=dict)
