"""Which detector and inpainter each stage uses, built lazily once per run.

The repaint policy lives here: a classical fill would smear a good face, so with the
``auto`` backend and no diffusion model, only stages marked ``classical_ok`` (object
removal) are repainted; face/hand stages are detected, planned and checkpointed but left
as they are, with the reason recorded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import DetectorConfig, RunConfig, StageConfig
from ..detect.base import Detector
from ..inpaint.base import Inpainter

NO_MODEL_REASON = "not repainted: no diffusion model"
NO_MODEL_HINT = (
    "no diffusion model given: faces/hands were detected and planned but not repainted; "
    "add one with --model PATH (see models/README.md), or force the classical fill with --inpainter classical"
)


def _file_identity(path: str | None) -> dict[str, Any] | None:
    """Cheap identity of a model file: path, size and mtime (hashing GBs per run is too slow)."""
    if not path:
        return None
    p = Path(os.path.expanduser(path))
    try:
        st = p.stat()
    except OSError:
        return {"path": str(p)}
    return {"path": str(p.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


@dataclass
class Backends:
    """Lazily built detectors (one per distinct detector config) and the run's inpainter."""

    config: RunConfig
    _detectors: dict[str, Detector] = field(default_factory=dict)
    _inpainters: dict[str, Inpainter] = field(default_factory=dict)

    def detector(self, cfg: DetectorConfig) -> Detector:
        """The detector for ``cfg`` (built on first use)."""
        key = cfg.model_dump_json()
        if key not in self._detectors:
            from ..detect import build_detector

            self._detectors[key] = build_detector(cfg)
        return self._detectors[key]

    def inpainter_name(self, stage: StageConfig) -> str | None:
        """Registry name of the inpainter that repaints ``stage``, or None if it is not repainted."""
        icfg = self.config.inpainter
        if icfg.backend in ("classical", "diffusers"):
            return icfg.backend
        if icfg.backend == "none":
            return None
        if icfg.model or icfg.model_dir:
            return "diffusers"
        return "classical" if stage.classical_ok else None

    def skip_reason(self, stage: StageConfig) -> str:
        """Why ``stage`` is not repainted (only meaningful when inpainter_name is None)."""
        if self.config.inpainter.backend == "none":
            return "not repainted: inpainter backend is 'none'"
        return NO_MODEL_REASON

    def inpainter(self, name: str) -> Inpainter:
        """The inpainter registered as ``name`` (built and loaded once per run)."""
        if name not in self._inpainters:
            from ..inpaint import build_inpainter

            self._inpainters[name] = build_inpainter(name, self.config.inpainter)
        return self._inpainters[name]

    def stage_identity(self, stage: StageConfig) -> dict[str, Any]:
        """Everything besides the input that decides a stage's output, for its checkpoint key."""
        name = self.inpainter_name(stage)
        icfg = self.config.inpainter
        if name == "classical":
            inp: dict[str, Any] = {"name": name, "method": icfg.classical_method, "radius": icfg.classical_radius}
        elif name == "diffusers":
            inp = {"name": name, "model": _file_identity(icfg.model) or icfg.model, "model_dir": icfg.model_dir,
                   "device": icfg.device}
        else:
            inp = {"name": None, "reason": self.skip_reason(stage)}
        return {
            "stage": stage.model_dump(mode="json"),
            "detector_model": _file_identity(stage.detector.model),
            "inpainter": inp,
        }
