"""The output writer: final images, sidecars and the journal, on a background thread.

:class:`SerialWorker` runs file writes in submission order on one thread while the
scheduler goes on detecting and inpainting; every write is still atomic (temp + rename),
final images and sidecars are fsynced, and the sidecar is written after its image, so a
``kill -9`` at any point leaves either no result or a complete, verifiable one.
:func:`write_final` is what finishing one image means.
"""

from __future__ import annotations

import hashlib
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .. import __version__
from ..config import RunConfig
from ..io.atomic import atomic_write_bytes, atomic_write_json
from ..io.metadata import GenerationInfo, output_text
from .records import StageRecord
from .output_folder import OutputStore

_EXT_FORMAT = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def output_ext(rel: Path, requested: str) -> str:
    """Extension of the final image: with ``same``, the input's own when it names a format
    autofix writes (``.png/.jpg/.jpeg/.webp``, any case); otherwise the one
    :func:`~autofix.io.image.output_format` gives (``same`` for a single ``.gif``/``.bmp``/
    ``.tif`` input: ``.png``, which is what is written)."""
    from ..io.image import output_format

    if requested == "same" and rel.suffix.lower() in _EXT_FORMAT:
        return rel.suffix
    return output_format(_EXT_FORMAT.get(rel.suffix.lower(), ""), requested)[1]


class SerialWorker:
    """One thread that runs write tasks in submission order (inline when ``threaded`` is False)."""

    def __init__(self, threaded: bool = True) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="autofix-writer") if threaded else None

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future:
        """Queue ``fn(*args, **kwargs)``; its future carries the result or the exception."""
        if self._pool is not None:
            return self._pool.submit(fn, *args, **kwargs)
        fut: Future = Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - delivered through the future, as the pool does
            fut.set_exception(exc)
        return fut

    def close(self) -> None:
        """Finish every queued write, then stop the thread."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)


@dataclass(frozen=True)
class FinalImage:
    """Everything needed to write one finished image."""

    rel: Path
    final: Path
    data: bytes
    input_sha256: str
    loaded: Any  # io.image.LoadedImage
    image: np.ndarray
    records: tuple[StageRecord, ...]
    key: str
    info: GenerationInfo


def sidecar(config: RunConfig, config_hash: str, f: FinalImage) -> dict[str, Any]:
    """The sidecar's fields that do not depend on the written bytes."""
    loaded = f.loaded
    return {
        "autofix": __version__,
        "config_hash": config_hash,
        "preset": config.preset,
        "input": {"path": f.rel.as_posix(), "sha256": f.input_sha256, "format": loaded.format,
                  "mode": loaded.mode, "size": [int(loaded.rgb.shape[1]), int(loaded.rgb.shape[0])],
                  "normalisations": list(loaded.normalisations)},
        "stages": [{k: v for k, v in r.to_json().items() if k != "snapshot"} for r in f.records],
    }


def write_final(store: OutputStore, config: RunConfig, config_hash: str, f: FinalImage) -> tuple[str, dict[str, Any]]:
    """Write the final image (fsynced), then its sidecar, then journal ``image_done``;
    returns ``(status, sidecar)``. A sidecar at its path always describes the final beside it."""
    repainted = sum(r.repainted for r in f.records)
    regions = sum(len(r.regions) for r in f.records)
    payload, copied = final_bytes(config, config_hash, f, repainted)
    atomic_write_bytes(f.final, payload)
    status = "fixed" if repainted else ("planned" if regions else "nothing_detected")
    side = sidecar(config, config_hash, f)
    side.update(key=f.key, status=status, output={
        "path": f.final.relative_to(store.root).as_posix(), "sha256": sha256_bytes(payload),
        "copied_unchanged": copied})
    # The sidecar and the journal event are not fsynced: a resume verifies the sidecar's key and
    # the final's sha256, so a sidecar lost to a power cut only makes that image be redone.
    atomic_write_json(store.sidecar_path(f.final), side, durable=False)
    store.journal("image_done", durable=False, rel=f.rel.as_posix(), status=status,
                  output_sha256=side["output"]["sha256"])
    return status, side


def final_bytes(config: RunConfig, config_hash: str, f: FinalImage, repainted: int) -> tuple[bytes, bool]:
    """The final file's bytes, and whether they are the input's own (nothing repainted, same format)."""
    from ..io.image import encode_image

    ext = output_ext(f.rel, config.output.format)
    fmt = _EXT_FORMAT.get(ext.lower(), "PNG")
    source_format = "JPEG" if f.loaded.format == "MPO" else f.loaded.format  # phone JPEGs open as MPO
    if not repainted and fmt == source_format:
        return f.data, True
    alpha = f.loaded.alpha if fmt != "JPEG" else None
    text = png_text(config_hash, f) if fmt == "PNG" else None
    return encode_image(f.image, alpha, fmt, like=f.loaded, jpeg_quality=config.output.jpeg_quality,
                        text=text, png_compression=config.output.png_compression), False


def png_text(config_hash: str, f: FinalImage) -> dict[str, str]:
    """The input's PNG text with autofix's settings recorded (see :func:`~autofix.io.metadata.output_text`)."""
    inpainters = sorted({r.inpainter["name"] for r in f.records if r.inpainter})
    extra = {"autofix": __version__, "autofix config": config_hash[:12],
             "autofix stages": " ".join(f"{r.stage}:{r.repainted}/{len(r.regions)}" for r in f.records),
             "autofix inpainter": " ".join(inpainters) or "none"}
    return output_text(f.loaded.text, f.info, extra)


def timed(timings: dict[str, float], key: str, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)``, adding its wall time to ``timings[key]``."""
    t = time.perf_counter()
    try:
        return fn(*args)
    finally:
        timings[key] = timings.get(key, 0.0) + time.perf_counter() - t
