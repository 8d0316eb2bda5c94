"""The staged executor: one image through every stage, checkpointed and resumable.

Each stage detects on the current image, plans regions, inpaints their only-masked crops
as one batch, and composites the results back through the feathered masks. After a stage
its image, mask and JSON record are written atomically; the record is written last and
carries the stage *key* — a hash chained from the input file's sha256 and everything that
decides the stage (its config, detector model, inpainter identity). Re-running the same
command reuses a stage only if its record's key matches and its image's sha256 verifies,
so a changed config or input never silently reuses old work, and an interrupted stage is
simply redone.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .. import __version__
from ..config import RunConfig, StageConfig, canonical_json, config_hash
from ..errors import AutofixError
from ..io.atomic import atomic_write_bytes, atomic_write_json
from ..types import InpaintJob, PlannedRegion
from .backends import Backends
from .composite import blend_window, cut_crop, paste_crop
from ..io.metadata import GenerationInfo, generation_info, output_text
from .prompts import region_prompts
from .records import region_record
from .select import choose
from .store import OutputStore

STAGE_FORMAT = 1
_EXT_FORMAT = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}
_FORMAT_EXT = {"png": ".png", "jpg": ".jpg", "webp": ".webp"}


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def _key(*parts: Any) -> str:
    return sha256_bytes(canonical_json(list(parts)).encode())


def output_ext(rel: Path, requested: str) -> str:
    """Extension of the final image: the input's own (``same``) or the requested format's."""
    return rel.suffix if requested == "same" else _FORMAT_EXT[requested]


def encode_png_fast(rgb: np.ndarray) -> bytes:
    """Lossless, deterministic PNG bytes of an ``(H, W, 3)`` uint8 RGB array (checkpoints)."""
    import cv2

    ok, buf = cv2.imencode(".png", np.ascontiguousarray(rgb[:, :, ::-1]), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise AutofixError("PNG encoding failed")
    return buf.tobytes()


def encode_mask_png(mask: np.ndarray) -> bytes:
    """PNG bytes of an ``(H, W)`` uint8 mask."""
    import cv2

    ok, buf = cv2.imencode(".png", mask, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise AutofixError("PNG encoding failed")
    return buf.tobytes()


def decode_png(data: bytes) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB from checkpoint PNG bytes."""
    import cv2

    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if arr is None:
        raise AutofixError("checkpoint image is not a readable PNG")
    return np.ascontiguousarray(arr[:, :, ::-1])


@dataclass
class RunOptions:
    """How a run behaves, beyond the config that decides its pixels."""

    dry_run: bool = False
    overlays: Literal["auto", "always", "never"] = "auto"


@dataclass
class ImageOutcome:
    """Terminal status of one input. ``status`` is one of ``fixed``, ``nothing_detected``,
    ``planned`` (regions found, none repainted), ``dry_run``, ``unchanged`` (already done
    by an earlier identical run) or ``failed``."""

    rel: Path
    status: str
    detail: str = ""
    output: Path | None = None
    regions: int = 0
    repainted: int = 0
    resumed_stages: int = 0
    not_repainted_reason: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    sidecar: dict[str, Any] | None = None
    image: np.ndarray | None = None


@dataclass
class _StageResult:
    image: np.ndarray
    record: dict[str, Any]
    resumed: bool


class ImageRunner:
    """Runs images through a config's stages into an :class:`OutputStore`."""

    def __init__(self, config: RunConfig, store: OutputStore | None, input_root: Path,
                 backends: Backends | None = None, options: RunOptions | None = None,
                 prompts: dict[str, Any] | None = None) -> None:
        self.config = config
        self.prompts = prompts or {}
        self.store = store
        self.input_root = Path(input_root)
        self.backends = backends or Backends(config)
        self.options = options or RunOptions()
        self.config_hash = config_hash(config)

    # -- keys -------------------------------------------------------------------------
    def stage_keys(self, input_sha: str, rel: Path | None = None) -> list[str]:
        """Chained keys of every stage for input ``rel`` whose file sha256 is ``input_sha``
        (a ``prompt`` stage's key includes that image's boxes and clicks)."""
        keys, prev = [], _key("input", STAGE_FORMAT, input_sha, self.config.input.model_dump())
        for stage in self.config.stages:
            identity = self.backends.stage_identity(stage)
            if stage.detector.backend == "prompt":
                identity["prompts"] = repr(self.image_prompts(rel))
            prev = _key(prev, identity)
            keys.append(prev)
        return keys

    def image_prompts(self, rel: Path | None) -> Any:
        """The user boxes/clicks for input ``rel`` (empty when none were given for it)."""
        from ..detect.prompts import ImagePrompts, prompts_for

        if rel is None or not self.prompts:
            return ImagePrompts()
        return prompts_for(self.prompts, rel)

    def final_key(self, stage_keys: list[str]) -> str:
        """Key of the final image: the last stage's key plus the output settings."""
        return _key(stage_keys[-1], self.config.output.model_dump(), __version__)

    # -- in memory ----------------------------------------------------------------------
    def process_array(self, image: np.ndarray, info: GenerationInfo | None = None
                      ) -> tuple[np.ndarray, list[dict[str, Any]]]:
        """Run every stage on ``image`` (``(H, W, 3)`` uint8 RGB) in memory: no checkpoints,
        no files. ``info`` is the image's own prompt/seed, used by ``{prompt}`` templates.
        Returns the fixed image and one record per stage (as in sidecars)."""
        records, timings = [], {}
        for index, stage in enumerate(self.config.stages):
            image, record, _ = self._compute_stage(None, index, stage, image, timings, info)
            records.append(record)
        return image, records

    # -- one image --------------------------------------------------------------------
    def run(self, rel: Path) -> ImageOutcome:
        """Process input ``rel`` (relative to the input root). Never raises for a bad
        input: failures come back as ``status == "failed"`` with a one-line detail."""
        timings: dict[str, float] = {}
        try:
            return self._run(Path(rel), timings)
        except AutofixError as exc:
            return ImageOutcome(Path(rel), "failed", str(exc), timings=timings)
        except (OSError, ValueError) as exc:
            return ImageOutcome(Path(rel), "failed", f"{self.input_root / rel}: {exc}", timings=timings)
        except Exception as exc:  # noqa: BLE001 - a backend bug on one image must not stop the batch
            first = (str(exc).splitlines() or [""])[0]
            return ImageOutcome(Path(rel), "failed", f"{self.input_root / rel}: internal error in a backend "
                                f"({type(exc).__name__}: {first})", timings=timings)

    def _run(self, rel: Path, timings: dict[str, float]) -> ImageOutcome:
        from ..io.image import load_image

        t0 = time.perf_counter()
        data = (self.input_root / rel).read_bytes()
        input_sha = sha256_bytes(data)
        keys = self.stage_keys(input_sha, rel)
        final = self.store.final_path(rel, output_ext(rel, self.config.output.format), self.input_root)
        if not self.options.dry_run:
            cached = self._cached_outcome(rel, final, self.final_key(keys))
            if cached is not None:
                timings["check"] = time.perf_counter() - t0
                cached.timings = timings
                return cached
        loaded = load_image(self.input_root / rel, max_pixels=self.config.input.max_pixels, data=data)
        timings["decode"] = time.perf_counter() - t0
        image, stage_records, resumed = loaded.rgb, [], 0
        info = generation_info(loaded.text)
        for index, stage in enumerate(self.config.stages):
            result = self._stage(rel, index, stage, image, keys[index], timings, info)
            image, resumed = result.image, resumed + result.resumed
            stage_records.append(result.record)
        if self.options.dry_run:
            return self._dry_run_outcome(rel, stage_records, timings)
        return self._finish(rel, final, data, loaded, image, stage_records, keys, resumed, timings, info)

    def _cached_outcome(self, rel: Path, final: Path, key: str) -> ImageOutcome | None:
        side = self.store.sidecar_path(final)
        try:
            record = json.loads(side.read_text("utf-8"))
            if record.get("key") != key or sha256_bytes(final.read_bytes()) != record["output"]["sha256"]:
                return None
        except (OSError, ValueError, KeyError, TypeError):
            return None
        stages = record.get("stages", [])
        return ImageOutcome(rel, "unchanged", f"already done ({record.get('status')})", output=final, sidecar=record,
                            regions=sum(len(s.get("regions", [])) for s in stages),
                            repainted=sum(s.get("repainted", 0) for s in stages))

    # -- stages -------------------------------------------------------------------------
    def _stage(self, rel: Path, index: int, stage: StageConfig, image: np.ndarray, key: str,
               timings: dict[str, float], info: GenerationInfo) -> _StageResult:
        paths = self.store.stage_paths(rel, index, stage.name)
        if not self.options.dry_run:
            reused = self._load_checkpoint(paths, key)
            if reused is not None:
                return _StageResult(reused[0], reused[1], True)
        new_image, record, union = self._compute_stage(rel, index, stage, image, timings, info)
        record["key"] = key
        if not self.options.dry_run:
            t = time.perf_counter()
            png = encode_png_fast(new_image)
            record["image_sha256"] = sha256_bytes(png)
            atomic_write_bytes(paths["image"], png)
            atomic_write_bytes(paths["mask"], encode_mask_png(union))
            atomic_write_json(paths["record"], record)
            self.store.journal("stage_done", rel=rel.as_posix(), stage=stage.name, key=key,
                               image_sha256=record["image_sha256"], repainted=record["repainted"])
            timings["checkpoint"] = timings.get("checkpoint", 0.0) + time.perf_counter() - t
        return _StageResult(new_image, record, False)

    def _load_checkpoint(self, paths: dict[str, Path], key: str) -> tuple[np.ndarray, dict[str, Any]] | None:
        try:
            record = json.loads(paths["record"].read_text("utf-8"))
            if record.get("key") != key or record.get("format") != STAGE_FORMAT:
                return None
            png = paths["image"].read_bytes()
            if sha256_bytes(png) != record.get("image_sha256"):
                return None
            return decode_png(png), record
        except (OSError, ValueError, AutofixError):
            return None

    def _compute_stage(self, rel: Path | None, index: int, stage: StageConfig, image: np.ndarray,
                       timings: dict[str, float], info: GenerationInfo | None = None
                       ) -> tuple[np.ndarray, dict[str, Any], np.ndarray]:
        from ..plan import plan_stage_full

        t = time.perf_counter()
        detector = self.backends.detector(stage.detector, self.image_prompts(rel), where=str(rel or "image"))
        detections = detector.detect(image)
        t1 = time.perf_counter()
        regions, plan_notes = plan_stage_full(detections, image.shape[:2], stage)
        t2 = time.perf_counter()
        timings["detect"] = timings.get("detect", 0.0) + t1 - t
        timings["plan"] = timings.get("plan", 0.0) + t2 - t1
        name = None if self.options.dry_run else self.backends.inpainter_name(stage)
        if name is None or not regions:
            reason = "dry run" if self.options.dry_run else self.backends.skip_reason(stage)
            records = [region_record(r, stage, repainted=False, reason=reason) for r in regions]
            new_image, inpainter_info = image, None
        else:
            new_image, records, inpainter_info = self._repaint(stage, image, regions, detector, name, timings, info)
        union = _union(regions, image.shape[:2])
        self._maybe_overlay(rel, index, stage, image, regions, records)
        record = {
            "format": STAGE_FORMAT, "stage": stage.name, "index": index, "label": stage.label,
            "detector": detector.name, "detections": len(detections), "inpainter": inpainter_info,
            "regions": records, "repainted": sum(r["repainted"] for r in records), "notes": plan_notes,
        }
        return new_image, record, union

    def _repaint(self, stage: StageConfig, image: np.ndarray, regions: list[PlannedRegion], detector: Any,
                 name: str, timings: dict[str, float], info: GenerationInfo | None
                 ) -> tuple[np.ndarray, list[dict[str, Any]], dict[str, Any]]:
        inpainter = self.backends.inpainter(name)
        t = time.perf_counter()
        prompts = region_prompts(stage.inpaint, regions, info)
        jobs = [self._job(stage, image, r, *p) for r, p in zip(regions, prompts)]
        results = inpainter.inpaint(jobs)
        t1 = time.perf_counter()
        timings["inpaint"] = timings.get("inpaint", 0.0) + t1 - t
        out, records = image, []
        scorer = _scorer(stage, detector)
        for region, job, result in zip(regions, jobs, results):
            blocked = result.info.get("blocked") or ("nothing to fill at crop size" if result.info.get("skipped")
                                                     else None)
            choice = None if blocked else choose(scorer, stage.label, _window(out, region), tuple(
                blend_window(out, c, region.soft_mask, region.crop) for c in result.candidates))
            keep = choice is not None and choice.index is not None
            if keep:
                out = paste_crop(out, result.candidates[choice.index], region.soft_mask, region.crop)
            reason = f"not repainted: {blocked}" if blocked else ("" if keep else choice.reason)
            records.append(region_record(region, stage, repainted=keep, reason=reason, seed=job.seed,
                                         choice=choice, info=result.info, prompt=job.prompt,
                                         negative_prompt=job.negative_prompt))
        timings["composite"] = timings.get("composite", 0.0) + time.perf_counter() - t1
        return out, records, {"name": inpainter.name, **inpainter.describe()}

    @staticmethod
    def _job(stage: StageConfig, image: np.ndarray, region: PlannedRegion, prompt: str, negative: str) -> InpaintJob:
        crop_rgb, crop_mask = cut_crop(image, region.hard_mask, region.crop)
        p = stage.inpaint
        params = p.model_dump(mode="json", exclude={"prompt", "negative_prompt", "region_prompts"})
        return InpaintJob(image=crop_rgb, mask=crop_mask, seed=p.seed + region.index, prompt=prompt,
                          negative_prompt=negative, params=params)

    def _maybe_overlay(self, rel: Path | None, index: int, stage: StageConfig, image: np.ndarray,
                       regions: list[PlannedRegion], records: list[dict[str, Any]]) -> None:
        mode = self.options.overlays
        if rel is None or self.store is None:
            return
        unrepainted = any(not r["repainted"] for r in records)
        if mode == "never" or (mode == "auto" and not (self.options.dry_run or unrepainted)):
            return
        from .overlay import draw_plan

        notes = [f"{stage.name}: {len(regions)} region(s)"] + sorted({r["reason"] for r in records if r["reason"]})
        atomic_write_bytes(self.store.plan_path(rel, index, stage.name), encode_png_fast(draw_plan(image, regions, notes)))

    # -- finishing ----------------------------------------------------------------------
    def _sidecar(self, rel: Path, loaded: Any, data: bytes, stage_records: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "autofix": __version__,
            "config_hash": self.config_hash,
            "preset": self.config.preset,
            "input": {"path": rel.as_posix(), "sha256": sha256_bytes(data), "format": loaded.format,
                      "mode": loaded.mode, "size": [int(loaded.rgb.shape[1]), int(loaded.rgb.shape[0])],
                      "normalisations": list(loaded.normalisations)},
            "stages": [{k: v for k, v in rec.items() if k not in ("format",)} for rec in stage_records],
        }

    def _finish(self, rel: Path, final: Path, data: bytes, loaded: Any, image: np.ndarray,
                stage_records: list[dict[str, Any]], keys: list[str], resumed: int,
                timings: dict[str, float], info: GenerationInfo) -> ImageOutcome:
        t = time.perf_counter()
        repainted = sum(r["repainted"] for r in stage_records)
        regions = sum(len(r["regions"]) for r in stage_records)
        text = self._png_text(loaded, stage_records, info)
        payload, copied = self._final_bytes(rel, data, loaded, image, repainted, text)
        atomic_write_bytes(final, payload)
        status = "fixed" if repainted else ("planned" if regions else "nothing_detected")
        sidecar = self._sidecar(rel, loaded, data, stage_records)
        sidecar.update(key=self.final_key(keys), status=status, output={
            "path": final.relative_to(self.store.root).as_posix(), "sha256": sha256_bytes(payload),
            "copied_unchanged": copied})
        atomic_write_json(self.store.sidecar_path(final), sidecar)
        self.store.journal("image_done", rel=rel.as_posix(), status=status, output_sha256=sidecar["output"]["sha256"])
        timings["write"] = time.perf_counter() - t
        reasons = {r["reason"] for s in stage_records for r in s["regions"] if not r["repainted"] and r["reason"]}
        return ImageOutcome(rel, status, _detail(stage_records), output=final, regions=regions,
                            repainted=repainted, resumed_stages=resumed, timings=timings, sidecar=sidecar,
                            not_repainted_reason="; ".join(sorted(reasons)), image=image)

    def _png_text(self, loaded: Any, stage_records: list[dict[str, Any]], info: GenerationInfo) -> dict[str, str]:
        """The input's PNG text with autofix's settings appended to A1111's ``parameters``."""
        inpainters = sorted({s["inpainter"]["name"] for s in stage_records if s.get("inpainter")})
        extra = {"autofix": __version__, "autofix config": self.config_hash[:12],
                 "autofix stages": " ".join(f"{s['stage']}:{s['repainted']}/{len(s['regions'])}" for s in stage_records),
                 "autofix inpainter": " ".join(inpainters) or "none"}
        return output_text(loaded.text, info, extra)

    def _final_bytes(self, rel: Path, data: bytes, loaded: Any, image: np.ndarray, repainted: int,
                     text: dict[str, str]) -> tuple[bytes, bool]:
        from ..io.image import encode_image

        ext = output_ext(rel, self.config.output.format)
        fmt = _EXT_FORMAT.get(ext.lower(), "PNG")
        source_format = "JPEG" if loaded.format == "MPO" else loaded.format  # phone JPEGs open as MPO
        if not repainted and fmt == source_format:
            return data, True
        alpha = loaded.alpha if fmt != "JPEG" else None
        return encode_image(image, alpha, fmt, like=loaded, jpeg_quality=self.config.output.jpeg_quality,
                            text=text if fmt == "PNG" else None), False

    def _dry_run_outcome(self, rel: Path, stage_records: list[dict[str, Any]], timings: dict[str, float]) -> ImageOutcome:
        regions = sum(len(r["regions"]) for r in stage_records)
        plan = self.store.meta / "plans" / rel.parent / f"{rel.name}.plan.json"
        atomic_write_json(plan, {"input": rel.as_posix(), "config_hash": self.config_hash, "stages": stage_records})
        return ImageOutcome(rel, "dry_run", _detail(stage_records), regions=regions, timings=timings)


def _scorer(stage: StageConfig, detector: Any) -> Any:
    """The detector that scores best-of-N candidates: the stage's own, without mask
    refinement (scores ignore masks, and SAM would re-encode every window); None for
    ``prompt`` stages, whose user boxes mean nothing inside a crop window."""
    if stage.detector.backend == "prompt":
        return None
    return getattr(detector, "detector", detector)


def _window(image: np.ndarray, region: PlannedRegion) -> np.ndarray:
    """The region's crop box of ``image`` at full resolution (what best-of-N scores)."""
    x0, y0, x1, y1 = region.crop.box
    return np.ascontiguousarray(image[y0:y1, x0:x1])


def _union(regions: list[PlannedRegion], shape_hw: tuple[int, int]) -> np.ndarray:
    union = np.zeros(shape_hw, np.uint8)
    for region in regions:
        np.maximum(union, region.soft_mask, out=union)
    return union


def _detail(stage_records: list[dict[str, Any]]) -> str:
    parts = []
    for rec in stage_records:
        n, done = len(rec["regions"]), rec["repainted"]
        parts.append(f"{rec['stage']}: {n} region(s)" + (f", {done} repainted" if done else ""))
    return "; ".join(parts)
