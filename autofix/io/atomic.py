"""Crash-safe writes: a file at a final path is always complete.

Data goes to a temp file in the same folder (name contains :data:`TMP_MARK`), is
fsynced, renamed over the final path with :func:`os.replace` (atomic on POSIX), and the
folder is fsynced. A ``kill -9`` leaves at worst a stray temp file, which
:func:`sweep_temp_files` removes at the next start. Files get the mode ``cp`` would give
a new file, ``0o666`` less the process umask (``mkstemp`` alone makes them ``0600``).
"""

from __future__ import annotations

import functools
import json
import os
import re
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


@functools.lru_cache(maxsize=1)
def current_umask() -> int:
    """The process umask, read once. From ``/proc/self/status`` where there is one, so the
    process-global umask is never changed, not even for a moment; elsewhere by setting and
    restoring it once (the first call, before any file is written)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            match = re.search(r"^Umask:\s*([0-7]+)\s*$", fh.read(), re.MULTILINE)
        if match:
            return int(match[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def new_file_mode() -> int:
    """Permission bits of a newly written file: ``0o666`` less the umask, as ``cp`` does."""
    return 0o666 & ~current_umask()


def atomic_write_bytes(path: str | Path, data: bytes, durable: bool = True) -> None:
    """Write ``data`` to ``path`` atomically (temp file + fsync + ``os.replace``).

    ``durable=False`` skips both fsyncs: the file is still never seen half-written (a
    ``kill -9`` cannot lose what the page cache holds), only a power loss may leave it empty
    or stale — for files whose sha256 is verified before use (stage snapshots, thumbnails)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}{TMP_MARK}", dir=path.parent)
    try:
        os.fchmod(fd, new_file_mode())  # mkstemp makes 0600; follow the umask like cp
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    if durable:
        fsync_dir(path.parent)


def json_bytes(obj: Any) -> bytes:
    """Stable, human-readable JSON encoding (sorted keys, 2-space indent, UTF-8).

    Strings that cannot be UTF-8 — file names whose bytes are not UTF-8 come to Python as
    lone surrogates — make the whole document ASCII with ``\\u`` escapes instead, which
    :func:`json.loads` turns back into the same string (and so the same file name)."""
    text = json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return (json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=True) + "\n").encode("ascii")


def atomic_write_json(path: str | Path, obj: Any, durable: bool = True) -> None:
    """Write ``obj`` as JSON to ``path`` atomically."""
    atomic_write_bytes(path, json_bytes(obj), durable)


def append_line_durable(path: str | Path, line: str, fsync: bool = True) -> None:
    """Append one line to ``path`` and fsync (for append-only journals; ``fsync=False`` for
    events whose loss a re-run repairs by itself).

    If the file does not end in a newline — its last line was torn by a crash mid-write —
    the new line starts on a line of its own, so a reader loses only the torn line."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (line.rstrip("\n") + "\n").encode("utf-8", "backslashreplace")
    with open(path, "a+b") as fh:
        if fh.seek(0, os.SEEK_END) > 0:
            fh.seek(-1, os.SEEK_END)
            if fh.read(1) != b"\n":
                data = b"\n" + data
        fh.write(data)
        fh.flush()
        if fsync:
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
