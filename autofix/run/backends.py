"""Which detector and inpainter each stage uses, built lazily once per run.

The repaint policy lives here: a classical fill would smear a good face, so with the
``auto`` backend and no diffusion model, only stages marked ``classical_ok`` (object
removal) are repainted; face/hand stages are detected, planned and snapshotted but left
as they are, with the reason recorded.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
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
    """The model's one identity (:func:`autofix.modelfiles.identity.identity`): path and sha256
    of the file or folder the loaders use (bare names such as ``face_yolov8n.pt`` or ``vit_b``
    looked up where they look), the same sha256 sidecars and make-inpaint metadata record.
    Hashes are cached per path, size and mtime, so a big file is read once."""
    from ..modelfiles.identity import identity

    return identity(path)


@dataclass
class Backends:
    """Lazily built detectors (one per distinct detector config) and the run's inpainter."""

    config: RunConfig
    _detectors: dict[str, Detector] = field(default_factory=dict)
    _refiners: dict[str, Any] = field(default_factory=dict)
    _inpainters: dict[str, Inpainter] = field(default_factory=dict)
    _owners: dict[str, int] = field(default_factory=dict)
    _local: threading.local = field(default_factory=threading.local)
    _build_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def allow_pickle(self) -> bool | None:
        """True if ``--allow-pickle`` was given; None lets backends fall back to
        ``$AUTOFIX_ALLOW_PICKLE`` (pickles outside the manifest are refused otherwise)."""
        return True if self.config.inpainter.allow_pickle else None

    def refiner(self, cfg: DetectorConfig) -> Any:
        """The SAM/GrabCut refiner ``cfg`` asks for (built once), or None."""
        key = f"{cfg.refine}:{cfg.refine_model}"
        if key not in self._refiners:
            from ..detect.refine import build_refiner

            self._refiners[key] = build_refiner(cfg.refine, cfg.refine_model, self.allow_pickle)
        return self._refiners[key]

    def detector(self, cfg: DetectorConfig, prompts: Any = None, where: str = "") -> Detector:
        """The detector for ``cfg``: built once (refined per ``cfg.refine``), or for the
        ``prompt`` backend built per image from that image's ``prompts``.

        A detector whose class says ``per_thread = True`` (cheap to build, e.g. the LiteRT ones)
        gets its own instance in every thread that asks, so CPU workers detect in parallel;
        any other detector is one shared instance."""
        from ..detect import build_detector

        if cfg.backend == "prompt":
            return build_detector(cfg, prompts=prompts, refiner=self.refiner(cfg), where=where)
        key = cfg.model_dump_json()
        mine = self._local.__dict__.setdefault("detectors", {})
        if key in mine:
            return mine[key]
        with self._build_lock:
            if key not in self._detectors:
                self._detectors[key] = self._build_detector(cfg)
                self._owners[key] = threading.get_ident()
            shared = self._detectors[key]
            own = self._owners[key] == threading.get_ident() or not getattr(shared, "per_thread", False)
            mine[key] = shared if own else self._build_detector(cfg)
        return mine[key]

    def _build_detector(self, cfg: DetectorConfig) -> Detector:
        from ..detect import build_detector
        from ..detect.refine import with_refinement

        return with_refinement(build_detector(cfg, allow_pickle=self.allow_pickle), self.refiner(cfg))

    def parallel_detection(self) -> bool:
        """True if every stage's detection can run in several threads at once (per-thread
        detectors, no shared refiner)."""
        for stage in self.config.stages:
            if stage.detector.refine != "none":
                return False
            if stage.detector.backend != "prompt" and not getattr(self.detector(stage.detector), "per_thread", False):
                return False
        return True

    def prepare(self, dry_run: bool = False) -> None:
        """Build every stage's detector (or refiner) and inpainter now, so a missing model,
        package or unsafe file fails the run once, before any image, with one line.
        Cheap: MediaPipe graphs and diffusion weights still load on first use."""
        for stage in self.config.stages:
            if stage.detector.backend == "prompt":
                self.refiner(stage.detector)
            else:
                self.detector(stage.detector)
            name = None if dry_run else self.inpainter_name(stage)
            if name is not None:
                self.inpainter(name)

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

    def use_inpainter(self, name: str, inpainter: Inpainter) -> None:
        """Use an already built ``inpainter`` for registry name ``name`` (e.g. one wrapping a
        pipeline the caller loaded, as the diffusers hook does)."""
        self._inpainters[name] = inpainter

    def built_name(self, name: str) -> str:
        """The full name of inpainter ``name`` (e.g. ``classical:telea``) once it is built."""
        built = self._inpainters.get(name)
        return built.name if built is not None else name

    @staticmethod
    def _prompt_texts(stage: StageConfig) -> list[str]:
        p = stage.inpaint
        return [p.prompt, p.negative_prompt] + [t for rp in p.region_prompts for t in (rp.prompt, rp.negative_prompt or "")]

    def inherits_prompt(self, stage: StageConfig) -> bool:
        """True for a diffusion stage whose prompt templates take the image's own prompt."""
        return self.inpainter_name(stage) == "diffusers" and any(
            "{prompt}" in t or "{negative_prompt}" in t for t in self._prompt_texts(stage))

    def image_lora_identity(self, stage: StageConfig, info: Any) -> list[list[Any]]:
        """The LoRA files named by ``<lora:...>`` tags that reach ``stage``'s prompts from the
        image's own prompt ``info`` (a :class:`~autofix.meta.GenerationInfo`), as
        :func:`~autofix.inpaint.loras.lora_key` gives them; ``[]`` when none."""
        from ..inpaint.loras import lora_key
        from .text_prompts import expand

        own = [expand(t, info.prompt, info.negative_prompt) for t in self._prompt_texts(stage)
               if "{prompt}" in t or "{negative_prompt}" in t]
        return lora_key(own, self.config.inpainter.model) if own else []

    def stage_identity(self, stage: StageConfig) -> dict[str, Any]:
        """Everything besides the input that decides a stage's output, for its snapshot key.
        (LoRA tags that arrive with an image's own prompt are added per image by
        :meth:`~.executor.ImageRunner.stage_keys` through :meth:`image_lora_identity`.)"""
        name = self.inpainter_name(stage)
        icfg = self.config.inpainter
        if name == "classical":
            inp: dict[str, Any] = {"name": name, "method": icfg.classical_method, "radius": icfg.classical_radius}
        elif name == "diffusers":
            inp = {"name": name, "model": _file_identity(icfg.model) or icfg.model,
                   "settings": icfg.model_dump(mode="json", exclude={"backend", "model", "classical_method",
                                                                     "classical_radius", "allow_pickle"})}
        else:
            inp = {"name": None, "reason": self.skip_reason(stage)}
        identity = {
            "stage": stage.model_dump(mode="json"),
            "detector_model": _file_identity(stage.detector.model),
            "refine_model": _file_identity(stage.detector.refine_model),
            "inpainter": inp,
        }
        if name == "diffusers":  # LoRA files named by <lora:...> tags in the stage's own prompts
            from ..inpaint.loras import lora_key

            loras = lora_key(self._prompt_texts(stage), icfg.model)
            if loras:
                identity["loras"] = loras
        if stage.inpaint.controlnet and name == "diffusers":  # issue 14: the ControlNet files' own identity
            identity["controlnet_models"] = [_file_identity(u.model) for u in stage.inpaint.controlnet]
            if any(u.image for u in stage.inpaint.controlnet):  # user-supplied control images
                identity["control_images"] = [_file_identity(u.image) for u in stage.inpaint.controlnet]
        return identity
