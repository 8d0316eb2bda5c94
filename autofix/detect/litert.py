"""The embedded detection runtime: shipped ``.tflite`` models run by LiteRT.

The face and hand models (Google's MediaPipe models, Apache-2.0) ship inside autofix as
package data in one folder, ``autofix/detect/tflite/``, listed with their sha256 in
``models.json`` there. :func:`model_path` checks a file against its hash before anything
loads it; :class:`TFLiteModel` runs one on LiteRT (``ai-edge-litert``, Google's
maintained TFLite runtime, a plain dependency of autofix), and :func:`roi_tensor` cuts a
(rotated) region of an image into a model's input tensor the way MediaPipe's
``ImageToTensorCalculator`` does. The SSD decoding and ROI maths that MediaPipe's graphs
wrap around these models live in :mod:`autofix.detect.blaze`.

To add a model: put the file in ``autofix/detect/tflite/``, add its name, file, sha256,
size and source to ``models.json``, then ``TFLiteModel("name")``.

Nothing here is imported by ``import autofix.detect``; LiteRT loads on first use.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import sys
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from ..errors import BackendUnavailable, ModelNotFound

#: Where the shipped models and their manifest live (package data).
MODEL_DIR = Path(__file__).resolve().parent / "tflite"
#: LiteRT's import name and the distribution that provides it.
RUNTIME_MODULE = "ai_edge_litert"
RUNTIME_DIST = "ai-edge-litert"

_verified: dict[str, Path] = {}
_verify_lock = threading.Lock()


@lru_cache(maxsize=1)
def manifest() -> dict[str, dict[str, Any]]:
    """``{name: {"file", "sha256", "bytes", "source"}}`` from ``tflite/models.json``."""
    try:
        data = json.loads((MODEL_DIR / "models.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelNotFound(f"{MODEL_DIR / 'models.json'} is missing: reinstall autofix") from None
    return dict(data["models"])


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def model_path(name: str) -> Path:
    """Path of shipped model ``name``, checked against its sha256 (once per process).

    Raises :class:`~autofix.errors.ModelNotFound` for an unknown name, a missing file or
    a hash mismatch (a damaged install: reinstall autofix)."""
    with _verify_lock:
        if name in _verified:
            return _verified[name]
        models = manifest()
        if name not in models:
            raise ModelNotFound(f"no shipped model {name!r}; shipped: {', '.join(sorted(models))}")
        entry = models[name]
        path = MODEL_DIR / entry["file"]
        if not path.is_file():
            raise ModelNotFound(f"{path} is missing: reinstall autofix (it ships the {name} model)")
        got = sha256_file(path)
        if got != entry["sha256"]:
            raise ModelNotFound(
                f"{path} is damaged: sha256 {got}, expected {entry['sha256']}; reinstall autofix"
            )
        _verified[name] = path
        return path


def _interpreter_class() -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as exc:
        from ..extras import install_command

        raise BackendUnavailable(
            f"the embedded detectors need LiteRT ({RUNTIME_DIST}), which is not installed "
            f"({exc}): {install_command(packages=[RUNTIME_DIST])}"
        ) from None
    return Interpreter


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Silence LiteRT's C++ logging (written straight to fd 2: "INFO: Created TensorFlow Lite
    XNNPACK delegate for CPU.", once a process) inside the block. fd 2 is process-wide, so
    this happens only while no other Python thread runs: a message another thread writes
    meanwhile must never be lost, a stray INFO line may be. ``AUTOFIX_NATIVE_LOGS=1``
    keeps the logs."""
    if os.environ.get("AUTOFIX_NATIVE_LOGS") == "1" or threading.active_count() > 1:
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def default_threads() -> int:
    """CPU threads per model: ``AUTOFIX_TFLITE_THREADS``, else 1. These models take 2-10 ms
    a call, so more threads mostly add hand-over cost (measured on 2 cores: 1 thread was
    faster than 2 for every detector) and compete with the rest of the pipeline."""
    env = os.environ.get("AUTOFIX_TFLITE_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    return 1


class TFLiteModel:
    """One shipped model on a LiteRT interpreter.

    ``TFLiteModel(name)`` verifies and loads the model; ``run(x)`` feeds one float32
    input tensor (batch dimension included) and returns copies of all outputs in the
    model's output order. Calls on one instance are serialised by a lock.
    """

    def __init__(self, name: str, num_threads: int | None = None) -> None:
        self.name = name
        path = model_path(name)
        interpreter = _interpreter_class()
        with quiet_native_stderr():
            self._interp = interpreter(model_path=str(path), num_threads=num_threads or default_threads())
            self._interp.allocate_tensors()
        (inp,) = self._interp.get_input_details()
        self._input_index = inp["index"]
        self.input_shape = tuple(int(v) for v in inp["shape"])
        self._outputs = [d["index"] for d in self._interp.get_output_details()]
        self._lock = threading.Lock()

    @property
    def input_size(self) -> tuple[int, int]:
        """``(width, height)`` of the (NHWC) input."""
        return self.input_shape[2], self.input_shape[1]

    def run(self, tensor: np.ndarray) -> list[np.ndarray]:
        tensor = np.ascontiguousarray(tensor, dtype=np.float32).reshape(self.input_shape)
        with self._lock:
            self._interp.set_tensor(self._input_index, tensor)
            self._interp.invoke()
            return [self._interp.get_tensor(i).copy() for i in self._outputs]


def roi_tensor(
    image: np.ndarray,
    roi: Sequence[float],
    size: tuple[int, int],
    *,
    value_range: tuple[float, float] = (0.0, 1.0),
    keep_aspect: bool = True,
    border_zero: bool = True,
) -> tuple[np.ndarray, tuple[float, float, float, float], tuple[float, float, float, float, float]]:
    """Cut ``roi`` of ``image`` into a ``(1, H, W, 3)`` float32 tensor, as MediaPipe does.

    Args:
        image: ``(H, W, 3)`` uint8 RGB.
        roi: ``(cx, cy, w, h, rotation)`` in image pixels, rotation in radians (MediaPipe's
            convention: positive turns the region clockwise on screen).
        size: the tensor's ``(width, height)``.
        value_range: pixel 0 maps to the first value, 255 to the second.
        keep_aspect: grow the roi to the tensor's aspect ratio (letterbox) instead of
            stretching it.
        border_zero: pixels outside the image are zero (else the edge is replicated).

    Returns:
        ``(tensor, padding, roi)``: letterbox ``padding`` ``(left, top, right, bottom)`` as
        fractions of the tensor, and the roi actually cut (after letterbox growth).
    """
    import cv2

    out_w, out_h = size
    cx, cy, w, h, rot = (float(v) for v in roi)
    pad = (0.0, 0.0, 0.0, 0.0)
    if keep_aspect:
        tensor_ratio, roi_ratio = out_h / out_w, h / w
        if tensor_ratio > roi_ratio:
            new_h = w * tensor_ratio
            v = (1.0 - h / new_h) / 2.0
            pad, h = (0.0, v, 0.0, v), new_h
        else:
            new_w = h / tensor_ratio
            hp = (1.0 - w / new_w) / 2.0
            pad, w = (hp, 0.0, hp, 0.0), new_w
    src = cv2.boxPoints(((cx, cy), (w, h), math.degrees(rot))).astype(np.float32)
    dst = np.array([[0, out_h], [0, 0], [out_w, 0], [out_w, out_h]], np.float32)
    matrix = cv2.getPerspectiveTransform(src, dst)
    border = cv2.BORDER_CONSTANT if border_zero else cv2.BORDER_REPLICATE
    warped = cv2.warpPerspective(image, matrix, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=border, borderValue=0)
    lo, hi = value_range
    tensor = warped.astype(np.float32) * np.float32((hi - lo) / 255.0) + np.float32(lo)
    return tensor[None], pad, (cx, cy, w, h, rot)
