"""The output folder: where finals, sidecars, checkpoints, plans and the journal live.

Layout (``OUT`` is the output folder; ``REL`` an input's path relative to the input folder)::

    OUT/REL'                                  final image (REL with the output extension)
    OUT/REL'.autofix.json                     sidecar: regions, scores, seeds, params, backend
    OUT/_autofix/work/REL/NN-STAGE.png        stage checkpoint image (RGB, lossless)
    OUT/_autofix/work/REL/NN-STAGE.mask.png   union of the stage's soft masks (L, 0–255)
    OUT/_autofix/work/REL/NN-STAGE.json       stage record; written last, so it commits the stage
    OUT/_autofix/plans/REL.NN-STAGE.png       plan overlay (masks, crop boxes, scores)
    OUT/_autofix/journal.jsonl                append-only log of every stage/image event
    OUT/_autofix/config-HASH.json             effective config of each run, with its hash
    OUT/_autofix/lock                         held (flock) while a run writes here
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path
from typing import Any

from ..errors import LockHeld
from ..io.atomic import append_line_durable

META = "_autofix"


def _has_stem_sibling(input_root: Path, rel: Path) -> bool:
    from ..io.discover import IMAGE_EXTS

    return any((input_root / rel.with_suffix(e)).is_file() for e in IMAGE_EXTS + tuple(x.upper() for x in IMAGE_EXTS)
               if e.lower() != rel.suffix.lower())


class OutputStore:
    """Paths and durable bookkeeping for one output folder."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.meta = self.root / META
        self._lock_fd: int | None = None

    def final_path(self, rel: Path, ext: str, input_root: Path | None = None) -> Path:
        """Final image path for input ``rel`` written with extension ``ext`` (``".png"``).

        Converting changes the suffix (``a.jpg`` → ``a.png``) unless another input image
        with the same stem sits beside it in ``input_root``: then the full name is kept
        (``a.jpg.png``), so ``a.jpg`` and ``a.png`` never write one file."""
        if ext.lower() == rel.suffix.lower():
            return self.root / rel
        if input_root is not None and _has_stem_sibling(input_root, rel):
            return self.root / rel.with_name(rel.name + ext)
        return self.root / rel.with_suffix(ext)

    @staticmethod
    def sidecar_path(final: Path) -> Path:
        """The JSON sidecar next to a final image."""
        return final.with_name(final.name + ".autofix.json")

    def stage_paths(self, rel: Path, index: int, stage: str) -> dict[str, Path]:
        """Checkpoint files of stage ``index`` of ``rel``: keys image, mask, record."""
        base = self.meta / "work" / rel / f"{index:02d}-{stage}"
        return {
            "image": base.with_name(base.name + ".png"),
            "mask": base.with_name(base.name + ".mask.png"),
            "record": base.with_name(base.name + ".json"),
        }

    def plan_path(self, rel: Path, index: int, stage: str) -> Path:
        """Plan overlay path of stage ``index`` of ``rel``."""
        return self.meta / "plans" / rel.parent / f"{rel.name}.{index:02d}-{stage}.png"

    def acquire_lock(self) -> None:
        """Take the folder's lock or raise :class:`LockHeld`. Released by the OS on any exit."""
        self.meta.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.meta / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise LockHeld(f"{self.root}: another autofix run (pid {holder}) is writing here") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._lock_fd = fd

    def release_lock(self) -> None:
        """Release the lock if held."""
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def journal(self, event: str, **fields: Any) -> None:
        """Append one event to the journal (fsynced)."""
        record = {"t": round(time.time(), 3), "event": event, "pid": os.getpid(), **fields}
        append_line_durable(self.meta / "journal.jsonl", json.dumps(record, sort_keys=True, default=str))
