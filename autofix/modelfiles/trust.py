"""The one pickle policy, applied by every loader of model files.

``.pt``/``.pth``/``.ckpt``/``.bin``/``.pkl`` files are Python pickles: unpickling one can run
code. Every loader (YOLO detectors, SAM refiners, Stable Diffusion single files and the
``.bin`` weights of diffusers folders, ``make-inpaint`` inputs) calls :func:`check_pickle`
before it opens such a file, and a pickle is loaded only when

1. its sha256 is a current or previous hash of an entry in the model manifest, or
2. pickles are allowed: ``--allow-pickle`` (``allow_pickle=True``), or, when the caller
   leaves ``allow_pickle=None``, ``$AUTOFIX_ALLOW_PICKLE`` is 1/true/yes/on.

Otherwise :class:`~autofix.errors.UnsafeModelFile` (one line naming the file) is raised and
nothing is unpickled.

**What ``--allow-pickle`` means, for every kind of file**: pickle files whose hash is not
in the manifest may be *read*, with ``torch.load(weights_only=True)`` — tensors and plain
containers only (for YOLO files: ultralytics' restricted loader, which also rebuilds its
own allow-listed model classes). Nothing in the file is executed; a file that needs more
is refused with :class:`~autofix.errors.UnsafeModelFile` even with the flag. Files whose
sha256 is in the manifest are the published files; YOLO ones are then loaded by
ultralytics as usual, weight files still with ``weights_only=True``.

``allow_pickle`` everywhere is ``bool | None``: ``True`` allows, ``False`` refuses whatever
the environment says, ``None`` defers to ``$AUTOFIX_ALLOW_PICKLE``.
"""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path
from typing import Any

from ..errors import ModelFileError, UnsafeModelFile

#: Suffixes that are never pickles (loaded by safe parsers).
SAFE_SUFFIXES = frozenset({".safetensors", ".onnx", ".tflite", ".json", ".yaml", ".txt"})
#: Suffixes of the torch pickle formats autofix reads.
PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin", ".pkl")
_TRUE = frozenset({"1", "true", "yes", "on"})
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
ALLOW_HINT = (
    "use --allow-pickle (or AUTOFIX_ALLOW_PICKLE=1) to read it tensors-only with torch.load(weights_only=True), "
    "or convert it to .safetensors"
)


def is_pickle(path: str | Path) -> bool:
    """True unless the suffix is a known non-pickle format (``.safetensors``, ``.onnx``, ...)."""
    return Path(path).suffix.lower() not in SAFE_SUFFIXES


def pickle_allowed(explicit: bool | None = None) -> bool:
    """``explicit`` if given, else whether ``$AUTOFIX_ALLOW_PICKLE`` is 1/true/yes/on."""
    if explicit is not None:
        return bool(explicit)
    return os.environ.get("AUTOFIX_ALLOW_PICKLE", "").strip().lower() in _TRUE


def flag(value: bool | None) -> bool | None:
    """A config/CLI boolean (``False`` = "not given") as an ``allow_pickle`` argument:
    ``True`` stays, anything else becomes ``None`` (the environment decides)."""
    return True if value else None


def is_trusted_pickle(path: str | Path) -> bool:
    """True if the file's sha256 is a current or previous hash of a manifest entry."""
    from .identity import sha256_file
    from .store import entry_for_hash

    return entry_for_hash(sha256_file(path)) is not None


def check_pickle(path: str | Path, allow_pickle: bool | None = None) -> None:
    """Raise :class:`UnsafeModelFile` unless ``path`` may be unpickled (see the module doc).

    Allowed: non-pickle formats, any file when ``pickle_allowed(allow_pickle)``, files whose
    sha256 is in the manifest (hashed only when the first two do not decide).
    """
    p = Path(path)
    if not is_pickle(p) or pickle_allowed(allow_pickle) or is_trusted_pickle(p):
        return
    from .identity import sha256_file

    raise UnsafeModelFile(
        f"{p}: refusing to load a pickle file whose sha256 ({sha256_file(p)[:16]}…) is not in the model "
        f"manifest; pickles can run code. If you trust where it came from, {ALLOW_HINT}"
    )


def use_safetensors(folders: list[Path], allow_pickle: bool | None = None) -> bool | None:
    """``use_safetensors`` for a diffusers/transformers ``from_pretrained`` over model component
    ``folders``: ``True`` unless some folder has only pickle weights — each of which must then
    pass :func:`check_pickle` — and ``None`` then (the library reads them with
    ``torch.load(weights_only=True)``). Every ``.safetensors`` file's header is validated first
    (:func:`autofix.modelfiles.safetensors_io.read_header`), so a lying one is one line."""
    from .safetensors_io import read_header

    pickle_only = []
    for folder in (f for f in folders if f.is_dir()):
        files = sorted(p for p in folder.iterdir() if p.is_file())
        weights = [p for p in files if p.suffix == ".safetensors"]
        for weight in weights:
            read_header(weight)
        if not weights:
            pickle_only += [p for p in files if p.suffix in PICKLE_SUFFIXES]
    for pickled in pickle_only:
        check_pickle(pickled, allow_pickle)
    return None if pickle_only else True


def load_weights(path: str | Path, allow_pickle: bool | None = None) -> dict[str, Any]:
    """The tensors of a pickled state dict: :func:`check_pickle`, then
    ``torch.load(weights_only=True)`` (memory-mapped where the format allows).

    A dict nested under ``state_dict`` or ``model`` is unwrapped; non-tensor values are
    dropped. Raises :class:`UnsafeModelFile` (refused by the policy, or the file holds more
    than tensors) or :class:`~autofix.errors.ModelFileError` (unreadable, no tensors).
    """
    from .safetensors_io import require_torch

    p = Path(path)
    check_pickle(p, allow_pickle)
    torch = require_torch()
    try:
        try:
            obj = torch.load(p, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError:  # legacy (non-zip) files cannot be memory-mapped
            obj = torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise UnsafeModelFile(
            f"{p}: not a plain weights file, refused by torch.load(weights_only=True): {_unpickler_reason(exc)}"
        ) from None
    except Exception as exc:  # noqa: BLE001 - zip, EOF and corrupt-file errors of every kind
        raise ModelFileError(f"{p}: not a readable torch checkpoint ({type(exc).__name__}: {_first_line(exc)})") from None
    while isinstance(obj, dict):
        inner = next((obj[k] for k in ("state_dict", "model") if isinstance(obj.get(k), dict)), None)
        if inner is None:
            break
        obj = inner
    tensors = {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)} if isinstance(obj, dict) else {}
    if not tensors:
        raise ModelFileError(f"{p}: no tensors found (expected a state dict, optionally under 'state_dict')")
    return tensors


def _first_line(exc: BaseException) -> str:
    text = _ANSI.sub("", str(exc)).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _unpickler_reason(exc: BaseException) -> str:
    """The line of torch's long weights-only refusal that says what was refused."""
    lines = [ln.strip() for ln in _ANSI.sub("", str(exc)).splitlines() if ln.strip()]
    hit = next((ln for ln in lines if "WeightsUnpickler error" in ln), None)
    return hit.split("WeightsUnpickler error:", 1)[-1].strip() if hit else (lines[0] if lines else type(exc).__name__)
