"""Part 1: detectors. ``build_detector(cfg)`` turns a config into a :class:`Detector`."""

from __future__ import annotations

from ..config import DetectorConfig
from .base import DETECTORS, Detector

# Importing the backend modules registers them; they import their heavy deps lazily.
from . import mediapipe_face, mediapipe_hands  # noqa: F401,E402


def build_detector(cfg: DetectorConfig) -> Detector:
    """Build the detector ``cfg`` names; raises ConfigError / BackendUnavailable."""
    return DETECTORS.build(cfg.backend, cfg)


__all__ = ["DETECTORS", "Detector", "build_detector"]
