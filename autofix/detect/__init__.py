"""Part 1: detectors. ``build_detector(cfg)`` turns a config into a :class:`Detector`.

Registered backends: ``mediapipe_face``, ``mediapipe_hands`` and the face-mesh parts
``mediapipe_eyes`` / ``mediapipe_mouth`` / ``mediapipe_face_mesh`` (embedded: MediaPipe's
models ship inside autofix and run on LiteRT, see :mod:`autofix.detect.litert`), ``yolo`` (any local ultralytics ``.pt``), and ``prompt``
(user boxes/clicks). Any detector's boxes can be refined into masks (``refine: sam`` or
``grabcut``, see :mod:`autofix.detect.refine`).
"""

from __future__ import annotations

from typing import Any

from ..config import DetectorConfig
from .base import DETECTORS, Detector

# Importing the backend modules registers them; they import their heavy deps lazily.
from . import mediapipe_face, mediapipe_face_mesh, mediapipe_hands, user_prompts, yolo  # noqa: F401,E402


def build_detector(cfg: DetectorConfig, **kwargs: Any) -> Detector:
    """Build the detector ``cfg`` names; raises ConfigError / BackendUnavailable.
    ``kwargs`` go to backends that take them (``allow_pickle`` for yolo, ``prompts`` for prompt)."""
    return DETECTORS.build(cfg.backend, cfg, **kwargs)


__all__ = ["DETECTORS", "Detector", "build_detector"]
