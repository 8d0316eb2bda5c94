"""Finding and loading Stable Diffusion inpainting weights, all of it able to work offline.

Three kinds of source (:func:`resolve_model`):

* **single file** — one ``.safetensors`` (or, with ``allow_pickle``, ``.ckpt``/``.pt``/``.pth``)
  as A1111 (``models/Stable-diffusion``) and ComfyUI (``models/checkpoints``) keep them, with
  the original key names. The family (SD1.x or SDXL) and the UNet's input channels (4 =
  regular, 9 = inpainting) are read from the checkpoint's keys and shapes — for safetensors
  from the header alone — and the matching architecture folder shipped in
  ``sd_configs/<sd15|sd15-inpainting|sdxl|sdxl-inpainting>/`` (configs, no weights) tells
  diffusers how to build the pipeline, so no hub access is needed. The CLIP tokenizer's BPE
  merges ship once in ``sd_configs/clip_tokenizer/merges.txt``; the vocabulary is rebuilt
  from them (see that folder's NOTICE.txt).
* **diffusers folder** — ``model_index.json`` plus one subfolder per component.
* **Hugging Face repo id** (``owner/name``) — the snapshot in the local HF cache; it is
  downloaded only when ``HF_HUB_OFFLINE`` is not set.

``model_dir`` points at a folder of models (an A1111 or ComfyUI install root works too);
``model`` then picks one by name (:func:`scan_model_dir`, :func:`pick_model`). A bare name
that is none of the above (e.g. the manifest's ``sd15_inpainting``) is looked up like every
other autofix model (:func:`autofix.modelfiles.store.resolve`, task ``inpaint``).

Errors are one line: :class:`~autofix.errors.ModelNotFound` says which file is missing and
where to put it; :class:`~autofix.errors.UnsafeModelFile` refuses pickle files
(``.ckpt``/``.pt``/``.pth``/``.bin``) as the one pickle policy says
(:mod:`autofix.modelfiles.trust`: manifest hash, ``allow_pickle`` or ``$AUTOFIX_ALLOW_PICKLE``)
— and even then they are read with ``torch.load(weights_only=True)`` only, never fully
unpickled; ``.safetensors`` headers are validated by the one validator
(:func:`autofix.modelfiles.safetensors_io.read_header`) before anything else reads them;
:class:`~autofix.errors.UnsupportedModel` names what cannot be used. Heavy modules (torch,
diffusers, transformers) are imported inside functions.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..errors import AutofixError, ConfigError, ModelNotFound, UnsupportedModel
from ..modelfiles import trust
from ..modelfiles.safetensors_io import read_header, tensor_shapes

log = logging.getLogger(__name__)

#: Folder of the shipped architecture configs.
SD_CONFIGS = Path(__file__).with_name("sd_configs")
#: Single-file checkpoint suffixes that :func:`scan_model_dir` lists.
CHECKPOINT_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth")
#: Suffixes read with ``torch.load`` (pickle), as the pickle policy allows.
PICKLE_SUFFIXES = trust.PICKLE_SUFFIXES
#: ``(family, unet in_channels)`` → shipped config folder name.
SHIPPED_CONFIGS = {
    ("sd1", 4): "sd15", ("sd1", 9): "sd15-inpainting", ("sdxl", 4): "sdxl", ("sdxl", 9): "sdxl-inpainting",
}

_UNET_IN = "model.diffusion_model.input_blocks.0.0.weight"
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_MODEL_COMPONENTS = ("unet", "vae", "text_encoder", "text_encoder_2")

Kind = Literal["single_file", "diffusers"]


@dataclass(frozen=True)
class FoundModel:
    """One model found under a ``model_dir``.

    Attributes:
        name: path relative to the folder, ``/``-separated, without the suffix (A1111 style).
        path: absolute path of the file or diffusers folder.
        kind: ``"single_file"`` or ``"diffusers"``.
    """

    name: str
    path: Path
    kind: Kind


@dataclass(frozen=True)
class ResolvedModel:
    """A model source ready to load.

    Attributes:
        kind: ``"single_file"`` or ``"diffusers"``.
        path: the checkpoint file or diffusers folder (absolute).
        family: ``"sd1"``, ``"sdxl"`` (or ``"sd2"`` for a diffusers folder).
        in_channels: UNet input channels: 9 (inpainting model) or 4 (regular model).
        config_dir: single files: the architecture folder used (shipped or the override).
        repo_id: the Hugging Face repo id when resolved from the HF cache.
    """

    kind: Kind
    path: Path
    family: str
    in_channels: int
    config_dir: Path | None = None
    repo_id: str | None = None

    @property
    def stem(self) -> str:
        """Short model name: the file stem, the folder name, or the repo's name."""
        if self.repo_id:
            return self.repo_id.split("/")[-1]
        return self.path.stem if self.kind == "single_file" else self.path.name


# ---------------------------------------------------------------- resolving


def resolve_model(cfg: Any, *, config_dir: str | Path | None = None) -> ResolvedModel:
    """Resolve ``cfg`` (an :class:`~autofix.config.InpainterConfig`: ``model``, ``model_dir``,
    ``allow_pickle``) to a loadable source. ``config_dir`` overrides the shipped architecture
    folder for single files (tests use a tiny one). Reads no weights."""
    model, model_dir, allow_pickle = cfg.model, cfg.model_dir, bool(cfg.allow_pickle)
    if not model and not model_dir:
        raise ConfigError(
            "the diffusers inpainter needs inpainter.model (a .safetensors file, a diffusers folder or a "
            "Hugging Face repo id) or inpainter.model_dir (an A1111/ComfyUI models folder)"
        )
    root = models_root(model_dir) if model_dir else None
    path, repo_id = _locate(model, root)
    if path.is_dir():
        return _resolve_folder(path, allow_pickle, repo_id)
    return _resolve_file(path, allow_pickle, config_dir)


def _locate(model: str | None, root: Path | None) -> tuple[Path, str | None]:
    """The file or folder ``model`` names (or the only model in ``root``), and its repo id if any.

    Tried in order: an existing path; a model in ``root`` (``model_dir``); a Hugging Face repo
    id (``owner/name``); a name in the model manifest / search folders (:mod:`autofix.modelfiles.store`).
    """
    from ..modelfiles import store as modelstore

    if model is None:
        return pick_model(root, None).path, None  # type: ignore[arg-type]
    path = Path(model).expanduser()
    if path.exists():
        return path.resolve(), None
    repo_like = bool(_REPO_ID.match(model)) and path.suffix.lower() not in CHECKPOINT_SUFFIXES
    if root is not None and not path.is_absolute():
        try:
            return pick_model(root, model).path, None
        except ModelNotFound:
            if not repo_like and modelstore.find_entry(model, "inpaint") is None:
                raise
    if repo_like:
        return hf_snapshot(model), model
    # Bare manifest names (``sd15_inpainting``) and file names are looked up where
    # `autofix models pull` puts them; the error says where to put a missing file.
    return modelstore.resolve(model, task="inpaint"), None


def _resolve_file(path: Path, allow_pickle: bool, config_dir: str | Path | None) -> ResolvedModel:
    family, in_channels = inspect_checkpoint(path, allow_pickle=allow_pickle)
    folder = Path(config_dir).resolve() if config_dir else shipped_config_dir(family, in_channels)
    if not (folder / "model_index.json").is_file():
        raise ModelNotFound(f"architecture config {folder / 'model_index.json'} is missing (needed for {path.name})")
    return ResolvedModel("single_file", path, family, in_channels, config_dir=folder)


def _resolve_folder(path: Path, allow_pickle: bool, repo_id: str | None) -> ResolvedModel:
    if not (path / "model_index.json").is_file():
        found = [e.name for e in scan_model_dir(path)]
        if found:
            raise ConfigError(
                f"{path} is a folder of models, not a diffusers model: set inpainter.model_dir to it and "
                f"inpainter.model to one of: {_names(found)}"
            )
        raise ModelNotFound(f"{path / 'model_index.json'} is missing: {path} is not a diffusers model folder")
    check_diffusers_folder(path, allow_pickle=allow_pickle)
    unet = _read_json(path / "unet" / "config.json")
    family = {768: "sd1", 1024: "sd2", 2048: "sdxl"}.get(unet.get("cross_attention_dim"), "sd1")
    if unet.get("addition_embed_type") == "text_time":
        family = "sdxl"
    return ResolvedModel("diffusers", path, family, int(unet.get("in_channels", 4)), repo_id=repo_id)


def shipped_config_dir(family: str, in_channels: int) -> Path:
    """The shipped architecture folder for ``family`` (``"sd1"``/``"sdxl"``) and UNet ``in_channels``."""
    name = SHIPPED_CONFIGS.get((family, in_channels))
    if name is None:
        raise UnsupportedModel(f"no shipped config for family {family!r} with {in_channels} UNet input channels")
    return SD_CONFIGS / name


def hf_snapshot(repo_id: str) -> Path:
    """Local folder of ``repo_id``'s snapshot in the Hugging Face cache.

    Offline (``HF_HUB_OFFLINE=1``) only the cache is used; otherwise a missing snapshot is
    downloaded (configs, tokenizers and component ``*.safetensors``, no fp16/EMA variants).
    """
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(repo_id, local_files_only=True))
    except (LocalEntryNotFoundError, FileNotFoundError, OSError):
        if constants.HF_HUB_OFFLINE:
            where = Path(constants.HF_HUB_CACHE) / ("models--" + repo_id.replace("/", "--"))
            raise ModelNotFound(
                f"Hugging Face model {repo_id} is not in the local cache ({where}) and HF_HUB_OFFLINE is set: on a "
                f"connected machine run `hf download {repo_id}` and copy that folder here, or point inpainter.model "
                "at a local .safetensors file or diffusers folder"
            ) from None
    patterns = ["model_index.json", "*/*.json", "*/*.txt", "*/*.safetensors"]
    ignore = ["*.fp16.safetensors", "*non_ema*", "*.ema.*", "safety_checker/*"]
    try:
        return Path(snapshot_download(repo_id, allow_patterns=patterns, ignore_patterns=ignore))
    except Exception as exc:  # noqa: BLE001 - network, auth and not-found errors alike
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelNotFound(f"Hugging Face model {repo_id} could not be downloaded: {first}") from None


# ---------------------------------------------------------------- model folders


def models_root(model_dir: str | Path) -> Path:
    """The checkpoint folder of ``model_dir``: ``models/Stable-diffusion`` (A1111/Forge) or
    ``models/checkpoints`` (ComfyUI) under an install root, ``Stable-diffusion`` or
    ``checkpoints`` under its ``models`` folder (never LoRA, VAE or detector folders), else
    ``model_dir`` itself."""
    root = Path(model_dir).expanduser().resolve()
    if not root.is_dir():
        raise ModelNotFound(
            f"model_dir {root} does not exist: create it and put .safetensors checkpoints or diffusers folders in it"
        )
    for sub in ("models/Stable-diffusion", "models/checkpoints", "Stable-diffusion", "checkpoints"):
        if (root / sub).is_dir():
            return root / sub
    return root


def scan_model_dir(model_dir: str | Path) -> list[FoundModel]:
    """Checkpoints (``*.safetensors``, ``*.ckpt``, ``*.pt``, ``*.pth``) and diffusers folders
    under ``model_dir``, recursively, sorted by name (case-insensitive). Hidden entries are skipped."""
    root = models_root(model_dir)
    found: list[FoundModel] = []
    seen: set[str] = set()
    for folder, dirs, files in os.walk(root, followlinks=True):
        here = Path(folder)
        if os.path.realpath(here) in seen:  # a symlink loop (linked model folders are common)
            dirs.clear()
            continue
        seen.add(os.path.realpath(here))
        if (here / "model_index.json").is_file() and here != root:
            found.append(FoundModel(here.relative_to(root).as_posix(), here, "diffusers"))
            dirs.clear()
            continue
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            p = here / name
            if p.suffix.lower() in CHECKPOINT_SUFFIXES and not name.startswith("."):
                found.append(FoundModel(p.relative_to(root).with_suffix("").as_posix(), p, "single_file"))
    return sorted(found, key=lambda e: (e.name.lower(), e.path.suffix != ".safetensors"))


def pick_model(model_dir: str | Path, name: str | None) -> FoundModel:
    """The model ``name`` in ``model_dir``, matched case-insensitively on, in order: the relative
    path with suffix, the relative path without it (A1111's name), the file stem. ``None`` picks
    the only model. No match raises :class:`ModelNotFound`, several :class:`ConfigError`; both list
    the candidates."""
    root = models_root(model_dir)
    entries = scan_model_dir(root)
    if not entries:
        raise ModelNotFound(
            f"no models in {root}: put a .safetensors checkpoint (or a diffusers folder) there"
        )
    if name is None:
        if len(entries) == 1:
            return entries[0]
        names = _names(e.name for e in entries)
        raise ConfigError(f"{len(entries)} models in {root}; choose one with inpainter.model: {names}")
    key = name.replace("\\", "/").lower()
    tiers = (
        lambda e: e.path.relative_to(root).as_posix().lower() == key,
        lambda e: e.name.lower() == key,
        lambda e: e.path.stem.lower() == key or e.path.name.lower() == key,
    )
    for match in tiers:
        hits = [e for e in entries if match(e)]
        if len(hits) == 1:
            return hits[0]
        if hits:
            listed = _names(e.path.relative_to(root).as_posix() for e in hits)
            raise ConfigError(f"model name {name!r} is ambiguous in {root}: {listed}; give the file name")
    raise ModelNotFound(f"no model named {name!r} in {root}; found: {_names(e.name for e in entries)}")


def _names(names: Any, limit: int = 20) -> str:
    names = list(names)
    more = f", ... (+{len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def check_diffusers_folder(folder: Path, *, allow_pickle: bool) -> None:
    """Check that every model component listed in ``model_index.json`` has weights on disk,
    and that pickle-only ones pass the pickle policy; tokenizers need their vocab files."""
    index = _read_json(folder / "model_index.json")
    for name in _MODEL_COMPONENTS:
        if not _listed(index, name):
            continue
        sub = folder / name
        weights = list(sub.glob("*.safetensors")) if sub.is_dir() else []
        pickles = [p for p in sub.glob("*") if p.suffix in PICKLE_SUFFIXES] if sub.is_dir() else []
        if not weights:
            for pickled in sorted(pickles):
                trust.check_pickle(pickled, trust.flag(allow_pickle))
        for weight in sorted(weights):
            read_header(weight)  # a lying header is one line here, not a traceback inside diffusers
        if not weights and not pickles:
            raise ModelNotFound(f"{sub} has no weights: put the {name}'s *.safetensors file there")
    for name in ("tokenizer", "tokenizer_2"):
        if _listed(index, name) and not _has_tokenizer_files(folder / name):
            raise ModelNotFound(f"{folder / name} has no tokenizer files: put vocab.json + merges.txt there")


def _use_safetensors(folders: list[Path], allow_pickle: bool) -> bool | None:
    """:func:`autofix.modelfiles.trust.use_safetensors` (``allow_pickle=False``: the environment decides)."""
    return trust.use_safetensors(folders, trust.flag(allow_pickle))


def _listed(index: dict[str, Any], name: str) -> bool:
    value = index.get(name)
    return isinstance(value, list) and len(value) == 2 and value[0] is not None


def _has_tokenizer_files(folder: Path) -> bool:
    return (folder / "tokenizer.json").is_file() or (folder / "vocab.json").is_file()


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise ModelNotFound(f"{path} is missing") from None
    except (OSError, ValueError) as exc:
        raise UnsupportedModel(f"{path}: not readable JSON ({exc})") from None


# ---------------------------------------------------------------- checkpoint inspection


def inspect_checkpoint(path: str | Path, *, allow_pickle: bool = False) -> tuple[str, int]:
    """``(family, unet_in_channels)`` of a single-file SD checkpoint, from its keys and shapes.

    ``family`` is ``"sd1"`` (``cond_stage_model.transformer.*`` CLIP-L text encoder) or
    ``"sdxl"`` (``conditioner.embedders.1.model.*`` OpenCLIP-G). Safetensors: only the header
    is read, and validated (a lying header is one :class:`~autofix.errors.SafetensorsError`
    line). Pickle files: as the pickle policy allows, then ``torch.load(weights_only=True, mmap=True)``.
    """
    path = Path(path)
    if path.suffix.lower() in PICKLE_SUFFIXES:
        shapes = {k: tuple(v.shape) for k, v in trust.load_weights(path, trust.flag(allow_pickle)).items()}
    elif path.suffix.lower() == ".safetensors":
        shapes = tensor_shapes(path)
    else:
        raise UnsupportedModel(f"{path}: not a checkpoint file (expected .safetensors, or .ckpt with allow_pickle)")
    return _family_from_shapes(shapes, path)


def _family_from_shapes(shapes: dict[str, tuple[int, ...]], path: Path) -> tuple[str, int]:
    if _UNET_IN not in shapes and "unet.conv_in.weight" in shapes:
        raise UnsupportedModel(
            f"{path}: diffusers key names (unet.*, vae.*) in one file, which no loader reads; save the model as a "
            "diffusers folder or in the original single-file layout (autofix models make-inpaint does both)"
        )
    if _UNET_IN not in shapes:
        raise UnsupportedModel(
            f"{path}: not a full Stable Diffusion checkpoint (no {_UNET_IN}); LoRAs, VAEs and UNet-only files "
            "cannot be used"
        )
    in_channels = int(shapes[_UNET_IN][1])
    keys = shapes.keys()
    if any(k.startswith("conditioner.embedders.1.model.") for k in keys):
        family = "sdxl"
    elif any(k.startswith("cond_stage_model.transformer.") for k in keys):
        family = "sd1"
    elif any(k.startswith(("cond_stage_model.model.", "conditioner.embedders.0.model.")) for k in keys):
        raise UnsupportedModel(f"{path}: SD 2.x / SDXL-refiner checkpoints are not supported; use SD1.x or SDXL")
    else:
        raise UnsupportedModel(f"{path}: no SD1.x or SDXL text encoder keys; cannot tell the model family")
    if in_channels not in (4, 9):
        raise UnsupportedModel(f"{path}: UNet has {in_channels} input channels; only 4 (regular) or 9 (inpainting)")
    if not any(k.startswith("first_stage_model.") for k in keys):
        raise UnsupportedModel(f"{path}: no VAE (first_stage_model.*) in the checkpoint")
    return family, in_channels


# ---------------------------------------------------------------- tokenizers


@functools.lru_cache(maxsize=1)
def clip_bpe() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """CLIP's ``(vocab, merges)`` rebuilt from the shipped ``clip_tokenizer/merges.txt`` (49408 ids)."""
    path = SD_CONFIGS / "clip_tokenizer" / "merges.txt"
    if not path.is_file():
        raise ModelNotFound(f"{path} is missing: reinstall autofix (it ships the CLIP tokenizer's merges)")
    lines = path.read_text("utf-8").split("\n")[1:]
    merges = [tuple(line.split()) for line in lines if line]
    symbols = clip_byte_symbols()
    tokens = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    return {t: i for i, t in enumerate(tokens)}, merges  # type: ignore[return-value]


def clip_byte_symbols() -> list[str]:
    """CLIP's (GPT-2's) byte symbols in vocabulary order: the printable bytes as themselves, in
    byte order, then every other byte ``b`` as ``chr(256 + n)``, n counting up from 0."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    others = [b for b in range(256) if b not in set(printable)]
    return [chr(b) for b in printable] + [chr(256 + n) for n in range(len(others))]


def load_tokenizer(config_dir: str | Path, subfolder: str = "tokenizer") -> Any:
    """A ``CLIPTokenizer`` for ``config_dir/subfolder``: from its own files when it has them
    (``tokenizer.json`` or ``vocab.json``), else from the shipped CLIP merges with that folder's
    ``tokenizer_config.json`` (pad token, max length)."""
    from transformers import CLIPTokenizer

    folder = Path(config_dir) / subfolder
    if _has_tokenizer_files(folder):
        return CLIPTokenizer.from_pretrained(str(folder), local_files_only=True)
    settings = _read_json(folder / "tokenizer_config.json")
    vocab, merges = clip_bpe()
    return CLIPTokenizer(
        vocab=dict(vocab), merges=list(merges), pad_token=settings.get("pad_token", "<|endoftext|>"),
        model_max_length=int(settings.get("model_max_length", 77)),
    )


# ---------------------------------------------------------------- loading


def load_pipeline(source: ResolvedModel, *, dtype: Any = None, allow_pickle: bool = False) -> Any:
    """Build the diffusers inpainting pipeline for ``source`` on the CPU in ``dtype`` (a
    ``torch.dtype``; default float32): ``StableDiffusionInpaintPipeline`` for SD1.x/2.x,
    ``StableDiffusionXLInpaintPipeline`` for SDXL, whatever the UNet's 4 or 9 input channels.
    Nothing is fetched from the network; the safety checker is not loaded."""
    import torch
    from diffusers import StableDiffusionInpaintPipeline, StableDiffusionXLInpaintPipeline

    dtype = dtype or torch.float32
    try:
        if source.kind == "single_file":
            pipe = _load_single_file(source, dtype, allow_pickle)
        else:
            pipe = _load_folder(source, dtype, allow_pickle)
    except (OSError, ValueError, KeyError, RuntimeError, TypeError) as exc:
        if isinstance(exc, AutofixError):
            raise
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UnsupportedModel(f"{source.path}: could not be loaded ({type(exc).__name__}: {first})") from exc
    if not isinstance(pipe, (StableDiffusionInpaintPipeline, StableDiffusionXLInpaintPipeline)):
        raise UnsupportedModel(f"{source.path}: {type(pipe).__name__} is not a Stable Diffusion 1.x/SDXL pipeline")
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _load_single_file(source: ResolvedModel, dtype: Any, allow_pickle: bool) -> Any:
    from diffusers import StableDiffusionInpaintPipeline, StableDiffusionXLInpaintPipeline

    trust.check_pickle(source.path, trust.flag(allow_pickle))  # allow_pickle False: the environment decides
    config = source.config_dir
    assert config is not None
    cls = StableDiffusionXLInpaintPipeline if source.family == "sdxl" else StableDiffusionInpaintPipeline
    tokenizers = {n: load_tokenizer(config, n) for n in ("tokenizer", "tokenizer_2") if (config / n).is_dir()}
    extra: dict[str, Any] = {}
    if source.family != "sdxl":
        extra = {"safety_checker": None, "feature_extractor": None, "requires_safety_checker": False}
    return cls.from_single_file(
        str(source.path), config=str(config), local_files_only=True, **_dtype_kwarg(dtype), **tokenizers, **extra
    )


def _load_folder(source: ResolvedModel, dtype: Any, allow_pickle: bool) -> Any:
    from diffusers import AutoPipelineForInpainting

    index = _read_json(source.path / "model_index.json")
    extra: dict[str, Any] = {}
    if "safety_checker" in index:
        extra = {"safety_checker": None, "requires_safety_checker": False}
    variant = "fp16" if _only_fp16_weights(source.path) else None
    return AutoPipelineForInpainting.from_pretrained(
        str(source.path), local_files_only=True, use_safetensors=_use_safetensors([source.path / c for c in _MODEL_COMPONENTS], allow_pickle),
        variant=variant,
        **_dtype_kwarg(dtype), **extra,
    )


def _dtype_kwarg(dtype: Any) -> dict[str, Any]:
    """``dtype=`` where diffusers has it (``torch_dtype`` is deprecated there), else ``torch_dtype=``."""
    import diffusers.utils.deprecation_utils as dep

    return {"dtype": dtype} if hasattr(dep, "_resolve_dtype") else {"torch_dtype": dtype}


def _only_fp16_weights(folder: Path) -> bool:
    unet = folder / "unet"
    files = [p.name for p in unet.glob("*.safetensors")] if unet.is_dir() else []
    return bool(files) and all(".fp16." in name for name in files)


def load_safety_checker(source: ResolvedModel, *, allow_pickle: bool = False) -> tuple[Any, Any]:
    """``(StableDiffusionSafetyChecker, CLIPImageProcessor)`` from the diffusers folder's
    ``safety_checker/`` + ``feature_extractor/``, else from ``CompVis/stable-diffusion-safety-checker``
    in the local HF cache; :class:`ModelNotFound` says where to put it otherwise."""
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from transformers import CLIPImageProcessor

    checker_dir, fe_dir = _safety_checker_dirs(source)
    kw = {"local_files_only": True, "use_safetensors": _use_safetensors([checker_dir], allow_pickle)}
    checker = StableDiffusionSafetyChecker.from_pretrained(str(checker_dir), **kw)
    return checker.eval(), CLIPImageProcessor.from_pretrained(str(fe_dir), local_files_only=True)


def _safety_checker_dirs(source: ResolvedModel) -> tuple[Path, Path]:
    if source.kind == "diffusers" and (source.path / "safety_checker" / "config.json").is_file():
        return source.path / "safety_checker", source.path / "feature_extractor"
    repo = "CompVis/stable-diffusion-safety-checker"
    try:
        from huggingface_hub import snapshot_download

        snap = Path(snapshot_download(repo, local_files_only=True))
        return snap, snap
    except Exception:  # noqa: BLE001 - any cache miss means "not available offline"
        raise ModelNotFound(
            f"the safety checker is on but no weights were found: put them in {source.path / 'safety_checker'} "
            f"(+ feature_extractor/) or download {repo} into the Hugging Face cache"
        ) from None
