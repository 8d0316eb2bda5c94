"""LoRA tags in prompts (``<lora:NAME:W>``): finding the files, and applying them to a
diffusers pipeline for one batch.

Tag syntax is the webui's: ``<lora:NAME>`` (weight 1), ``<lora:NAME:W>`` (text encoder and
UNet both W), ``<lora:NAME:W_te:W_unet>``, or named ``te=``/``unet=``; ``<lyco:…>`` is read
the same way. ``<hypernet:…>`` tags are removed from the text and reported as not supported
(diffusers has no hypernetworks); textual-inversion embeddings are whatever the pipeline has
loaded (diffusers expands their tokens).

Files are looked up by name (case-insensitive stem, ``.safetensors`` only: no pickles) in,
in order: ``$AUTOFIX_LORA_DIRS`` (``os.pathsep``-separated, what ``--lora-dir`` sets), the
LoRA folders next to the model (A1111 ``models/Lora``, ``models/LyCORIS``; ComfyUI
``models/loras``), and ``$AUTOFIX_MODELS/{Lora,loras}``. A missing LoRA is one warning
naming the file and the folders searched; the region is repainted without it.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .prompt_weights import NetworkTag, strip_network_tags

log = logging.getLogger(__name__)
_LORA_KINDS = ("lora", "lyco")
_MAX_FILES = 20_000  # files looked at per folder walk


@dataclass(frozen=True)
class LoraRequest:
    """A LoRA a prompt asks for, with its text-encoder and UNet weights."""

    name: str
    te: float = 1.0
    unet: float = 1.0


@dataclass(frozen=True)
class ResolvedLora:
    """A requested LoRA found on disk; ``identity`` (size + mtime + name hash) goes into
    batching and cache keys so a changed file is never mistaken for the old one."""

    name: str
    path: str
    te: float
    unet: float
    identity: str


def lora_requests(tags: Sequence[NetworkTag]) -> list[LoraRequest]:
    """The LoRA requests among extra-network ``tags`` (weights as the webui reads them)."""
    out = []
    for tag in tags:
        if tag.kind not in _LORA_KINDS or not tag.name:
            continue
        positional = [a for a in tag.args if "=" not in a]
        named = dict(a.split("=", 1) for a in tag.args if "=" in a)
        try:
            te = float(named.get("te", positional[0] if positional else 1.0))
            unet = float(named.get("unet", positional[1] if len(positional) > 1 else te))
        except ValueError:
            log.warning("LoRA tag <%s:%s:%s>: weights are not numbers; using 1.0", tag.kind, tag.name,
                        ":".join(tag.args))
            te = unet = 1.0
        out.append(LoraRequest(tag.name, te, unet))
    return out


def prompt_lora_requests(*texts: str) -> list[LoraRequest]:
    """LoRA requests of several prompts (positive and negative), first occurrence wins."""
    seen: dict[str, LoraRequest] = {}
    for text in texts:
        for req in lora_requests(strip_network_tags(text or "")[1]):
            seen.setdefault(req.name.lower(), req)
    return list(seen.values())


def lora_dirs(model_path: str | os.PathLike[str] | None = None,
              extra: Sequence[str | os.PathLike[str]] = ()) -> list[Path]:
    """Folders searched for LoRA files, existing ones only, in search order."""
    candidates: list[Path] = [Path(p) for p in extra]
    env = os.environ.get("AUTOFIX_LORA_DIRS", "")
    candidates += [Path(p) for p in env.split(os.pathsep) if p]
    if model_path:
        here = Path(model_path).expanduser()
        for parent in list(here.parents)[:4]:
            if parent.name.lower() == "models" or (parent / "Lora").is_dir() or (parent / "loras").is_dir():
                candidates += [parent / "Lora", parent / "LyCORIS", parent / "loras"]
    models = os.environ.get("AUTOFIX_MODELS")
    if models:
        candidates += [Path(models) / "Lora", Path(models) / "loras", Path(models)]
    out: list[Path] = []
    for c in candidates:
        try:
            resolved = c.expanduser().resolve()
        except OSError:
            continue
        if resolved.is_dir() and resolved not in out:
            out.append(resolved)
    return out


def find_lora(name: str, dirs: Sequence[Path]) -> Path | None:
    """The ``.safetensors`` file called ``name`` (stem, any case; ``sub/name`` allowed) in ``dirs``."""
    wanted = name.replace("\\", "/").strip().lower()
    if not wanted or ".." in wanted.split("/"):
        return None
    for folder in dirs:
        direct = folder / f"{name}.safetensors"
        if direct.is_file():
            return direct
        seen = 0
        for root, _dirs, files in os.walk(folder, followlinks=False):
            for fn in files:
                seen += 1
                if not fn.lower().endswith(".safetensors"):
                    continue
                rel = (Path(root) / fn).relative_to(folder).as_posix()[: -len(".safetensors")].lower()
                if rel == wanted or rel.rsplit("/", 1)[-1] == wanted:
                    return Path(root) / fn
            if seen > _MAX_FILES:
                break
    return None


def _identity(path: Path) -> str:
    st = path.stat()
    return hashlib.sha256(f"{path.name}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:16]


def resolve_loras(requests: Sequence[LoraRequest], dirs: Sequence[Path]) -> tuple[tuple[ResolvedLora, ...], list[str]]:
    """``(found LoRAs, one-line notes for the missing ones)``."""
    found, notes = [], []
    for req in requests:
        path = find_lora(req.name, dirs)
        if path is None:
            where = ", ".join(str(d) for d in dirs) or "no LoRA folder (set --lora-dir or AUTOFIX_LORA_DIRS)"
            notes.append(f"LoRA {req.name}.safetensors not found in {where}; repainted without it")
            continue
        found.append(ResolvedLora(req.name, str(path), req.te, req.unet, _identity(path)))
    return tuple(found), notes


@contextmanager
def applied(pipe: Any, loras: Sequence[ResolvedLora]) -> Iterator[None]:
    """Load ``loras`` into ``pipe`` (diffusers' LoRA loading: kohya/A1111 and diffusers
    formats), weighted per component, for the duration of the block; unloaded after."""
    if not loras:
        yield
        return
    names = []
    try:
        for i, lora in enumerate(loras):
            adapter = f"autofix_{i}_{lora.identity}"
            pipe.load_lora_weights(lora.path, adapter_name=adapter)
            names.append(adapter)
        weights = []
        for lora in loras:
            per = {"unet": lora.unet, "text_encoder": lora.te}
            if getattr(pipe, "text_encoder_2", None) is not None:
                per["text_encoder_2"] = lora.te
            weights.append(per)
        pipe.set_adapters(names, adapter_weights=weights)
        yield
    finally:
        if names:
            pipe.delete_adapters(names)


def lora_key(texts: Sequence[str], model_path: str | os.PathLike[str] | None = None) -> list[list[Any]]:
    """What a stage key must include for the LoRAs ``texts`` (its regions' prompts and
    negative prompts) ask for: ``[[name, identity or "missing", te, unet], ...]``, so a
    changed or newly added LoRA file never reuses an old stage."""
    requests = prompt_lora_requests(*texts)
    if not requests:
        return []
    dirs = lora_dirs(model_path)
    out: list[list[Any]] = []
    for req in requests:
        path = find_lora(req.name, dirs)
        out.append([req.name, _identity(path) if path else "missing", req.te, req.unet])
    return out
