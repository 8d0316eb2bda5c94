"""Stage-major scheduling over windows of images, with CPU work overlapped with inpainting.

A *window* is up to ``N`` images (``RunOptions.window``; fewer when their pixels pass
:data:`WINDOW_PIXELS`). For stage k, every image of the window is restored from its
snapshot or detected and planned; then *all* their crops go to the inpainter at once (it
groups them by size bucket and settings and chunks them by ``max_batch``); then each image
is composited, snapshotted, and the window moves to stage k+1. Finished images go to the
writer.

The threads: a coordinator (one window's state machine at a time) that fans each step out
to the CPU workers (decode, detect, plan, cut, composite; two when every stage's detector
can be built per thread, e.g. the LiteRT ones, else one), the calling thread (the
inpainter), and a writer (snapshots, finals, sidecars, report tiles). Two windows are in
flight, so while the inpainter works on one window's crops the CPU workers prepare the
other's. Each image's pixels depend only on that image, so outputs do not
depend on the window size (byte-identical with deterministic inpainters).
"""

from __future__ import annotations

import os
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..errors import AutofixError, show_path
from . import step
from .executor import ImageOutcome, ImageRunner, inpaint_plans
from .records import StageRecord
from .snapshots import SnapshotStore, patch_boxes, pixels_sha256
from .writer import FinalImage, SerialWorker, output_ext, sha256_bytes, write_final

#: Most pixels of (not yet finished) images one window holds, to bound memory on big inputs.
WINDOW_PIXELS = 64_000_000
#: Windows in flight: one being inpainted while the CPU worker prepares the other.
IN_FLIGHT = 2


@dataclass
class _Image:
    """One input while its window is in flight."""

    rel: Path
    timings: dict[str, float] = field(default_factory=dict)
    outcome: ImageOutcome | None = None
    data: bytes = b""
    input_sha: str = ""
    keys: list[str] = field(default_factory=list)
    final: Path | None = None
    loaded: Any = None
    info: Any = None
    image: np.ndarray | None = None
    records: list[StageRecord] = field(default_factory=list)
    resumed: int = 0
    tiles: list[Any] = field(default_factory=list)
    plan: step.StagePlan | None = None
    results: list[Any] | None = None
    done: Future | None = None


@dataclass
class _Window:
    images: list[_Image] = field(default_factory=list)
    stage: int = -1

    def active(self) -> list[_Image]:
        return [img for img in self.images if img.outcome is None]


def default_window(runner: ImageRunner) -> int:
    """Images per window when ``--window`` is not given: four times ``max_batch`` with a
    diffusion model (a stage yields about one crop per image, spread over a few size buckets;
    measured on real photos at max_batch 8: 4.3 crops per UNet call with windows of 8 images,
    5.5 with 16, 6.7 with 32), 4 with classical fills (nothing to batch; small windows keep
    memory low). :data:`WINDOW_PIXELS` caps a window of big images."""
    names = {runner.backends.inpainter_name(s) for s in runner.config.stages} - {None}
    if "diffusers" in names and not runner.options.dry_run:
        return 4 * runner.config.inpainter.max_batch
    return 4


class Scheduler:
    """Runs inputs through an :class:`~.executor.ImageRunner`'s stages, stage-major in windows."""

    def __init__(self, runner: ImageRunner, inpaint: Any = None) -> None:
        """``inpaint(plans) -> results per plan`` replaces the local inpainter call (the Ray
        engine sends the jobs to model-holding actors); default :func:`~.executor.inpaint_plans`."""
        self.runner = runner
        self._inpaint_plans = inpaint or (lambda plans: inpaint_plans(runner.backends, plans))
        self.options = runner.options
        self.config = runner.config
        self.store = runner.store
        self.snapshots = SnapshotStore(self.store.meta)
        self.window = self.options.window or default_window(runner)
        self.workers = self.options.workers or (
            min(2, os.cpu_count() or 1) if self.options.threaded and runner.backends.parallel_detection() else 1)
        self._source: Iterator[Path] = iter(())
        self._pool: ThreadPoolExecutor | None = None

    # -- driver (calling thread) ----------------------------------------------------------
    def run(self, rels: list[Path]) -> Iterator[ImageOutcome]:
        """Yield one outcome per input, window by window."""
        self._source = iter(rels)
        cpu, self.writer = SerialWorker(self.options.threaded), SerialWorker(self.options.threaded)
        if self.workers > 1:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="autofix-cpu")
        queue: deque[tuple[_Window, Future]] = deque()

        def start() -> None:
            win = _Window()
            queue.append((win, cpu.submit(self._advance, win, False)))

        try:
            for _ in range(IN_FLIGHT):
                start()
            while queue:
                win, fut = queue.popleft()
                if fut.result():  # crops to inpaint
                    self._inpaint(win)
                    queue.append((win, cpu.submit(self._advance, win, True)))
                elif win.images:  # window finished
                    for img in win.images:
                        yield self._outcome(img)
                    start()
        finally:
            for _, fut in queue:
                fut.cancel()
            cpu.close()
            if self._pool is not None:
                self._pool.shutdown(wait=True)
            self.writer.close()

    def _inpaint(self, win: _Window) -> None:
        """Inpaint every pending crop of the window in one call per inpainter; an image whose
        crops make the inpainter fail is retried alone, so only it fails."""
        pending = [img for img in win.active() if img.plan is not None and img.plan.jobs]
        counts = [len(img.plan.jobs) for img in pending]  # counted now: a failed image loses its plan
        t = time.perf_counter()
        try:
            for img, res in zip(pending, self._inpaint_plans([i.plan for i in pending])):
                img.results = res
        except Exception:  # noqa: BLE001 - isolate the image(s) at fault
            if len(pending) == 1:
                self._fail(pending[0], *_exc_info())
            else:
                for img in pending:
                    try:
                        img.results = self._inpaint_plans([img.plan])[0]
                    except Exception:  # noqa: BLE001
                        self._fail(img, *_exc_info())
        share = (time.perf_counter() - t) / max(1, sum(counts))
        for img, n in zip(pending, counts):
            img.timings["inpaint"] = img.timings.get("inpaint", 0.0) + share * n

    def _outcome(self, img: _Image) -> ImageOutcome:
        if img.outcome is not None:
            return img.outcome
        try:
            return img.done.result()
        except Exception:  # noqa: BLE001 - a failed write fails this image only
            self._fail(img, *_exc_info())
            return img.outcome

    # -- CPU worker ---------------------------------------------------------------------
    def _advance(self, win: _Window, inpainted: bool) -> bool:
        """Move ``win`` on until its next crops need the inpainter (True) or it is done (False)."""
        if win.stage < 0:
            self._load_window(win)
            win.stage = 0
        elif inpainted:
            self._composite(win)
            win.stage += 1
        while win.stage < len(self.config.stages) and win.active():
            self._prepare(win)
            if any(img.plan is not None and img.plan.jobs for img in win.active()):
                return True
            self._composite(win)
            win.stage += 1
        for img in win.active():
            self._finish(img)
        return False

    def _load_window(self, win: _Window) -> None:
        pixels = 0
        while len(win.images) < self.window and pixels < WINDOW_PIXELS:
            rel = next(self._source, None)
            if rel is None:
                break
            win.images.append(_Image(rel))
            pixels += _header_pixels(self.runner.input_root / rel)
        self._each(win.images, self._load)

    def _each(self, images: list[_Image], fn: Any, *args: Any) -> None:
        """``fn(img, *args)`` for every image (on the CPU workers when there are several), each guarded."""
        if self._pool is None or len(images) < 2:
            for img in images:
                self._guard(img, fn, img, *args)
            return
        list(self._pool.map(lambda img: self._guard(img, fn, img, *args), images))

    def _load(self, img: _Image) -> None:
        from ..io.image import load_image
        from ..io.metadata import generation_info

        runner, t0 = self.runner, time.perf_counter()
        img.data = (runner.input_root / img.rel).read_bytes()
        img.input_sha = sha256_bytes(img.data)
        img.keys = runner.stage_keys(img.input_sha, img.rel, img.data)
        img.final = self.store.final_path(img.rel, output_ext(img.rel, self.config.output.format), runner.input_root)
        if not self.options.dry_run:
            cached = runner.cached_outcome(img.rel, img.final, runner.final_key(img.keys))
            if cached is not None:
                img.timings["check"] = time.perf_counter() - t0
                cached.timings = img.timings
                img.outcome = cached
                return
        img.loaded = load_image(runner.input_root / img.rel, max_pixels=self.config.input.max_pixels, data=img.data)
        if not self.options.force and not self.options.dry_run:  # issue 14: no recursive repaint unless --force
            from .repaint_guard import check_not_repainted

            check_not_repainted(img.loaded.text, show_path(runner.input_root / img.rel))
        img.info = generation_info(img.loaded.text, img.loaded.exif, img.loaded.alpha)
        img.image = img.loaded.rgb
        img.timings["decode"] = time.perf_counter() - t0

    def _prepare(self, win: _Window) -> None:
        index, stage = win.stage, self.config.stages[win.stage]
        for img in win.active():
            img.plan, img.results = None, None
        self._each(win.active(), self._prepare_one, index, stage)

    def _prepare_one(self, img: _Image, index: int, stage: Any) -> None:
        if not self.options.dry_run:
            t = time.perf_counter()
            restored = self.snapshots.load(img.rel, index, stage.name, img.keys[index], img.image)
            img.timings["resume"] = img.timings.get("resume", 0.0) + time.perf_counter() - t
            if restored is not None:
                self._tile(img, restored.record, img.image, restored.union, restored.image)
                img.records.append(restored.record)
                img.image, img.resumed = restored.image, img.resumed + 1
                return
        img.plan = step.prepare(self.runner.backends, index, stage, img.image,
                                prompts=self.runner.image_prompts(img.rel), where=str(img.rel), info=img.info,
                                dry_run=self.options.dry_run, timings=img.timings)
        if not self.options.dry_run:  # issue 14: the user's picks win over best-of-N; --keep-candidates
            from .pick import picks_for

            img.plan.picks = picks_for(self.store.meta, img.rel, img.keys[index])
            img.plan.keep_candidates = self.options.keep_candidates

    def _composite(self, win: _Window) -> None:
        self._each([img for img in win.active() if img.plan is not None], self._composite_one)
        for img in win.images:
            img.plan, img.results = None, None

    def _composite_one(self, img: _Image) -> None:
        plan, before = img.plan, img.image
        after, record = step.composite(self.runner.backends, plan, before, img.results, img.timings)
        union = step.union_mask(plan.regions, before.shape[:2])
        record.key = img.keys[plan.index]
        if plan.kept and not self.options.dry_run:  # issue 14: kept candidates, written before the stage commits
            from .pick import note_candidates, write_files

            self.writer.submit(write_files, note_candidates(self.store.meta, img.rel, plan, record))
            plan.kept = []
        self._tile(img, record, before, union, after)
        if not self.options.dry_run:
            record.image_sha256 = pixels_sha256(after)
            self.writer.submit(self._write_snapshot, img.rel, record, after, union, patch_boxes(plan.regions))
        self._maybe_overlay(img, plan, before, record)
        img.records.append(record)
        img.image = after

    def _finish(self, img: _Image) -> None:
        """Hand the finished image to the writer (its outcome comes from there)."""
        if self.options.dry_run:
            img.done = self.writer.submit(self._write_dry_run, img)
            return
        f = FinalImage(img.rel, img.final, img.data, img.input_sha, img.loaded, img.image, tuple(img.records),
                       self.runner.final_key(img.keys), img.info)
        img.done = self.writer.submit(self._write_final, img, f)
        img.image = img.data = None  # the writer holds what it needs

    def _guard(self, img: _Image, fn: Any, *args: Any) -> None:
        """Run one image's step; any exception fails that image only, with one line."""
        try:
            fn(*args)
        except Exception:  # noqa: BLE001 - a bad input or a backend bug on one image must not stop the batch
            self._fail(img, *_exc_info())

    def _fail(self, img: _Image, exc: BaseException, kind: type) -> None:
        where = show_path(self.runner.input_root / img.rel)
        if isinstance(exc, AutofixError):
            detail = str(exc)
        elif isinstance(exc, OSError) and exc.filename is not None:  # name the file that failed (maybe an output)
            detail = f"{where}: {show_path(exc.filename)}: {exc.strerror or exc}"
        elif isinstance(exc, (OSError, ValueError)):
            detail = f"{where}: {exc}"
        else:
            first = (str(exc).splitlines() or [""])[0]
            detail = f"{where}: internal error in a backend ({kind.__name__}: {first})"
        img.outcome = ImageOutcome(img.rel, "failed", detail, timings=img.timings)
        img.plan = img.results = img.image = None

    # -- writer thread ------------------------------------------------------------------
    def _write_snapshot(self, rel: Path, record: StageRecord, after: np.ndarray, union: np.ndarray,
                        boxes: list[tuple[int, int, int, int]]) -> None:
        try:
            self.snapshots.write(rel, record, after, union, boxes)
        except (OSError, AutofixError) as exc:  # only resume needs it: the image goes on, a re-run redoes the stage
            self.store.journal("snapshot_failed", rel=rel.as_posix(), stage=record.stage, error=str(exc), durable=False)
            return
        self.store.journal("stage_done", rel=rel.as_posix(), stage=record.stage, key=record.key,
                           image_sha256=record.image_sha256, repainted=record.repainted, durable=False)

    def _write_final(self, img: _Image, f: FinalImage) -> ImageOutcome:
        t = time.perf_counter()
        status, side = write_final(self.store, self.config, self.runner.config_hash, f)
        if self.options.report:
            from .report import save_tiles

            try:
                save_tiles(self.store, f.rel, side, img.tiles, before=f.loaded.rgb)
            except (OSError, AutofixError):  # the image is done; the report rebuilds missing tiles
                pass
        img.timings["write"] = time.perf_counter() - t
        records = [r.to_json() for r in f.records]
        reasons = {r["reason"] for s in records for r in s["regions"] if not r["repainted"] and r["reason"]}
        return ImageOutcome(f.rel, status, _detail(records), output=f.final,
                            regions=sum(len(r.regions) for r in f.records),
                            repainted=sum(r.repainted for r in f.records), resumed_stages=img.resumed,
                            timings=img.timings, sidecar=side, not_repainted_reason="; ".join(sorted(reasons)))

    def _write_dry_run(self, img: _Image) -> ImageOutcome:
        from ..io.atomic import atomic_write_json

        records = [r.to_json() for r in img.records]
        plan = self.store.meta / "plans" / img.rel.parent / f"{img.rel.name}.plan.json"
        atomic_write_json(plan, {"input": img.rel.as_posix(), "config_hash": self.runner.config_hash,
                                 "stages": records})
        return ImageOutcome(img.rel, "dry_run", _detail(records), regions=sum(len(r["regions"]) for r in records),
                            timings=img.timings)

    # -- report tiles and plan overlays -------------------------------------------------
    def _tile(self, img: _Image, record: StageRecord, before: np.ndarray, union: np.ndarray,
              after: np.ndarray) -> None:
        if not self.options.report or self.options.dry_run:
            return
        from .report import stage_tiles

        img.tiles.append(stage_tiles(before, union, after) if record.regions else None)

    def _maybe_overlay(self, img: _Image, plan: step.StagePlan, image: np.ndarray, record: StageRecord) -> None:
        mode = self.options.overlays
        unrepainted = any(not r.repainted for r in record.regions)
        if mode == "never" or (mode == "auto" and not (self.options.dry_run or unrepainted)):
            return
        self.writer.submit(_write_overlay, self.store.plan_path(img.rel, plan.index, plan.stage.name), image,
                           plan.regions, [f"{plan.stage.name}: {len(plan.regions)} region(s)"]
                           + sorted({r.reason for r in record.regions if r.reason}))


def _header_pixels(path: Path) -> int:
    """Width × height from the file's header (no decode); 0 when unreadable (the load reports it)."""
    try:
        from PIL import Image

        with Image.open(path) as im:
            return int(im.size[0]) * int(im.size[1])
    except Exception:  # noqa: BLE001 - any problem is reported by the real load
        return 0


def _write_overlay(path: Path, image: np.ndarray, regions: list[Any], notes: list[str]) -> None:
    import cv2

    from ..io.atomic import atomic_write_bytes
    from .overlay import draw_plan

    ok, buf = cv2.imencode(".png", np.ascontiguousarray(draw_plan(image, regions, notes)[:, :, ::-1]),
                           [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise AutofixError(f"{path}: PNG encoding failed")
    atomic_write_bytes(path, buf.tobytes(), durable=False)


def _exc_info() -> tuple[BaseException, type]:
    import sys

    exc = sys.exc_info()[1]
    return exc, type(exc)


def _detail(stage_records: list[dict[str, Any]]) -> str:
    parts = []
    for rec in stage_records:
        n, done = len(rec["regions"]), rec["repainted"]
        parts.append(f"{rec['stage']}: {n} region(s)" + (f", {done} repainted" if done else ""))
    return "; ".join(parts)
