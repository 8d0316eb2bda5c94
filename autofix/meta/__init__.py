"""Generation metadata of images from real generators: reading it (A1111 and its forks,
ComfyUI, SwarmUI, Fooocus, InvokeAI, NovelAI, Civitai, TensorArt, Stability Matrix, ...)
and writing autofix's own record back without damaging anyone else's.

Metadata is untrusted: it is only parsed as text/JSON with size caps; nothing in it is
executed or used as a path.

Readers (``reader`` names what produced a record): ``a1111-infotext`` (A1111, Forge and its
forks, reForge, SD.Next, Fooocus' A1111 scheme, Civitai, Stability Matrix, ComfyUI saver
nodes; PNG ``parameters``, EXIF UserComment in UNICODE UTF-16 of either byte order / ASCII,
JPEG COM, and A1111 "stealth" alpha-channel info), ``comfyui-api`` / ``comfyui-workflow``
(API ``prompt`` graph, else the UI ``workflow``; from PNG chunks, WebP EXIF ``prompt:`` /
``workflow:`` fields, UserComment/COM JSON), ``swarmui-json``, ``fooocus-json``,
``ruined-fooocus-json``, ``invokeai-metadata`` / ``invokeai-sd-metadata`` / ``invokeai-dream`` /
``invokeai-graph``,
``novelai-json`` (PNG ``Comment``, WebP UserComment), ``civitai-json`` (orchestration graph +
``extraMetadata``), ``tensorart-json``, ``stability-matrix-json``, ``hf-space-json``,
``easydiffusion-json``, ``draw-things-json`` (XMP).

Why hand-written rather than ``sd-parsers`` (PyPI, MIT, last release 2025-03): it was
weighed and its test fixtures are used here, but it covers A1111/ComfyUI/Fooocus/InvokeAI/
NovelAI only (no SwarmUI, Ruined Fooocus, Civitai orchestration, TensorArt, Stability
Matrix, ComfyUI WebP EXIF fields, UI-only workflows), needs both ComfyUI chunks, keeps
module-global caches keyed by ``id(image)`` (not thread-safe; autofix loads images on worker
threads), decodes through Pillow images rather than bytes, and has no notion of "unknown:
inherit nothing". The formats themselves are small; the readers here are tested on real
files from two public fixture sets (tests/data/generators) and checked against one of
those projects' own expected values.
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
