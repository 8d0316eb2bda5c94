"""Folder runs: every image under an input folder, one terminal status each.

Inputs are never written (the output folder may not be the input or inside it), a lock
stops two runs writing one output folder, stale temp files from a killed run are swept,
and the summary counts fixed / planned / nothing detected / unchanged / failed.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..config import RunConfig, config_hash
from ..errors import EXIT_FAILURES, EXIT_INTERRUPTED, EXIT_OK, AutofixError, show_path
from ..io.atomic import atomic_write_json, sweep_temp_files
from ..io.discover import check_output_dir, find_images, input_root
from .backends import NO_MODEL_HINT, NO_MODEL_REASON, Backends
from .executor import ImageOutcome, ImageRunner, RunOptions
from .output_folder import OutputStore

@dataclass
class BatchSummary:
    """What a folder run did."""

    outcomes: list[ImageOutcome] = field(default_factory=list)
    elapsed: float = 0.0
    interrupted: bool = False
    backend_lines: list[str] = field(default_factory=list)

    def counts(self) -> Counter[str]:
        """Number of images per terminal status."""
        return Counter(o.status for o in self.outcomes)

    def exit_code(self) -> int:
        """0 all ok, 3 finished with failures, 130 interrupted."""
        if self.interrupted:
            return EXIT_INTERRUPTED
        return EXIT_FAILURES if self.counts().get("failed") else EXIT_OK

    def lines(self) -> list[str]:
        """Human-readable closing summary."""
        c = self.counts()
        order = ("fixed", "planned", "nothing_detected", "unchanged", "dry_run", "failed")
        head = ", ".join(f"{c[k]} {k.replace('_', ' ')}" for k in order if c.get(k))
        now = [o for o in self.outcomes if o.status != "unchanged"]
        before = [o for o in self.outcomes if o.status == "unchanged"]
        tally = f" ({sum(o.regions for o in now)} region(s) found, {sum(o.repainted for o in now)} repainted)"
        if before:  # an unchanged image was repainted by an earlier run, not by this one
            tally += (f"; the unchanged ones were done by an earlier run ({sum(o.regions for o in before)} region(s), "
                      f"{sum(o.repainted for o in before)} repainted then)")
        rate = (f" [{len(self.outcomes) / self.elapsed:.2f} images/s, "
                f"{sum(o.repainted for o in now) / self.elapsed:.2f} regions/s]") if self.elapsed > 0 else ""
        out = [f"{len(self.outcomes)} image(s) in {self.elapsed:.1f}s{rate}: {head or 'nothing to do'}{tally}"]
        out += self.backend_lines
        out += [f"  failed: {o.detail}" for o in self.outcomes if o.status == "failed"]
        if any(NO_MODEL_REASON in o.not_repainted_reason for o in self.outcomes):
            out.append(NO_MODEL_HINT)
        return out


def begin_run(store: OutputStore, config: RunConfig, input_root: Path, **fields: Any) -> str:
    """Start a run in a locked output folder: sweep temp files a killed run left, save the
    effective config (``config-HASH.json``) and where inputs come from (``source.json``,
    read by the report), journal ``run_start``; return the config hash."""
    swept = sweep_temp_files(store.root)
    digest = config_hash(config)
    atomic_write_json(store.meta / f"config-{digest[:16]}.json",
                      {"config_hash": digest, "config": config.model_dump(mode="json")})
    atomic_write_json(store.meta / "source.json", {"input_root": str(input_root.resolve())})
    store.journal("run_start", config_hash=digest, input_root=str(input_root.resolve()),
                  swept_temp_files=swept, **fields)
    return digest


def _backend_lines(runner: ImageRunner) -> list[str]:
    """One line per stage naming the detector and the inpainter that ran (or why none did)."""
    lines = []
    for i, stage in enumerate(runner.config.stages):
        det = stage.detector.backend + (f":{stage.detector.model}" if stage.detector.model else "")
        name = None if runner.options.dry_run else runner.backends.inpainter_name(stage)
        if runner.options.dry_run:
            what = "none (dry run)"
        elif name is None:
            what = runner.backends.skip_reason(stage)
        else:
            what = runner.backends.built_name(name)
        line = f"  stage {i} {stage.name}: detector {det}, inpainter {what}"
        inherits = [f"{k} from the image" for k, v in (("seed", stage.inpaint.seed), ("sampler", stage.inpaint.scheduler))
                    if str(v).lower() == "image"] + (["a fresh random seed per region"] if stage.inpaint.seed == -1 else [])
        if name is not None and inherits:
            line += "; " + ", ".join(inherits) + " (each region's sidecar record says what it got)"
        lines.append(line)
    return lines


def run_folder(inp: str | Path, out: str | Path, config: RunConfig, options: RunOptions | None = None,
               on_image: Callable[[ImageOutcome], None] | None = None, progress: bool = True,
               prompts: dict[str, Any] | None = None, ray: Any = None) -> BatchSummary:
    """Fix every image under ``inp`` into ``out``. ``prompts`` maps relative paths to user
    boxes/clicks for ``prompt`` stages (object removal). ``ray``: a
    :class:`~.ray_engine.RayOptions` runs the windows on Ray instead of this process. Raises
    AutofixError/ValueError for fatal problems (bad folders, lock held); per-image problems
    become ``failed`` outcomes."""
    inp, out = Path(inp), Path(out)
    if not inp.exists():
        raise AutofixError(f"{inp}: no such file or folder")
    check_output_dir(inp, out)
    rels = find_images(inp)
    if not rels:
        raise AutofixError(f"{inp}: no .jpg/.jpeg/.png/.webp images found")
    store = OutputStore(out)
    store.acquire_lock()
    try:
        runner = ImageRunner(config, store, input_root(inp), Backends(config), options or RunOptions(), prompts)
        runner.backends.prepare(runner.options.dry_run)
        return _run_locked(rels, runner, on_image, progress, ray)
    finally:
        store.release_lock()


def _run_locked(rels: list[Path], runner: ImageRunner, on_image: Callable[[ImageOutcome], None] | None,
                progress: bool, ray: Any = None) -> BatchSummary:
    from tqdm import tqdm

    store = runner.store
    begin_run(store, runner.config, runner.input_root, images=len(rels), dry_run=runner.options.dry_run,
              engine="ray" if ray is not None else "local")
    summary, t0 = BatchSummary(), time.perf_counter()
    bar = tqdm(total=len(rels), unit="img", disable=not progress, file=sys.stderr, dynamic_ncols=True)
    try:
        if ray is not None:
            from .ray_engine import run_many as ray_run_many

            outcomes = ray_run_many(runner, rels, ray)
        else:
            outcomes = runner.run_many(rels)
        for outcome in outcomes:
            bar.set_postfix_str(show_path(outcome.rel.as_posix())[-40:], refresh=False)
            bar.update(1)
            outcome.image = None  # keep memory flat over big folders
            if outcome.status == "failed":
                store.journal("image_failed", rel=outcome.rel.as_posix(), error=outcome.detail)
            summary.outcomes.append(outcome)
            if on_image:
                on_image(outcome)
    except KeyboardInterrupt:
        summary.interrupted = True
        store.journal("run_interrupted", done=len(summary.outcomes))
    finally:
        bar.close()
    summary.elapsed = time.perf_counter() - t0
    summary.backend_lines = _backend_lines(runner)
    store.journal("run_end", counts=dict(summary.counts()), elapsed=round(summary.elapsed, 3))
    return summary
