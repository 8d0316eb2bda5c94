"""Crash-safe writes: a file at a final path is always complete.

Data goes to a temp file in the same folder (name contains :data:`TMP_MARK`), is
fsynced, renamed over the final path with :func:`os.replace` (atomic on POSIX), and the
folder is fsynced. A ``kill -9`` leaves at worst a stray temp file, which
:func:`sweep_temp_files` removes at the next start.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

TMP_MARK = ".autofix-tmp-"


def fsync_dir(folder: Path) -> None:
    """fsync a folder so a rename inside it is durable (ignored where unsupported)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file + fsync + ``os.replace``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}{TMP_MARK}", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_dir(path.parent)


def json_bytes(obj: Any) -> bytes:
    """Stable, human-readable JSON encoding (sorted keys, 2-space indent, UTF-8)."""
    return (json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def atomic_write_json(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as JSON to ``path`` atomically."""
    atomic_write_bytes(path, json_bytes(obj))


def append_line_durable(path: str | Path, line: str) -> None:
    """Append one line to ``path`` and fsync (for append-only journals)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(line.rstrip("\n") + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def sweep_temp_files(root: str | Path) -> int:
    """Delete temp files left by interrupted atomic writes under ``root``; return the count."""
    count = 0
    for p in Path(root).rglob(f"*{TMP_MARK}*"):
        if p.is_file():
            try:
                p.unlink()
                count += 1
            except OSError:
                pass
    return count
