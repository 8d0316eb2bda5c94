"""Watching a folder that A1111 / ComfyUI / Fooocus write into, fixing images as they land.

A file is taken only once it is completely written: its size and mtime are unchanged
over two polls ``settle`` seconds apart and it decodes. Each image goes through the same
:class:`~autofix.run.executor.ImageRunner` as ``fix``, so a restarted watcher skips what
is already done (sidecar keys) and resumes half-done images from their stage snapshots.
Polling (not inotify) is used on purpose: it works on network drives and in containers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..config import RunConfig
from ..errors import show_path
from ..io.discover import check_output_dir, find_images
from ..io.image import NOT_AN_IMAGE, TRUNCATED
from .backends import Backends
from .batch import begin_run
from .executor import ImageOutcome, ImageRunner, RunOptions
from .output_folder import OutputStore


@dataclass
class _Seen:
    """Last observed (size, mtime_ns) of each pending file, and the files already handled."""

    pending: dict[Path, tuple[int, int]] = field(default_factory=dict)
    handled: dict[Path, tuple[int, int]] = field(default_factory=dict)
    retried: set[Path] = field(default_factory=set)


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def ready_files(root: Path, seen: _Seen) -> list[Path]:
    """Relative paths that were unchanged since the previous poll and not yet handled."""
    ready = []
    for rel in find_images(root):
        stat = _stat(root / rel)
        if stat is None or seen.handled.get(rel) == stat:
            continue
        if seen.pending.get(rel) == stat and stat[0] > 0:
            ready.append(rel)
            seen.pending.pop(rel)
        else:
            seen.pending[rel] = stat
    return ready


def watch(inp: str | Path, out: str | Path, config: RunConfig, *, settle: float = 1.0,
          once: bool = False, max_seconds: float | None = None,
          on_image: Callable[[ImageOutcome], None] | None = None,
          options: RunOptions | None = None) -> list[ImageOutcome]:
    """Fix images landing in ``inp`` into ``out`` until interrupted.

    Args:
        settle: seconds between polls; a file must be unchanged across one interval.
        once: stop after the first poll cycle that finds nothing new to do.
        max_seconds: stop after this long (for tests and cron).
        options: run options (plan overlays); a watch never dry-runs.
    """
    inp, out = Path(inp), Path(out)
    if not inp.is_dir():
        raise ValueError(f"{show_path(inp)}: not a folder to watch")
    check_output_dir(inp, out)
    store = OutputStore(out)
    store.acquire_lock()
    try:
        begin_run(store, config, inp, watch=True)
        runner = ImageRunner(config, store, inp, Backends(config), RunOptions(overlays=options.overlays)
                             if options is not None else RunOptions())
        runner.backends.prepare()
        return _loop(inp, runner, settle, once, max_seconds, on_image)
    finally:
        store.release_lock()


def _loop(inp: Path, runner: ImageRunner, settle: float, once: bool, max_seconds: float | None,
          on_image: Callable[[ImageOutcome], None] | None) -> list[ImageOutcome]:
    seen, outcomes, start = _Seen(), [], time.monotonic()
    while max_seconds is None or time.monotonic() - start < max_seconds:
        batch = ready_files(inp, seen)
        for rel in batch:
            outcome = _fix_when_decodable(runner, inp, rel, seen)
            if outcome is not None:
                outcomes.append(outcome)
                if on_image:
                    on_image(outcome)
        if once and not batch and not seen.pending:
            break
        time.sleep(settle)
    return outcomes


def latest_outcomes(outcomes: list[ImageOutcome]) -> list[ImageOutcome]:
    """The last outcome of each file: a file that failed while still being written and was
    fixed once it changed again counts as fixed (what the exit code is decided on)."""
    return list({o.rel: o for o in outcomes}.values())


def _still_being_written(detail: str) -> bool:
    """A failure a file that is still being written gives: cut-off data, or so few bytes
    that not even the format can be told yet."""
    return TRUNCATED in detail or NOT_AN_IMAGE in detail


def _fix_when_decodable(runner: ImageRunner, inp: Path, rel: Path, seen: _Seen) -> ImageOutcome | None:
    """Run one settled file. A file that does not decode yet (still being written by a
    writer that pauses) is put back to pending once; a second failure is final."""
    stat = _stat(inp / rel)
    outcome = runner.run(rel)
    if outcome.status == "failed" and _still_being_written(outcome.detail) and rel not in seen.retried:
        seen.retried.add(rel)  # retry once, when it has settled again
        if stat is not None:
            seen.pending[rel] = stat
        return None
    if stat is not None:
        seen.handled[rel] = stat
    if outcome.status != "failed":
        seen.retried.discard(rel)  # a later rewrite of the file gets its own retry
    if outcome.status == "failed":
        runner.store.journal("image_failed", rel=rel.as_posix(), error=outcome.detail)
    outcome.image = None
    return outcome
