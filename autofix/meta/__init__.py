"""Generation metadata of images from real generators: reading it (A1111 and its forks,
ComfyUI, SwarmUI, Fooocus, InvokeAI, NovelAI, Civitai, TensorArt, Stability Matrix, ...)
and writing autofix's own record back without damaging anyone else's.

Metadata is untrusted: it is only parsed as text/JSON with size caps; nothing in it is
executed or used as a path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .containers import Fields, MetadataFileError, fields_from_loaded, read_fields, read_fields_from_path
from .model import GenerationInfo, Lora
from .readers import read_info


def generation_info(text: dict[str, str] | None, exif: bytes | None = None, alpha: Any = None) -> GenerationInfo:
    """What a loaded image's PNG text chunks, EXIF block and (stealth info) alpha channel say
    about its generation: ``generation_info(loaded.text, loaded.exif, loaded.alpha)``."""
    return read_info(fields_from_loaded(text or {}, exif, alpha))


def read_file_info(path: str | Path) -> GenerationInfo:
    """Generation info straight from a file's bytes (PNG text/EXIF chunks, JPEG APP1/COM,
    WebP EXIF); pixels are not decoded. Raises :class:`MetadataFileError`/``OSError``."""
    return read_info(read_fields_from_path(str(path)))


__all__ = ["Fields", "GenerationInfo", "Lora", "MetadataFileError", "fields_from_loaded", "generation_info",
           "read_fields", "read_file_info", "read_info"]
