"""The staged executor's front: stage keys, resume decisions, in-memory runs.

A stage's *key* is a hash chained from the input file's sha256 and everything that decides
the stage (its config, detector model, inpainter identity). Re-running the same command
reuses a stage only if its snapshot's key matches and its pixels verify (see
:mod:`.snapshots`), and reuses a whole image only if its sidecar's final key matches and the
final file's sha256 verifies — so a changed config or input never silently reuses old work,
and an interrupted stage is simply redone.

The work itself is split by design: :mod:`.step` (one stage on one image, pure),
:mod:`.scheduler` (stage-major windows of images, CPU work overlapped with inpainting),
:mod:`.snapshots` (what a stage changed, for resume) and :mod:`.writer` (finals, sidecars, journal).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from .. import __version__
from ..choices import Overlays
from ..config import RunConfig, canonical_json, config_hash
from ..io.metadata import GenerationInfo
from . import step
from .backends import Backends
from .output_folder import OutputStore
from .writer import sha256_bytes

STAGE_FORMAT = 2


def _key(*parts: Any) -> str:
    return hashlib.sha256(canonical_json(list(parts)).encode()).hexdigest()


@dataclass
class RunOptions:
    """How a run behaves, beyond the config that decides its pixels.

    Attributes:
        window: images in flight per window (stage-major: every image of a window goes
            through stage k before any goes to stage k+1, and all their crops reach the
            inpainter together). ``None``: four times the inpainter's ``max_batch`` for diffusion,
            4 for classical fills (:func:`~.scheduler.default_window`). Outputs do not depend on it.
        report: make report thumbnails during the run (from the arrays in memory).
        threaded: overlap decode/detect/composite and file writes with inpainting (CPU
            worker threads, one writer thread); False runs everything on the calling thread.
        workers: CPU worker threads (``None``: two when the detectors allow it, else one).
        force: repaint an input autofix already repainted (its ``autofix`` metadata says
            so); by default such an input fails with one line.
    """

    dry_run: bool = False
    overlays: Overlays = "auto"
    window: int | None = None
    report: bool = True
    threaded: bool = True
    workers: int | None = None
    #: repaint inputs autofix's own metadata says it already repainted (issue 14: refused by
    #: default, see :mod:`.repaint_guard`)
    force: bool = False
    #: write every candidate of every repainted region for ``autofix pick`` (see :mod:`.pick`);
    #: changes no pixels, so it is not part of the stage keys
    keep_candidates: bool = False


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


class ImageRunner:
    """Runs images through a config's stages into an :class:`OutputStore` (or in memory)."""

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
    def stage_keys(self, input_sha: str, rel: Path | None = None, data: bytes | None = None) -> list[str]:
        """Chained keys of every stage for input ``rel`` whose file sha256 is ``input_sha``
        (a ``prompt`` stage's key includes that image's boxes and clicks; a diffusion
        stage whose prompt template takes the image's own prompt includes the files of the
        LoRAs that prompt's ``<lora:...>`` tags name, read from the file's bytes ``data``)."""
        keys, prev = [], _key("input", STAGE_FORMAT, input_sha, self.config.input.model_dump())
        own: GenerationInfo | None = None
        for stage in self.config.stages:
            identity = self.backends.stage_identity(stage)
            if stage.detector.backend == "prompt":
                identity["prompts"] = repr(self.image_prompts(rel))
            if data is not None and self.backends.inherits_prompt(stage):
                own = own or _own_prompt(data)
                loras = self.backends.image_lora_identity(stage, own)
                if loras:
                    identity["image_loras"] = loras
            prev = _key(prev, identity)
            keys.append(prev)
        return keys

    def image_prompts(self, rel: Path | None) -> Any:
        """The user boxes/clicks for input ``rel`` (empty when none were given for it)."""
        from ..detect.user_prompts import ImagePrompts, prompts_for

        if rel is None or not self.prompts:
            return ImagePrompts()
        return prompts_for(self.prompts, rel)

    def final_key(self, stage_keys: list[str]) -> str:
        """Key of the final image: the last stage's key plus the output settings."""
        return _key(stage_keys[-1], self.config.output.model_dump(), __version__)

    def cached_outcome(self, rel: Path, final: Path, key: str) -> ImageOutcome | None:
        """``unchanged`` if ``final`` and its sidecar are a verified result for ``key``."""
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

    # -- runs ---------------------------------------------------------------------------
    def run_many(self, rels: Iterable[Path], inpaint: Any = None) -> Iterator[ImageOutcome]:
        """Process inputs (relative to the input root) stage-major in windows; yields one
        outcome per input as each window finishes. Never raises for a bad input. ``inpaint``
        replaces the local inpainter call (see :class:`~.scheduler.Scheduler`)."""
        from .scheduler import Scheduler

        yield from Scheduler(self, inpaint).run([Path(r) for r in rels])

    def run(self, rel: Path) -> ImageOutcome:
        """Process one input (see :meth:`run_many`)."""
        (outcome,) = list(self.run_many([rel]))
        return outcome

    def process_array(self, image: np.ndarray, info: GenerationInfo | None = None
                      ) -> tuple[np.ndarray, list[dict[str, Any]]]:
        """Run every stage on ``image`` (``(H, W, 3)`` uint8 RGB) in memory: no snapshots,
        no files. ``info`` is the image's own prompt/seed, used by ``{prompt}`` templates.
        Returns the fixed image and one record per stage (as in sidecars)."""
        images, records = self.process_arrays([image], [info])
        return images[0], records[0]

    def process_arrays(self, images: list[np.ndarray], infos: list[GenerationInfo | None] | None = None
                       ) -> tuple[list[np.ndarray], list[list[dict[str, Any]]]]:
        """:meth:`process_array` over several images, stage-major: each stage's crops of every
        image go to the inpainter in one call (batched by size and settings)."""
        infos = infos or [None] * len(images)
        records: list[list[dict[str, Any]]] = [[] for _ in images]
        current = list(images)
        for index, stage in enumerate(self.config.stages):
            plans = [step.prepare(self.backends, index, stage, img, info=info, dry_run=self.options.dry_run)
                     for img, info in zip(current, infos)]
            results = inpaint_plans(self.backends, plans)
            for i, (plan, res) in enumerate(zip(plans, results)):
                current[i], record = step.composite(self.backends, plan, current[i], res)
                records[i].append(record.to_json())
        return current, records


def inpaint_plans(backends: Backends, plans: list[step.StagePlan], call: Any = None) -> list[list[Any] | None]:
    """Inpaint the jobs of every plan, one inpainter call per inpainter for all of them;
    returns each plan's results (None for plans with no jobs). ``call(name, jobs)`` runs
    the inpainter registered as ``name`` (default: this process's, from ``backends``)."""
    call = call or (lambda name, jobs: backends.inpainter(name).inpaint(jobs))
    out: list[list[Any] | None] = [None] * len(plans)
    by_name: dict[str, list[int]] = {}
    for i, plan in enumerate(plans):
        if plan.jobs and plan.inpainter is not None:
            by_name.setdefault(plan.inpainter, []).append(i)
    for name, members in by_name.items():
        jobs = [job for i in members for job in plans[i].jobs]
        results = call(name, jobs)
        start = 0
        for i in members:
            n = len(plans[i].jobs)
            out[i] = list(results[start:start + n])
            start += n
    return out


def _own_prompt(data: bytes) -> GenerationInfo:
    """The generation info in an input file's metadata text (read from its bytes; no pixels
    decoded, so stealth metadata in a PNG's alpha is not read here); empty when there is
    none or it does not parse."""
    from ..meta.containers import read_fields
    from ..meta.readers import read_info

    try:
        return read_info(read_fields(data, stealth=False))
    except Exception:  # noqa: BLE001 - untrusted metadata never fails a key; the decode reports it
        return GenerationInfo()
