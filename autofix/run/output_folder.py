"""The output folder: where finals, sidecars, stage snapshots, plans and the journal live.

Layout (``OUT`` is the output folder; ``REL`` an input's path relative to the input folder)::

    OUT/REL'                                  final image (REL with the output extension)
    OUT/REL'.autofix.json                     sidecar: regions, scores, seeds, params, backend
    OUT/_autofix/work/REL/NN-STAGE.patches    stage snapshot: the pixels the stage changed (run/snapshots.py)
    OUT/_autofix/work/REL/NN-STAGE.json       stage record; written last, so it commits the stage
    OUT/_autofix/plans/REL.NN-STAGE.png       plan overlay (masks, crop boxes, scores)
    OUT/_autofix/report/                      HTML report, contact sheets, per-image tiles
    OUT/_autofix/journal.jsonl                append-only log of every stage/image event
    OUT/_autofix/config-HASH.json             effective config of each run, with its hash
    OUT/_autofix/lock                         held (flock) while a run writes here
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import time
from pathlib import Path
from typing import Any

from ..errors import LockHeld
from ..io.atomic import append_line_durable

META = "_autofix"


def _image_names(folder: Path) -> tuple[str, ...]:
    """Names of the input images directly in ``folder`` (as :func:`find_images` sees them)."""
    from ..io.discover import IMAGE_EXTS

    try:
        entries = list(os.scandir(folder))
    except OSError:
        return ()
    return tuple(sorted(e.name for e in entries if not e.name.startswith(".")
                        and os.path.splitext(e.name)[1].lower() in IMAGE_EXTS and e.is_file()))


@functools.lru_cache(maxsize=8)
def _folder_outputs(folder: str, version: int, ext: str) -> dict[str, str]:
    """:func:`_converted_names` of a folder's images, cached per folder mtime (one listing
    per folder, not one per image)."""
    return _converted_names(_image_names(Path(folder)), ext)


def _converted_names(names: tuple[str, ...], ext: str) -> dict[str, str]:
    """Output name of each input name in one folder when outputs are written as ``ext``.

    Inputs already in ``ext`` keep their names. The others, in sorted order, take the first
    name no other output has (compared case-insensitively, for case-insensitive disks):
    ``a.png`` from ``a.jpg`` unless another image is called ``a.*``, then ``a.jpg.png``,
    then ``a.jpg-2.png``, ``a.jpg-3.png``, ... So ``a.jpg``, ``a.png`` and ``a.jpg.png``
    give three different files, and the names depend only on what is in the folder."""
    low = ext.lower()
    out = {n: n for n in names if os.path.splitext(n)[1].lower() == low}
    taken = {n.casefold() for n in out}
    stems: dict[str, int] = {}
    for n in names:
        stems[os.path.splitext(n)[0].casefold()] = stems.get(os.path.splitext(n)[0].casefold(), 0) + 1
    for n in names:
        if n in out:
            continue
        stem = os.path.splitext(n)[0]
        tries = ([stem + ext] if stems[stem.casefold()] == 1 else []) + [n + ext]
        tries += (f"{n}-{k}{ext}" for k in range(2, len(names) + 3))
        out[n] = next(t for t in tries if t.casefold() not in taken)
        taken.add(out[n].casefold())
    return out


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
        (``a.jpg.png``), and a name still taken by another input's output gets ``-2``,
        ``-3``, ... (see :func:`_converted_names`), so no two inputs write one file."""
        if ext.lower() == rel.suffix.lower():
            return self.root / rel
        if input_root is None:
            return self.root / rel.with_suffix(ext)
        folder = input_root / rel.parent
        try:
            version = folder.stat().st_mtime_ns  # a folder's mtime changes when a name is added
        except OSError:
            version = -1
        names = _folder_outputs(str(folder), version, ext)
        if rel.name not in names:  # not (or no longer) in the folder: name it as if it were
            names = _converted_names(tuple(sorted(set(names) | {rel.name})), ext)
        return self.root / rel.parent / names[rel.name]

    @staticmethod
    def sidecar_path(final: Path) -> Path:
        """The JSON sidecar next to a final image."""
        return final.with_name(final.name + ".autofix.json")

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

    def journal(self, event: str, durable: bool = True, **fields: Any) -> None:
        """Append one event to the journal (fsynced unless ``durable`` is False)."""
        record = {"t": round(time.time(), 3), "event": event, "pid": os.getpid(), **fields}
        append_line_durable(self.meta / "journal.jsonl", json.dumps(record, sort_keys=True, default=str), durable)
