"""Model files: where they live, which ones are known, and whether a pickle may be loaded.

**Search order** for a bare model name such as ``face_yolov8n.pt`` (or its manifest
name ``face_yolov8n``, or an alias such as ``vit_b``):

1. every folder in ``$AUTOFIX_MODELS`` (``os.pathsep``-separated), in order;
2. the detector folders of every A1111/Forge or ComfyUI install in ``$AUTOFIX_WEBUI_DIRS``
   (what ``--webui-dir`` and ``--model-dir`` set; an install root or its ``models`` folder):
   ADetailer's ``models/adetailer``, ComfyUI's ``models/ultralytics/bbox`` and ``…/segm``
   for YOLO files, ``models/sams`` (ComfyUI) and ``models/sam`` (A1111) for SAM;
3. ``./models`` (relative to the current directory);
4. ``$XDG_CACHE_HOME/autofix/models`` (default ``~/.cache/autofix/models``).

A value containing a path separator, or naming an existing file, is used as a path and
never searched for. :func:`models_dir` is where ``pull`` writes and where error messages
tell the user to put a missing file: the first ``$AUTOFIX_MODELS`` folder, else
``./models`` if it exists, else the cache folder.

**Manifest** (``models/manifest.json``, or the file named by ``$AUTOFIX_MANIFEST``):
``{"version": 1, "models": [{"name", "file", "task": "yolo"|"sam"|"inpaint",
"format": "pickle"|"torch-weights"|"safetensors", "url", "size", "sha256",
"previous_sha256": [...], "aliases": [...], "license", "summary"}]}``. ``sha256`` may be
``null`` when no published hash is known; :func:`verify` then reports ``unknown hash``.

Whether a pickle listed here may be loaded is decided by :mod:`autofix.modelfiles.trust`;
file hashes come from :mod:`autofix.modelfiles.identity`.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..errors import ConfigError, ModelNotFound, UnsafeModelFile
from ..io.atomic import TMP_MARK, fsync_dir
from .identity import sha256_file

STATUSES = ("ok", "mismatch", "missing", "unknown hash")
_MANIFESTS: dict[tuple[str, int], tuple["ModelEntry", ...]] = {}


@dataclass(frozen=True)
class ModelEntry:
    """One manifest record (see the module docstring for the fields)."""

    name: str
    file: str
    task: str
    format: str = "pickle"
    url: str | None = None
    size: int | None = None
    sha256: str | None = None
    previous_sha256: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    license: str = ""
    summary: str = ""

    @property
    def trusted_hashes(self) -> frozenset[str]:
        """The current and previous published sha256 values (lowercase hex)."""
        known = [self.sha256, *self.previous_sha256]
        return frozenset(h.lower() for h in known if h)

    def matches(self, key: str) -> bool:
        """True if ``key`` is this entry's name, file name, file stem or an alias."""
        return key in (self.name, self.file, Path(self.file).stem, *self.aliases)


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of :func:`verify`. ``status`` is one of :data:`STATUSES`."""

    query: str
    status: str
    path: Path | None = None
    entry: ModelEntry | None = None
    actual: str | None = None
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


# ---------------------------------------------------------------- manifest


def manifest_path() -> Path:
    """``$AUTOFIX_MANIFEST``, else the manifest shipped as package data ``autofix.models``
    (the repository's ``models/manifest.json``)."""
    env = os.environ.get("AUTOFIX_MANIFEST")
    if env:
        return Path(env).expanduser()
    from importlib import resources

    try:
        return Path(str(resources.files("autofix.models").joinpath("manifest.json")))
    except ModuleNotFoundError:
        return Path(__file__).resolve().parents[2] / "models" / "manifest.json"


def load_manifest(path: str | Path | None = None) -> tuple[ModelEntry, ...]:
    """Parse the manifest (cached per file and mtime). A missing file is an empty manifest."""
    p = Path(path) if path is not None else manifest_path()
    try:
        stamp = (str(p.resolve()), p.stat().st_mtime_ns)
    except OSError:
        return ()
    if stamp not in _MANIFESTS:
        _MANIFESTS[stamp] = _parse_manifest(p)
    return _MANIFESTS[stamp]


def _parse_manifest(p: Path) -> tuple[ModelEntry, ...]:
    try:
        data = json.loads(p.read_text("utf-8"))
        rows = data["models"]
        return tuple(_entry(row) for row in rows)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{p}: not a valid model manifest ({exc})") from None


def _entry(row: dict[str, Any]) -> ModelEntry:
    fields = {k: v for k, v in row.items() if k in ModelEntry.__dataclass_fields__}
    for key in ("previous_sha256", "aliases"):
        fields[key] = tuple(fields.get(key) or ())
    if fields.get("sha256"):
        fields["sha256"] = fields["sha256"].lower()
    return ModelEntry(**fields)


def list_models(task: str | None = None) -> list[ModelEntry]:
    """Manifest entries, optionally only those of one ``task``."""
    return [e for e in load_manifest() if task is None or e.task == task]


def find_entry(key: str, task: str | None = None) -> ModelEntry | None:
    """The manifest entry whose name, file name, stem or alias is ``key`` (``None`` if none)."""
    key = Path(key).name
    for entry in list_models(task):
        if entry.matches(key):
            return entry
    return None


def entry_for_hash(digest: str) -> ModelEntry | None:
    """The manifest entry that lists ``digest`` as a current or previous sha256."""
    for entry in load_manifest():
        if digest.lower() in entry.trusted_hashes:
            return entry
    return None


# ---------------------------------------------------------------- folders and lookup


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "autofix" / "models"


def _env_dirs() -> list[Path]:
    raw = os.environ.get("AUTOFIX_MODELS", "")
    return [Path(p).expanduser() for p in raw.split(os.pathsep) if p.strip()]


#: Detector model folders of an A1111/Forge (ADetailer) or ComfyUI install, by task.
WEBUI_MODEL_FOLDERS = {
    "yolo": ("models/adetailer", "models/ultralytics/bbox", "models/ultralytics/segm", "models/ultralytics"),
    "sam": ("models/sams", "models/sam"),
}


def webui_dirs(task: str | None = None) -> list[Path]:
    """The existing detector folders (for ``task``, or every task) of the installs named in
    ``$AUTOFIX_WEBUI_DIRS`` (each an install root or its ``models`` folder)."""
    raw = os.environ.get("AUTOFIX_WEBUI_DIRS", "")
    subs = WEBUI_MODEL_FOLDERS[task] if task in WEBUI_MODEL_FOLDERS else tuple(
        sub for group in WEBUI_MODEL_FOLDERS.values() for sub in group)
    out: list[Path] = []
    for text in raw.split(os.pathsep):
        if not text.strip():
            continue
        root = Path(text).expanduser()
        root = root.parent if root.name == "models" else root
        out += [root / sub for sub in subs if (root / sub).is_dir() and root / sub not in out]
    return out


def search_dirs(task: str | None = None) -> list[Path]:
    """Folders searched for a bare model name, in order (see the module docstring)."""
    out: list[Path] = []
    for d in [*_env_dirs(), *webui_dirs(task), Path.cwd() / "models", _cache_dir()]:
        if d not in out:
            out.append(d)
    return out


def models_dir() -> Path:
    """Where ``pull`` saves files and where messages say to put them."""
    env = _env_dirs()
    if env:
        return env[0]
    local = Path.cwd() / "models"
    return local if local.is_dir() else _cache_dir()


def _is_pathlike(value: str) -> bool:
    return os.sep in value or "/" in value or value.startswith((".", "~"))


def locate(name: str, task: str | None = None) -> Path | None:
    """The first existing file for a bare ``name`` in :func:`search_dirs`, else ``None``."""
    entry = find_entry(name, task)
    fname = entry.file if entry else Path(name).name
    for folder in search_dirs(task):
        cand = folder / fname
        if cand.is_file():
            return cand.resolve()
    return None


def resolve(name_or_path: str | Path, task: str | None = None) -> Path:
    """Turn a config value into an existing file, or raise one-line :class:`ModelNotFound`.

    ``task`` (``"yolo"``, ``"sam"``, ``"inpaint"``) narrows which manifest names and
    aliases apply (``vit_b`` only means the SAM checkpoint with ``task="sam"`` or None).
    """
    text = str(name_or_path)
    path = Path(text).expanduser()
    if path.is_file():
        return path.resolve()
    if isinstance(name_or_path, Path) or _is_pathlike(text):
        raise ModelNotFound(f"model file {text} not found (looked at {path.resolve()})")
    found = locate(text, task)
    if found is not None:
        return found
    raise ModelNotFound(_not_found_message(text, find_entry(text, task)))


def _not_found_message(name: str, entry: ModelEntry | None) -> str:
    fname = entry.file if entry else name
    where = models_dir() / fname
    pull = f" or run `autofix models pull {entry.name}`" if entry and entry.url and entry.sha256 else ""
    searched = ", ".join(str(d) for d in search_dirs())
    return f"model {name} not found: put {fname} at {where}{pull} (searched {searched})"


# ---------------------------------------------------------------- verify / list


def verify(name_or_path: str | Path) -> VerifyResult:
    """Check a model by manifest name (looked up in the search folders) or by path."""
    text = str(name_or_path)
    path = Path(text).expanduser()
    if path.is_file():
        return _verify_file(text, path.resolve(), None)
    entry = None if _is_pathlike(text) else find_entry(text)
    found = None if _is_pathlike(text) else locate(text)
    if found is None:
        msg = f"model file {text} not found" if _is_pathlike(text) else _not_found_message(text, entry)
        return VerifyResult(text, "missing", entry=entry, message=msg)
    return _verify_file(text, found, entry)


def _verify_file(query: str, path: Path, entry: ModelEntry | None) -> VerifyResult:
    actual = sha256_file(path)
    by_hash = entry_for_hash(actual)
    if by_hash is not None:
        return VerifyResult(query, "ok", path, by_hash, actual, f"{path}: sha256 matches {by_hash.name}")
    entry = entry or find_entry(path.name)
    if entry is None or entry.sha256 is None:
        what = f"no published sha256 for {entry.name}" if entry else "not in the model manifest"
        return VerifyResult(query, "unknown hash", path, entry, actual, f"{path}: unknown hash ({what})")
    msg = f"{path}: sha256 {actual[:16]}… does not match {entry.name} ({entry.sha256[:16]}…)"
    return VerifyResult(query, "mismatch", path, entry, actual, msg)


def models_table(verify_hashes: bool = False) -> list[dict[str, Any]]:
    """Rows for ``autofix models list`` (``verify_hashes=True`` for ``models verify``).

    Each row: ``name, file, task, size, status, path, url, summary``. Status is
    ``present``/``missing`` without hashing, or a :data:`STATUSES` value with it.
    """
    rows = []
    for entry in load_manifest():
        found = locate(entry.name)
        status = "present" if found else "missing"
        if found and verify_hashes:
            status = _verify_file(entry.name, found, entry).status
        rows.append(_row(entry, found, status))
    return rows


def _row(entry: ModelEntry, found: Path | None, status: str) -> dict[str, Any]:
    return {
        "name": entry.name,
        "file": entry.file,
        "task": entry.task,
        "size": entry.size,
        "status": status,
        "path": str(found) if found else None,
        "url": entry.url,
        "summary": entry.summary,
    }


# ---------------------------------------------------------------- pull


def pull(
    name: str,
    dest_dir: str | Path | None = None,
    progress: Callable[[int, int | None], None] | None = None,
    timeout: float = 60.0,
) -> Path:
    """Download a manifest model into ``dest_dir`` (default :func:`models_dir`); return its path.

    Streams to a temporary file in the destination folder, checks size and sha256, then
    ``os.replace``-s it into place, so a partial or wrong download never appears under the
    real name. A file already there with the right hash is kept. Raises
    :class:`ModelNotFound` when the download fails (e.g. no network) and
    :class:`UnsafeModelFile` when the hash does not match.
    """
    entry = find_entry(name)
    if entry is None:
        known = ", ".join(e.name for e in load_manifest())
        raise ConfigError(f"unknown model {name!r}; choose one of: {known}")
    dest = Path(dest_dir).expanduser() if dest_dir is not None else models_dir()
    target = dest / entry.file
    if entry.sha256 is None or not entry.url:
        raise ConfigError(f"{entry.name} has no published sha256/url; download it yourself and put it at {target}")
    if target.is_file() and sha256_file(target) in entry.trusted_hashes:
        return target.resolve()
    dest.mkdir(parents=True, exist_ok=True)
    tmp = _download(entry, target, progress, timeout)
    os.replace(tmp, target)
    fsync_dir(dest)
    return target.resolve()


def _download(entry: ModelEntry, target: Path, progress: Any, timeout: float) -> Path:
    import http.client

    fd, tmp_name = tempfile.mkstemp(prefix=f".{entry.file}{TMP_MARK}", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            digest, size = _download_to(entry.url or "", out, progress, timeout)
            out.flush()
            os.fsync(out.fileno())
    except (OSError, http.client.HTTPException, ValueError) as exc:
        tmp.unlink(missing_ok=True)
        reason = getattr(exc, "reason", None) or exc
        raise ModelNotFound(
            f"cannot download {entry.file} from {entry.url} ({reason}); download it by hand and put it at {target}"
        ) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if digest != entry.sha256 or (entry.size is not None and size != entry.size):
        tmp.unlink(missing_ok=True)
        raise UnsafeModelFile(
            f"downloaded {entry.file} has sha256 {digest[:16]}… ({size} bytes), expected "
            f"{(entry.sha256 or '')[:16]}… ({entry.size} bytes); not saved"
        )
    return tmp


def _download_to(url: str, out: Any, progress: Any, timeout: float) -> tuple[str, int]:
    import urllib.request

    req = urllib.request.Request(url, headers={"User-Agent": "autofix-modelstore"})
    digest, done = hashlib.sha256(), 0
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (manifest URLs only)
        length = resp.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        for block in iter(lambda: resp.read(1 << 20), b""):
            out.write(block)
            digest.update(block)
            done += len(block)
            if progress is not None:
                progress(done, total)
    return digest.hexdigest(), done
