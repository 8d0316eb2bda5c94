"""The one identity of a model file or folder: its sha256, the same in every record.

Sidecars (``DiffusionInpainter.describe()["sha256"]``), stage keys (the detector, refiner
and inpainter models of :meth:`autofix.run.backends.Backends.stage_identity`) and
``make-inpaint``'s output metadata (``autofix.merge.<role>.sha256``) all call
:func:`model_sha256`, so one file or folder has one hash everywhere:

* a **file**: the sha256 of its bytes (the hash A1111, Civitai and Hugging Face show);
* a **folder** (a diffusers pipeline): the sha256 of the ``sha256sum``-style listing of
  every file in it — ``"<sha256>  <relative/path>\\n"`` lines sorted by path, hidden
  paths (``.git``, ``.cache``) skipped — i.e. what
  ``find . -type f ! -path '*/.*' | sort | xargs sha256sum | sha256sum`` prints
  (``cd`` into the folder first, and strip the ``./`` prefix ``find`` adds).

Hashes are remembered per ``(absolute path, size, mtime)``: in memory for the process,
and, for files of :data:`DISK_CACHE_MIN_BYTES` or more, on disk in
:func:`hash_cache_path`, so a multi-GB checkpoint is read in full once, not at every
run's start.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: Files at least this big have their hash kept on disk between runs.
DISK_CACHE_MIN_BYTES = 32 << 20
_MEMORY: dict[tuple[str, int, int], str] = {}


def hash_cache_path() -> Path:
    """Persistent hash cache: ``$AUTOFIX_CACHE_DIR``, else ``$XDG_CACHE_HOME/autofix``, else
    ``~/.cache/autofix``; file ``model-sha256.json``."""
    root = os.environ.get("AUTOFIX_CACHE_DIR")
    if not root:
        root = str(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "autofix")
    return Path(root) / "model-sha256.json"


def sha256_file(path: str | Path, progress: bool = False, label: str = "") -> str:
    """Lowercase hex sha256 of one file, cached (see the module doc). ``progress`` draws a
    byte progress bar on stderr while a file is actually read."""
    p = Path(path).resolve()
    st = p.stat()
    key = (str(p), st.st_size, st.st_mtime_ns)
    if key in _MEMORY:
        return _MEMORY[key]
    on_disk = st.st_size >= DISK_CACHE_MIN_BYTES
    disk_key = f"{key[0]}|{key[1]}|{key[2]}"
    disk = _load_disk_cache() if on_disk else {}
    digest = disk.get(disk_key)
    if not isinstance(digest, str):
        digest = _digest(p, st.st_size, progress, label)
        if on_disk:
            disk[disk_key] = digest
            _store_disk_cache(disk)
    _MEMORY[key] = digest
    return digest


def model_sha256(path: str | Path, progress: bool = False, label: str = "") -> str:
    """sha256 of a model file, or of a folder's ``sha256sum`` listing (see the module doc)."""
    p = Path(path)
    if not p.is_dir():
        return sha256_file(p, progress, label)
    lines = [f"{sha256_file(f, progress, label)}  {rel}\n" for rel, f in folder_files(p)]
    return hashlib.sha256("".join(lines).encode("utf-8")).hexdigest()


def folder_files(folder: Path) -> list[tuple[str, Path]]:
    """``(relative posix path, path)`` of every non-hidden file under ``folder``, sorted."""
    out = []
    for f in folder.rglob("*"):
        rel = f.relative_to(folder)
        if f.is_file() and not any(part.startswith(".") for part in rel.parts):
            out.append((rel.as_posix(), f))
    return sorted(out)


def identity(name_or_path: str | Path | None, task: str | None = None) -> dict[str, Any] | None:
    """What a stage key records for a model: ``{"path", "size", "sha256"}`` of the file or
    folder (size: total bytes of its files) the loaders would use (a bare name such as ``face_yolov8n.pt`` or ``vit_b`` is looked
    up as :func:`autofix.modelfiles.store.locate` does), or ``{"path": value}`` for one that
    is not on disk (e.g. a Hugging Face repo id). ``None`` for no model."""
    if not name_or_path:
        return None
    text = str(name_or_path)
    p = Path(text).expanduser()
    if not p.exists() and "/" not in text and os.sep not in text:
        from .store import locate

        p = locate(text, task) or p
    try:
        size = sum(f.stat().st_size for _, f in folder_files(p)) if p.is_dir() else p.stat().st_size
        return {"path": str(p.resolve()), "size": size, "sha256": model_sha256(p)}
    except OSError:
        return {"path": str(p)}


def _digest(path: Path, size: int, progress: bool, label: str) -> str:
    digest = hashlib.sha256()
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=size, unit="B", unit_scale=True, desc=f"sha256 {label or path.name}", file=sys.stderr,
                   dynamic_ncols=True, leave=False)
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 22):
                digest.update(chunk)
                if bar is not None:
                    bar.update(len(chunk))
    finally:
        if bar is not None:
            bar.close()
    return digest.hexdigest()


def _load_disk_cache() -> dict[str, Any]:
    try:
        data = json.loads(hash_cache_path().read_text("utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _store_disk_cache(data: dict[str, Any]) -> None:
    from ..io.atomic import atomic_write_json

    path = hash_cache_path()
    try:
        atomic_write_json(path, data)
    except OSError as exc:
        log.info("could not write the model hash cache %s (%s); hashes are recomputed next run", path, exc)
