"""Ultralytics YOLO detectors from a local ``.pt`` file, registered as ``yolo``.

Works with box models (ADetailer's ``face_yolov8n.pt``, ``hand_yolov8n.pt``) and
segmentation models (``person_yolov8n-seg.pt``): a ``-seg`` model's masks become
``Detection.mask`` (``(H, W)`` bool at the input image's size, via ultralytics'
``retina_masks``). Config: ``detector: "yolo:face_yolov8n.pt"`` with optional
``classes`` (keep only these class names) and ``label`` (relabel every detection;
default the model's class name).

``cfg.model`` is resolved by :func:`autofix.modelfiles.store.resolve` (a bare name is looked
up in the models folders) and must be an ultralytics ``.pt`` (any other suffix is one
:class:`~autofix.errors.ModelFileError` line). ``.pt`` files are pickles and follow the one
pickle policy (:mod:`autofix.modelfiles.trust`): a file whose sha256 is in the model
manifest is the published file and is loaded by ultralytics as usual; any other is loaded
only when pickles are allowed — ``YoloDetector(path, allow_pickle=True)``,
``DETECTORS.build("yolo", cfg, allow_pickle=True)``, or ``AUTOFIX_ALLOW_PICKLE=1`` — and then
through ultralytics' restricted loader (``torch.load(weights_only=True)`` plus its allow-list
of model classes), so nothing in it is executed. Otherwise, or when the restricted loader
finds more than that, :class:`~autofix.errors.UnsafeModelFile` is raised.

Ultralytics is imported only when a detector is built, with ``YOLO_OFFLINE=1`` and
``YOLO_AUTOINSTALL=0`` set unless the caller set them (no network, no pip installs).
Scores are not filtered beyond ``conf`` (default 0.05); the planner applies the user's
threshold.
"""

from __future__ import annotations

import os
import pickle
import re
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from ..config import DetectorConfig
from ..errors import AutofixError, ConfigError, ModelFileError, UnsafeModelFile
from ..modelfiles import store as modelstore
from ..modelfiles import trust
from ..types import Detection
from .base import DETECTORS, check_image


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


_SAFE_LOAD_LOCK = threading.Lock()


@contextmanager
def _restricted_loading(path: Path, restricted: bool) -> Iterator[None]:
    """While loading an untrusted ``.pt``, switch ultralytics to its restricted (weights-only,
    allow-listed classes) loader; refuse when this ultralytics/torch has none."""
    if not restricted:
        yield
        return
    from ultralytics.nn import tasks

    if not getattr(getattr(tasks, "_SafeLoad", None), "SUPPORTED", False) or not hasattr(tasks, "SAFE_LOAD"):
        import ultralytics

        raise UnsafeModelFile(
            f"{path}: this ultralytics ({ultralytics.__version__}) cannot read a .pt without running its code, so "
            "--allow-pickle cannot load it; upgrade ultralytics (and torch >= 2.6), or list the file's sha256 in "
            "the model manifest ($AUTOFIX_MANIFEST) to load it as a trusted file"
        )
    with _SAFE_LOAD_LOCK:
        before, tasks.SAFE_LOAD = tasks.SAFE_LOAD, True
        try:
            yield
        finally:
            tasks.SAFE_LOAD = before


def load_yolo_model(path: Path, allow_pickle: bool | None = None) -> Any:
    """``ultralytics.YOLO`` for a local ``.pt``, loaded as the pickle policy says (module doc).
    Every failure is one line: :class:`ModelFileError` (wrong suffix, not a YOLO checkpoint)
    or :class:`UnsafeModelFile` (refused)."""
    if path.suffix.lower() != ".pt":
        got = f"a {path.suffix} file" if path.suffix else "a file without a suffix"
        raise ModelFileError(f"{path}: not a YOLO model: {got}; autofix loads ultralytics .pt checkpoints")
    trust.check_pickle(path, allow_pickle)
    restricted = not trust.is_trusted_pickle(path)
    yolo_cls = _import_yolo()
    try:
        with _restricted_loading(path, restricted):
            return yolo_cls(str(path), task=None)
    except AutofixError:
        raise
    except Exception as exc:  # noqa: BLE001 - ultralytics reports unreadable files with many types
        text = _one_line(exc)
        cause = exc.__cause__
        refused = isinstance(exc, (pickle.UnpicklingError, ModuleNotFoundError)) or isinstance(
            cause, (pickle.UnpicklingError, ModuleNotFoundError)
        )
        if restricted and refused:
            raise UnsafeModelFile(
                f"{path}: not a plain weights file, refused by ultralytics' restricted loader "
                f"(torch.load(weights_only=True)): {text}"
            ) from None
        raise ModelFileError(f"{path}: not a loadable ultralytics YOLO checkpoint ({type(exc).__name__}: {text})") from None


def _one_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    text = lines[0] if lines else type(exc).__name__
    return re.sub(r"^ERROR\W*", "", text).strip()


class YoloDetector:
    """A YOLO ``.pt`` model as a :class:`~autofix.detect.base.Detector`.

    Args:
        model: path (or bare name, resolved via :mod:`autofix.modelfiles.store`) of a ``.pt``.
        classes: keep only detections of these class names (``None``: all).
        label: relabel every detection (``None``: the model's class name).
        allow_pickle: read a ``.pt`` whose hash is not in the manifest, weights-only (``None``: env).
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
        self._model = load_yolo_model(self.path, allow_pickle)
        self.names: dict[int, str] = {int(k): str(v) for k, v in self._model.names.items()}
        self.class_ids = _class_ids(self.names, classes, self.path)
        self.label = label
        self.is_segmentation = self._model.task == "segment"
        self.name = f"yolo:{self.path.name}"
        self._predict_args = dict(conf=conf, iou=iou, imgsz=imgsz, max_det=max_det, device=device or "cpu")
        self._lock = threading.Lock()

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Detections in ``image`` (``(H, W, 3)`` uint8 RGB); boxes clipped, masks ``(H, W)`` bool."""
        image = check_image(image)
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
