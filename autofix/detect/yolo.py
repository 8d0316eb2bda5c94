"""Ultralytics YOLO detectors from a local ``.pt`` file, registered as ``yolo``.

Works with box models (ADetailer's ``face_yolov8n.pt``, ``hand_yolov8n.pt``) and
segmentation models (``person_yolov8n-seg.pt``): a ``-seg`` model's masks become
``Detection.mask`` (``(H, W)`` bool at the input image's size, via ultralytics'
``retina_masks``). Config: ``detector: "yolo:face_yolov8n.pt"`` with optional
``classes`` (keep only these class names) and ``label`` (relabel every detection;
default the model's class name).

``cfg.model`` is resolved by :func:`autofix.modelstore.resolve` (a bare name is looked
up in the models folders). ``.pt`` files are pickles: one is loaded only if its sha256
is in the model manifest or pickles are allowed — ``YoloDetector(path,
allow_pickle=True)``, ``DETECTORS.build("yolo", cfg, allow_pickle=True)``, or
``AUTOFIX_ALLOW_PICKLE=1`` for the plain ``build_detector(cfg)`` path — otherwise
:class:`~autofix.errors.UnsafeModelFile` is raised before anything is unpickled.

Ultralytics is imported only when a detector is built, with ``YOLO_OFFLINE=1`` and
``YOLO_AUTOINSTALL=0`` set unless the caller set them (no network, no pip installs).
Scores are not filtered beyond ``conf`` (default 0.05); the planner applies the user's
threshold.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..modelfiles import store as modelstore
from ..config import DetectorConfig
from ..errors import ConfigError
from ..types import Detection
from .base import DETECTORS


def _import_yolo() -> Any:
    """``ultralytics.YOLO``, imported offline and with its process-wide side effects undone.

    Importing ultralytics replaces ``PIL.Image.open`` (an unreadable file then raises
    ``ModuleNotFoundError: pi_heif`` — or pip-installs it — instead of
    ``UnidentifiedImageError``, breaking autofix's image errors) and ``torch.save``, turns
    OpenCV multithreading off and changes numpy's print options. All four are restored.
    """
    import sys

    import cv2

    for key, value in (("YOLO_OFFLINE", "1"), ("YOLO_AUTOINSTALL", "0"), ("YOLO_VERBOSE", "False")):
        os.environ.setdefault(key, value)
    first = "ultralytics" not in sys.modules
    threads, printopts = cv2.getNumThreads(), np.get_printoptions()
    from ultralytics import YOLO

    _undo_ultralytics_patches()
    if first:
        cv2.setNumThreads(threads)
        np.set_printoptions(**printopts)
    return YOLO


def _undo_ultralytics_patches() -> None:
    import torch
    from PIL import Image
    from ultralytics.utils import patches

    if getattr(Image.open, "__module__", "") == patches.__name__:
        Image.open = patches._image_open
    if getattr(torch.save, "__module__", "") == patches.__name__:
        torch.save = patches._torch_save


def _check_image(image: Any) -> np.ndarray:
    ok = isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[2] == 3
    if not ok or image.dtype != np.uint8 or 0 in image.shape:
        got = f"shape {getattr(image, 'shape', None)} dtype {getattr(image, 'dtype', type(image).__name__)}"
        raise ValueError(f"`image` must be an (H, W, 3) uint8 RGB array, got {got}")
    return image


class YoloDetector:
    """A YOLO ``.pt`` model as a :class:`~autofix.detect.base.Detector`.

    Args:
        model: path (or bare name, resolved via :mod:`autofix.modelstore`) of a ``.pt``.
        classes: keep only detections of these class names (``None``: all).
        label: relabel every detection (``None``: the model's class name).
        allow_pickle: load a ``.pt`` whose hash is not in the manifest (``None``: env).
        conf / iou / imgsz / max_det: ultralytics ``predict`` settings.
        device: torch device string (``None``: ``"cpu"``).
    """

    def __init__(
        self,
        model: str | Path,
        classes: Sequence[str] | None = None,
        label: str | None = None,
        allow_pickle: bool | None = None,
        conf: float = 0.05,
        iou: float = 0.5,
        imgsz: int = 640,
        max_det: int = 100,
        device: str | None = None,
    ) -> None:
        self.path = modelstore.resolve(model, task="yolo")
        modelstore.check_pickle(self.path, allow_pickle)
        self._model = _import_yolo()(str(self.path), task=None)
        self.names: dict[int, str] = {int(k): str(v) for k, v in self._model.names.items()}
        self.class_ids = _class_ids(self.names, classes, self.path)
        self.label = label
        self.is_segmentation = self._model.task == "segment"
        self.name = f"yolo:{self.path.name}"
        self._predict_args = dict(conf=conf, iou=iou, imgsz=imgsz, max_det=max_det, device=device or "cpu")
        self._lock = threading.Lock()

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Detections in ``image`` (``(H, W, 3)`` uint8 RGB); boxes clipped, masks ``(H, W)`` bool."""
        image = _check_image(image)
        bgr = np.ascontiguousarray(image[:, :, ::-1])
        with self._lock:
            results = self._model.predict(
                bgr, classes=self.class_ids, retina_masks=True, verbose=False, **self._predict_args
            )
        return results_to_detections(results[0], self.names, self.label, source="yolo")


def _class_ids(names: dict[int, str], classes: Sequence[str] | None, path: Path) -> list[int] | None:
    if not classes:
        return None
    by_name = {v: k for k, v in names.items()}
    unknown = [c for c in classes if c not in by_name]
    if unknown:
        raise ConfigError(
            f"{path.name} has no class {', '.join(map(repr, unknown))}; its classes are: {', '.join(names.values())}"
        )
    return sorted(by_name[c] for c in classes)


def results_to_detections(
    result: Any, names: dict[int, str], label: str | None = None, source: str = "yolo"
) -> list[Detection]:
    """Convert one ultralytics ``Results`` to :class:`Detection` records.

    Boxes are clipped to ``result.orig_shape``; masks (segmentation models) are resized to
    the original image size if they are not already and thresholded at 0.5.
    """
    boxes = result.boxes
    if boxes is None or len(boxes) == 0:
        return []
    height, width = (int(v) for v in result.orig_shape[:2])
    xyxy = boxes.xyxy.cpu().numpy().astype(np.float64)
    scores = boxes.conf.cpu().numpy().astype(np.float64)
    cls = boxes.cls.cpu().numpy().astype(int)
    masks = _masks(result, height, width)
    out = []
    for i in range(len(xyxy)):
        x0, y0, x1, y1 = np.clip(xyxy[i], 0, [width, height, width, height]).tolist()
        if x1 <= x0 or y1 <= y0:
            continue
        mask = masks[i] if masks is not None else None
        name = label or names.get(int(cls[i]), str(int(cls[i])))
        out.append(Detection((x0, y0, x1, y1), float(scores[i]), name, mask=mask, source=source))
    return out


def _masks(result: Any, height: int, width: int) -> np.ndarray | None:
    if getattr(result, "masks", None) is None:
        return None
    data = result.masks.data.cpu().numpy().astype(np.float32)
    if data.shape[1:] != (height, width):
        import cv2

        data = np.stack([cv2.resize(m, (width, height), interpolation=cv2.INTER_LINEAR) for m in data])
    return data > 0.5


@DETECTORS.register(
    "yolo",
    requires=("ultralytics", "torchvision"),
    extra="yolo",
    summary="any local ultralytics YOLO .pt (boxes or -seg masks), e.g. yolo:face_yolov8n.pt",
)
def build_yolo(cfg: DetectorConfig, *, allow_pickle: bool | None = None) -> YoloDetector:
    """Registry factory. ``allow_pickle=None`` falls back to ``$AUTOFIX_ALLOW_PICKLE``."""
    if not cfg.model:
        raise ConfigError("detector 'yolo' needs a model file, e.g. 'yolo:face_yolov8n.pt'")
    return YoloDetector(cfg.model, classes=cfg.classes, label=cfg.label, allow_pickle=allow_pickle)
