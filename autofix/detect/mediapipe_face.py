"""MediaPipe face detection (BlazeFace), registered as ``mediapipe_face``.

Two of Google's MediaPipe models ship inside autofix (``autofix/detect/tflite/``,
sha256-checked, run on LiteRT by :mod:`autofix.detect.litert`; the SSD decoding and
weighted suppression that MediaPipe's graph does are in :mod:`autofix.detect.blaze`),
so nothing is downloaded:

* ``short`` (MediaPipe's model selection 0): a 128×128 model for faces within about 2 m
  of the camera, i.e. faces that fill a good part of the frame (close-up portraits,
  selfies). It is the better choice for portraits; it misses small faces (group photos,
  street scenes).
* ``full`` (model selection 1, the default): a 192×192 sparse model for faces up to
  about 5 m away. It finds smaller faces but does poorly on small images and on faces
  that fill the frame.

The user's choice is respected; nothing switches models behind their back. One extra
deterministic pass per model, each measured on the real test photos
(tests/test_detect_mediapipe.py):

* ``full`` also detects on the mirrored image and merges: without it the full-range
  model misses Zidane's three-quarter profile in ``zidane.jpg`` (found at IoU 0.46 with
  it). Mirroring the short-range model only added a false face on a cat photo, so it is
  off there.
* ``short`` runs on overlapping square windows (side = the shorter image side, stride
  half of it; a square image is one window). The model letterboxes the image into its
  square input, so on a wide photo the faces shrink below what the short-range model
  sees: on the whole ``zidane.jpg`` it finds neither face (plus a false one), on the
  windows both.

Detections overlapping by IoU ≥ 0.3 (or mostly contained in a better one) are merged,
keeping the highest score. Scores under 0.5 are dropped here: that is the floor MediaPipe's
face graph applied (its solution API's ``min_detection_confidence`` never reached the
graph), and lower floors only add false faces on the test photos (0.2: five on
``zidane.jpg``, one on the coffee cup). The planner applies the user's threshold on top.

The image check and the window/merge helpers here are shared with
:mod:`autofix.detect.mediapipe_hands`.
"""

from __future__ import annotations

import threading
from typing import Any, Sequence

import numpy as np

from ..config import DetectorConfig
from ..errors import ConfigError
from ..types import Box, Detection
from .base import DETECTORS
from .litert import RUNTIME_MODULE

#: ``cfg.model`` value → MediaPipe ``model_selection``.
FACE_MODELS = {"short": 0, "full": 1}
#: MediaPipe face keypoint order: right eye, left eye, nose tip, mouth centre,
#: right ear tragion, left ear tragion (the subject's left/right). Mirroring swaps sides.
_MIRROR_KEYPOINTS = [1, 0, 2, 3, 5, 4]
Window = tuple[int, int, int, int]


def check_image(image: Any) -> np.ndarray:
    """Return ``image`` as a C-contiguous ``(H, W, 3)`` uint8 array; raise ValueError otherwise."""
    shape = getattr(image, "shape", None)
    dtype = getattr(image, "dtype", None)
    ok = isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[2] == 3
    if not ok or dtype != np.uint8 or 0 in image.shape:
        got = f"shape {tuple(shape)} and dtype {dtype}" if shape is not None else f"{type(image).__name__}"
        raise ValueError(f"`image` must be an (H, W, 3) uint8 RGB array, but got {got}.")
    return np.ascontiguousarray(image)


def tile_windows(height: int, width: int, side: int) -> list[Window]:
    """Square windows ``(x0, y0, x1, y1)`` of ``side`` px covering the image, stride ``side // 2``.

    ``side`` is capped to the shorter image side; the last window in each direction is
    flush with the image edge. A square image with ``side`` ≥ its size is one window.
    """
    side = max(1, min(side, height, width))

    def starts(length: int) -> list[int]:
        out = list(range(0, length - side + 1, max(1, side // 2)))
        if out[-1] != length - side:
            out.append(length - side)
        return out

    return [(x, y, x + side, y + side) for y in starts(height) for x in starts(width)]


def box_iou(a: Box, b: Box) -> tuple[float, float]:
    """``(IoU, intersection / smaller area)`` of two ``(x0, y0, x1, y1)`` boxes."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    area_a = max(0.0, a[2] - a[0]) * max(0.0, a[3] - a[1])
    area_b = max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])
    union = area_a + area_b - inter
    small = min(area_a, area_b)
    return (inter / union if union > 0 else 0.0), (inter / small if small > 0 else 0.0)


def dedupe(
    dets: Sequence[Detection], iou: float = 0.3, contain: float = 0.6, kept: Sequence[Detection] = ()
) -> list[Detection]:
    """Greedy merge: walk ``dets`` in priority order, drop any that overlaps a kept one.

    Overlap means IoU ≥ ``iou`` or intersection ≥ ``contain`` × the smaller box's area.
    ``kept`` are detections already accepted (returned first, never compared to each other).
    """
    kept = list(kept)
    for det in dets:
        if all(_distinct(det.box, k.box, iou, contain) for k in kept):
            kept.append(det)
    return kept


def _distinct(a: Box, b: Box, iou: float, contain: float) -> bool:
    overlap, contained = box_iou(a, b)
    return overlap < iou and contained < contain


def clip_box(box: Sequence[float], width: int, height: int) -> Box | None:
    """``box`` clipped to ``(0, 0, width, height)``; ``None`` if nothing is left."""
    x0, y0 = min(max(float(box[0]), 0.0), width), min(max(float(box[1]), 0.0), height)
    x1, y1 = min(max(float(box[2]), 0.0), width), min(max(float(box[3]), 0.0), height)
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None



class LiteRTDetector:
    """Shared lifetime of the LiteRT models a detector builds lazily into ``self._models``."""

    _models: dict[str, Any] | None = None
    #: Cheap to build (models load on first use): a run gives each CPU worker thread its own.
    per_thread = True

    def _model(self, name: str) -> Any:
        """Shipped model ``name`` (see :mod:`autofix.detect.litert`), loaded on first use."""
        if self._models is None:
            self._models = {}
        if name not in self._models:
            from .litert import TFLiteModel

            self._models[name] = TFLiteModel(name)
        return self._models[name]

    def load(self, *names: str) -> None:
        """Load models now (the factories do, before a run's threads start; see
        :func:`autofix.detect.litert.quiet_native_stderr`)."""
        for name in names:
            self._model(name)

    def close(self) -> None:
        """Release the models; the detector reloads them if used again."""
        self._models = None

    def __getstate__(self) -> dict[str, Any]:
        """Pickles without the models and the lock (e.g. to another process); they reload there."""
        state = dict(self.__dict__)
        state["_models"] = None
        state.pop("_lock", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __enter__(self) -> "LiteRTDetector":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


#: Old name of :class:`LiteRTDetector` (MediaPipe's legacy solutions API is gone).
MediaPipeSolution = LiteRTDetector


class MediaPipeFace(LiteRTDetector):
    """Face detector on MediaPipe's BlazeFace models.

    Args:
        model: ``"short"`` (close-up faces) or ``"full"`` (faces up to ~5 m).
        label: label given to every detection.
        min_confidence: the internal detection floor (kept low on purpose).
        mirror: also detect on the mirrored image and merge; ``None`` → on for ``full``
            only (see module docs).

    ``detect`` returns :class:`~autofix.types.Detection` records with ``box`` in float
    pixels clipped to the image, ``score`` in [0, 1], and ``landmarks`` a ``(6, 2)``
    float32 array of keypoint pixels (right eye, left eye, nose tip, mouth, right ear,
    left ear; may lie slightly outside the image). Calls on one instance are serialised
    by a lock; call :meth:`close` (or use it as a context manager) to free the model.
    """

    def __init__(
        self,
        model: str = "full",
        label: str = "face",
        min_confidence: float = 0.5,
        mirror: bool | None = None,
    ) -> None:
        if model not in FACE_MODELS:
            raise ConfigError(
                f"unknown mediapipe_face model {model!r}; choose one of: {', '.join(FACE_MODELS)}"
            )
        self.model = model
        self.label = label
        self.name = f"mediapipe_face:{model}"
        self.min_confidence = float(min_confidence)
        self.mirror = model == "full" if mirror is None else bool(mirror)
        self._models = None
        self._lock = threading.Lock()

    def windows(self, height: int, width: int) -> list[Window]:
        """Where the model runs: square tiles for ``short``, the whole image for ``full``."""
        if self.model == "short":
            return tile_windows(height, width, min(height, width))
        return [(0, 0, width, height)]

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Faces in ``image`` (``(H, W, 3)`` uint8 RGB), sorted left to right."""
        image = check_image(image)
        height, width = image.shape[:2]
        found: list[Detection] = []
        with self._lock:
            for window in self.windows(height, width):
                for mirrored in (False, True) if self.mirror else (False,):
                    found += self._detect_window(image, window, mirrored)
        found.sort(key=lambda d: (-d.score, d.box))
        return sorted(dedupe(found), key=lambda d: d.box)

    def _detect_window(self, image: np.ndarray, window: Window, mirrored: bool) -> list[Detection]:
        """Run the model on one window (optionally mirrored); results in full-image pixels."""
        from .blaze import FACE_FULL, FACE_SHORT, detect_ssd

        spec = FACE_SHORT if self.model == "short" else FACE_FULL
        x0, y0, x1, y1 = window
        crop = image[y0:y1, x0:x1]
        crop = np.ascontiguousarray(crop[:, ::-1] if mirrored else crop)
        raws = detect_ssd(self._model(spec.model), spec, crop, self.min_confidence)
        out = []
        for raw in raws:
            det = self._convert(raw, window, mirrored, image.shape[1], image.shape[0])
            if det is not None:
                out.append(det)
        return out

    def _convert(self, raw: Any, window: Window, mirrored: bool, width: int, height: int) -> Detection | None:
        """One decoded detection (normalised to the window) → :class:`Detection` in full-image pixels."""
        x0, y0, x1, y1 = window
        w, h = x1 - x0, y1 - y0
        rx0, ry0, rx1, ry1 = raw.box
        bx0, bx1 = rx0 * w, rx1 * w
        pts = np.asarray(raw.keypoints, np.float64) * (w, h)
        if mirrored:
            bx0, bx1 = w - bx1, w - bx0
            pts[:, 0] = w - pts[:, 0]
            if len(pts) == len(_MIRROR_KEYPOINTS):
                pts = pts[_MIRROR_KEYPOINTS]
        by0, by1 = ry0 * h, ry1 * h
        box = clip_box((x0 + bx0, y0 + by0, x0 + bx1, y0 + by1), width, height)
        if box is None:
            return None
        score = float(min(max(raw.score, 0.0), 1.0))
        landmarks = (pts + (x0, y0)).astype(np.float32)
        return Detection(box=box, score=score, label=self.label, landmarks=landmarks, source=self.name)


@DETECTORS.register(
    "mediapipe_face",
    requires=(RUNTIME_MODULE,),
    summary="MediaPipe BlazeFace: face boxes + 6 keypoints; model short (close-up) or full (default, ~5 m)",
)
def build_mediapipe_face(cfg: DetectorConfig, *, allow_pickle: bool | None = None) -> MediaPipeFace:
    """Factory: ``cfg.model`` in {None, "short", "full"} (None → "full"); ``cfg.label`` relabels.
    The model is loaded (and its sha256 checked) here, so a damaged install fails the build."""
    from .blaze import FACE_FULL, FACE_SHORT

    detector = MediaPipeFace(model=cfg.model or "full", label=cfg.label or "face")
    detector.load((FACE_SHORT if detector.model == "short" else FACE_FULL).model)
    return detector
