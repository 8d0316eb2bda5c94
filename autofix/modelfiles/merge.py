"""Make an inpainting checkpoint from any fine-tuned model (add-difference merge).

    output = inpaint_base + (finetune - base) * multiplier

computed in float32 per tensor, then cast (float16 by default). This is A1111's
Checkpoint Merger "Add difference" with the inpainting model as primary, the fine-tune as
secondary and its base (e.g. SD 1.5 for an SD 1.5 fine-tune) as tertiary.

**Inputs.** A ``.safetensors`` file in the original single-file layout
(``model.diffusion_model.*``, ``first_stage_model.*``, ``cond_stage_model.*`` /
``conditioner.*``); a pickle (``.ckpt``/``.pt``/``.pth``/``.bin``, optionally nested under
``state_dict``) when the pickle policy allows it (:mod:`autofix.modelfiles.trust`: its sha256
in the manifest, or ``allow_pickle``), read with ``torch.load(weights_only=True, mmap=True)``;
or a diffusers pipeline folder
(``model_index.json`` plus ``unet/``, ``vae/``, ``text_encoder*/`` with
``diffusion_pytorch_model.safetensors`` / ``model.safetensors``, sharded or ``.fp16``
variants), whose keys are read as ``<component>.<key>`` (``unet.conv_in.weight``). The
three inputs must share one layout (all single-file or all diffusers: there is no key
conversion between layouts) and one family (SD1, SD2, SDXL).

**Output**, always in a layout the SD loader (``autofix fix --model``), diffusers, A1111 and
ComfyUI read: the inpaint base's keys in its layout, EMA copies dropped. Single-file layout:
one ``.safetensors``. Diffusers layout: a diffusers folder (the inpaint base's configs,
tokenizers and scheduler copied, each component's weights written as one
``<component>/<name>.safetensors``), or, when ``out`` ends in ``.safetensors``, one file
converted to the original single-file key names (:mod:`autofix.modelfiles.sd_keys`; SD1 and
SDXL) — never one file with ``unet.``/``vae.``-prefixed keys, a layout no loader reads. Metadata (``__metadata__``): ``format=pt`` and
``autofix.merge.*``: the formula, multiplier, dtype, family, rule counts, and each input's
file name and sha256 (:func:`autofix.modelfiles.identity.model_sha256`, the hash sidecars and
stage keys record for the same file or folder).

**Which tensor comes from where** (``RULES``; "in" = the key exists in that input):

=========================  ================================================  =========================
rule                       keys                                              value
=========================  ================================================  =========================
``merged``                 in all three                                      formula
``input_conv``             the UNet input conv (``...input_blocks.0.0.       formula on the first 4
                           weight`` / ``unet.conv_in.weight``): 9 input      input channels; the 5
                           channels in inpaint_base, 4 in the others         extra from inpaint_base
``from_finetune``          non-UNet (VAE, text encoder) in inpaint_base      finetune's (baked VAE /
                           and finetune, not in base                         text encoder), any multiplier
``unet_not_in_base``       UNet key in inpaint_base and finetune only        inpaint_base's
``not_in_finetune``        in inpaint_base and base (e.g. UNet-only          inpaint_base's
                           finetune)
``inpaint_only``           only in inpaint_base                              inpaint_base's
``verbatim``               integer tensors, ``*position_ids``, top-level     inpaint_base's, dtype kept
                           schedule buffers (``alphas_cumprod``, ...)
``ema_dropped``            ``model_ema.*`` in any input                      not written
``not_in_inpaint_base``    in finetune and/or base only                      not written
=========================  ================================================  =========================

Float outputs are float16 (``fp16=True``) or float32. SD1 text-encoder keys spelled without
``text_model.`` (old transformers) are renamed to the inpaint base's spelling first.
Checks run on the headers before any data is read: layouts, families, the input conv,
then every key in sorted order; the first mismatch is the error.

Memory: tensors are read one at a time (plain reads, no mmap of ``.safetensors``) and
streamed to the output (:mod:`autofix.modelfiles.safetensors_io`), so the cost is about 2.5 float32
copies of the largest tensor, not the models: measured 0.39 GB extra RSS merging three
1.8 GB SD1.5-shaped files (largest tensor: the 49408×768 token embedding); SDXL's
49408×1280 embedding makes that about 0.65 GB. A legacy (non-zip) ``.ckpt`` cannot be
memory-mapped and is loaded whole.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from .. import __version__
from ..errors import ConfigError, MergeError, ModelNotFound
from ..io.atomic import TMP_MARK
from . import trust
from .identity import model_sha256
from .sd_keys import Converted, conversion_plan
from .safetensors_io import (
    SafetensorsReader,
    StreamWriter,
    TensorInfo,
    dtype_code,
    require_torch,
    torch_dtype,
)

if TYPE_CHECKING:  # pragma: no cover
    import torch

FORMULA = "inpaint_base + (finetune - base) * multiplier"
ROLES = ("finetune", "inpaint_base", "base")
PICKLE_SUFFIXES = trust.PICKLE_SUFFIXES
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".ckpt", ".pt", ".pth", ".msgpack", ".h5", ".onnx")

RULES: dict[str, str] = {
    "merged": FORMULA,
    "input_conv": "UNet input conv: formula on the finetune's input channels, "
    "extra (mask, masked-image) channels from inpaint_base",
    "from_finetune": "non-UNet tensor (VAE, text encoder) missing from base: the finetune's, whatever the multiplier",
    "unet_not_in_base": "UNet tensor missing from base: inpaint_base's (no difference can be formed)",
    "not_in_finetune": "missing from finetune: inpaint_base's (the finetune is taken not to change it)",
    "inpaint_only": "only in inpaint_base: inpaint_base's",
    "verbatim": "integer tensors, position_ids, schedule buffers: inpaint_base's, dtype kept",
    "ema_dropped": "EMA copies (model_ema.*): not written",
    "not_in_inpaint_base": "not in inpaint_base: not written (the output has the inpaint base's keys)",
}


# ------------------------------------------------------------------------------ reading


class _TensorDict:
    """A source over an in-memory (or mmap-backed) ``{key: tensor}``."""

    def __init__(self, tensors: dict[str, "torch.Tensor"]) -> None:
        self._t = tensors

    def keys(self) -> list[str]:
        return list(self._t)

    def info(self, key: str) -> TensorInfo:
        return TensorInfo(dtype_code(self._t[key].dtype), tuple(self._t[key].shape))

    def get(self, key: str) -> "torch.Tensor":
        return self._t[key]

    def close(self) -> None:
        self._t = {}


@dataclass
class Checkpoint:
    """Lazy view of a model's tensors, whatever the file format.

    ``keys()`` (sorted), ``info(key)`` (dtype and shape, no data read), ``get(key)`` (one
    tensor), iteration yields ``(key, tensor)`` one at a time. ``kind`` is ``safetensors``,
    ``pickle`` or ``diffusers``; ``files`` are the weight files (hashed for the metadata);
    ``components`` maps a diffusers component to its weight file stem.
    """

    path: Path
    kind: str
    index: dict[str, tuple[Any, str]]
    files: list[Path]
    sources: list[Any]
    components: dict[str, str] = field(default_factory=dict)

    def keys(self) -> list[str]:
        return sorted(self.index)

    def __contains__(self, key: str) -> bool:
        return key in self.index

    def info(self, key: str) -> TensorInfo:
        source, inner = self.index[key]
        return source.info(inner)

    def get(self, key: str) -> "torch.Tensor":
        source, inner = self.index[key]
        return source.get(inner)

    def __iter__(self) -> Iterator[tuple[str, "torch.Tensor"]]:
        for key in self.keys():
            yield key, self.get(key)

    def close(self) -> None:
        for source in self.sources:
            source.close()

    def __enter__(self) -> "Checkpoint":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_checkpoint(path: str | Path, allow_pickle: bool | None = None, role: str = "model") -> Checkpoint:
    """Open a ``.safetensors`` file, a pickle (as the pickle policy allows) or a diffusers folder.

    Nothing but headers is read here. Raises :class:`ModelNotFound`,
    :class:`UnsafeModelFile` or :class:`MergeError` with a one-line message.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise ModelNotFound(f"{role} {path}: no such file or folder")
    if path.is_dir():
        return _open_diffusers(path, allow_pickle)
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        reader = SafetensorsReader(path)
        return Checkpoint(path, "safetensors", {k: (reader, k) for k in reader.keys()}, [path], [reader])
    if suffix in PICKLE_SUFFIXES:
        source = _TensorDict(trust.load_weights(path, allow_pickle))
        return Checkpoint(path, "pickle", {k: (source, k) for k in source.keys()}, [path], [source])
    raise MergeError(f"{role} {path}: unsupported model file; expected .safetensors, .ckpt or a diffusers folder")


def _component_weights(folder: Path, allow_pickle: bool | None) -> tuple[str, list[Path]] | None:
    """``(stem, files)`` of a diffusers component folder's weights, or None if it has none."""
    for stem in ("diffusion_pytorch_model", "model"):
        if (folder / f"{stem}.safetensors").is_file():
            return stem, [folder / f"{stem}.safetensors"]
        index = folder / f"{stem}.safetensors.index.json"
        if index.is_file():
            try:
                shards = sorted(set(json.loads(index.read_text("utf-8"))["weight_map"].values()))
            except (ValueError, KeyError, AttributeError):
                raise MergeError(f"{index}: not a valid shard index (no weight_map)") from None
            return stem, [folder / s for s in shards]
        if (folder / f"{stem}.fp16.safetensors").is_file():
            return stem, [folder / f"{stem}.fp16.safetensors"]
    for name, stem in (("diffusion_pytorch_model.bin", "diffusion_pytorch_model"), ("pytorch_model.bin", "model")):
        if (folder / name).is_file():
            trust.check_pickle(folder / name, allow_pickle)
            return stem, [folder / name]
    return None


def _open_diffusers(path: Path, allow_pickle: bool | None) -> Checkpoint:
    """A diffusers pipeline folder as one checkpoint with ``<component>.``-prefixed keys."""
    if not (path / "model_index.json").is_file():
        raise MergeError(f"{path}: a folder but not a diffusers pipeline (no model_index.json)")
    ckpt = Checkpoint(path, "diffusers", {}, [], [])
    try:
        for sub in sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")):
            found = _component_weights(sub, allow_pickle)
            if found is None:
                continue
            ckpt.components[sub.name] = found[0]
            for file in found[1]:
                source = _open_weight_file(file, allow_pickle)
                ckpt.sources.append(source)
                ckpt.files.append(file)
                ckpt.index.update({f"{sub.name}.{k}": (source, k) for k in source.keys()})
        if not ckpt.index:
            raise MergeError(f"{path}: diffusers folder without weight files")
    except BaseException:
        ckpt.close()
        raise
    return ckpt


def _open_weight_file(file: Path, allow_pickle: bool | None) -> Any:
    if file.suffix == ".safetensors":
        return SafetensorsReader(file)
    return _TensorDict(trust.load_weights(file, allow_pickle))


# ------------------------------------------------------------------------ layout, family


@dataclass(frozen=True)
class Layout:
    """Key naming of a layout: where the UNet lives and what its input conv is called."""

    name: str
    unet_prefix: str
    input_conv: str
    ema_prefix: str


SD_LAYOUT = Layout(
    "single-file", "model.diffusion_model.", "model.diffusion_model.input_blocks.0.0.weight", "model_ema."
)
DIFFUSERS_LAYOUT = Layout("diffusers", "unet.", "unet.conv_in.weight", "unet_ema.")

_FAMILY_MARKERS = (  # key prefix that identifies a family; first match wins
    ("conditioner.embedders.1.", "sdxl"),
    ("model.diffusion_model.label_emb.", "sdxl"),
    ("text_encoder_2.", "sdxl"),
    ("unet.add_embedding.", "sdxl"),
    ("cond_stage_model.model.", "sd2"),
    ("cond_stage_model.transformer.", "sd1"),
)
_CONTEXT_DIMS = {768: "sd1", 1024: "sd2", 2048: "sdxl"}


def detect_layout(ckpt: Checkpoint) -> Layout:
    """Single-file (``model.diffusion_model.*``) or diffusers (``unet.*``) key layout."""
    for layout in (SD_LAYOUT, DIFFUSERS_LAYOUT):
        if any(k.startswith(layout.unet_prefix) for k in ckpt.index):
            return layout
    raise MergeError(f"{ckpt.path}: no UNet weights (model.diffusion_model.* or a diffusers unet/) found")


def detect_family(ckpt: Checkpoint, layout: Layout) -> tuple[str, str]:
    """``(family, evidence)``: ``sd1``/``sd2``/``sdxl`` from marker keys, else from the
    UNet's cross-attention width (768/1024/2048); ``("unknown", "")`` if neither tells."""
    keys = ckpt.keys()
    for prefix, family in _FAMILY_MARKERS:
        hit = next((k for k in keys if k.startswith(prefix)), None)
        if hit is not None:
            return family, hit
    for key in keys:
        if key.startswith(layout.unet_prefix) and key.endswith("attn2.to_k.weight"):
            width = ckpt.info(key).shape[-1]
            return _CONTEXT_DIMS.get(width, "unknown"), f"{key} width {width}"
    return "unknown", ""


def _common_layout(models: dict[str, Checkpoint]) -> Layout:
    layouts = {role: detect_layout(m) for role, m in models.items()}
    if len({lay.name for lay in layouts.values()}) > 1:
        what = ", ".join(f"{role} {models[role].path.name} is {lay.name}" for role, lay in layouts.items())
        raise MergeError(f"the models use different layouts ({what}); convert them to one layout first")
    return layouts["inpaint_base"]


_TE_OLD, _TE_NEW = "cond_stage_model.transformer.", "cond_stage_model.transformer.text_model."


def _te_alias(key: str) -> str | None:
    """The other spelling of an SD1 text-encoder key (old transformers dropped ``text_model.``)."""
    if key.startswith(_TE_NEW):
        return _TE_OLD + key[len(_TE_NEW):]
    if key.startswith(_TE_OLD):
        return _TE_NEW + key[len(_TE_OLD):]
    return None


def align_key_names(models: dict[str, Checkpoint]) -> dict[str, int]:
    """Rename finetune/base text-encoder keys to the inpaint base's spelling
    (``cond_stage_model.transformer.[text_model.]...``); returns renames per role."""
    inp = models["inpaint_base"]
    renamed = {}
    for role in ("finetune", "base"):
        index = models[role].index
        moves = {k: a for k in index if k not in inp and (a := _te_alias(k)) in inp and a not in index}
        for old, new in moves.items():
            index[new] = index.pop(old)
        if moves:
            renamed[role] = len(moves)
    return renamed


def _common_family(models: dict[str, Checkpoint], layout: Layout) -> str:
    found = {role: detect_family(m, layout) for role, m in models.items()}
    known = {fam for fam, _ in found.values() if fam != "unknown"}
    if len(known) > 1:
        what = ", ".join(
            f"{role} {models[role].path.name} is {fam} ({ev or 'no marker key'})" for role, (fam, ev) in found.items()
        )
        raise MergeError(f"the models are from different families: {what}")
    return known.pop() if known else "unknown"


# ------------------------------------------------------------------------------ planning


@dataclass(frozen=True)
class PlanItem:
    """One output tensor: its key, the rule that makes it, and its output dtype/shape."""

    key: str
    rule: str
    out: TensorInfo


def _is_verbatim(key: str, info: TensorInfo) -> bool:
    return not info.is_float or key.endswith("position_ids") or "." not in key


def _rule(key: str, in_finetune: bool, in_base: bool, info: TensorInfo, layout: Layout) -> str:
    if _is_verbatim(key, info):
        return "verbatim"
    if key == layout.input_conv:
        return "input_conv"
    if in_finetune and in_base:
        return "merged"
    if in_finetune:
        return "unet_not_in_base" if key.startswith(layout.unet_prefix) else "from_finetune"
    return "not_in_finetune" if in_base else "inpaint_only"


def _mismatch(key: str, models: dict[str, Checkpoint], roles: tuple[str, ...], what: str = "shape") -> MergeError:
    got = ", ".join(
        f"{role} {models[role].info(key).dtype if what == 'dtype' else list(models[role].info(key).shape)}"
        for role in roles
    )
    return MergeError(f"{what} mismatch at {key}: {got}")


def _check_tensor(key: str, rule: str, models: dict[str, Checkpoint]) -> None:
    """Shapes (and float dtypes) must agree wherever two inputs are combined."""
    roles = {"merged": ROLES, "from_finetune": ("inpaint_base", "finetune")}.get(rule)
    if roles is None:
        return
    if len({models[r].info(key).shape for r in roles}) > 1:
        raise _mismatch(key, models, roles)
    if not all(models[r].info(key).is_float for r in roles):
        raise _mismatch(key, models, roles, "dtype")


def _check_input_conv(models: dict[str, Checkpoint], layout: Layout) -> None:
    """The inpaint base's input conv must be the others' plus extra input channels."""
    key = layout.input_conv
    for role, model in models.items():
        if key not in model:
            raise MergeError(f"{role} {model.path}: no UNet input conv {key}")
    f, i, b = (models[r].info(key).shape for r in ROLES)
    if f != b or len(i) != 4 or len(f) != 4 or i[0] != f[0] or i[2:] != f[2:]:
        raise _mismatch(key, models, ROLES)
    if i[1] <= f[1]:
        raise MergeError(
            f"inpaint base {models['inpaint_base'].path} is not an inpainting model: {key} has {i[1]} input "
            f"channels, the finetune {f[1]} (an inpainting UNet has 9, a regular one 4)"
        )
    if not all(models[r].info(key).is_float for r in ROLES):
        raise _mismatch(key, models, ROLES, "dtype")


def plan_merge(
    models: dict[str, Checkpoint], layout: Layout, fp16: bool = True
) -> tuple[list[PlanItem], dict[str, list[str]]]:
    """Every output tensor's rule, dtype and shape from the headers alone, plus the dropped keys.

    Raises :class:`MergeError` at the first key (inpaint base's sorted order) whose
    shapes disagree, before any tensor data is read.
    """
    fin, inp, base = (models[r] for r in ROLES)
    _check_input_conv(models, layout)
    items: list[PlanItem] = []
    dropped: dict[str, list[str]] = {"ema_dropped": [], "not_in_inpaint_base": []}
    for key in inp.keys():
        if key.startswith(layout.ema_prefix):
            dropped["ema_dropped"].append(key)
            continue
        info = inp.info(key)
        rule = _rule(key, key in fin, key in base, info, layout)
        _check_tensor(key, rule, models)
        out = info if rule == "verbatim" else TensorInfo("F16" if fp16 else "F32", info.shape)
        items.append(PlanItem(key, rule, out))
    for key in sorted((set(fin.index) | set(base.index)) - set(inp.index)):
        dropped["ema_dropped" if key.startswith(layout.ema_prefix) else "not_in_inpaint_base"].append(key)
    return items, dropped


# ----------------------------------------------------------------------------- computing


def compute_tensor(item: PlanItem, models: dict[str, Checkpoint], multiplier: float) -> "torch.Tensor":
    """The output tensor for one plan item (float32 arithmetic, then cast to ``item.out``).

    In place on one float32 copy, so about two float32 copies of the tensor are alive at a
    time (sources are never modified). Bit for bit the same as ``inp + (fin - base) * m``:
    fp16/bf16 → fp32 is exact and IEEE addition commutes.
    """
    torch = require_torch()
    fin, inp, base = (models[r] for r in ROLES)
    key = item.key
    if item.rule in ("merged", "input_conv"):
        diff = fin.get(key).to(torch.float32, copy=True)
        diff.sub_(base.get(key).float())
        diff.mul_(multiplier)
        if item.rule == "merged":
            value = diff.add_(inp.get(key).float())
        else:
            value = inp.get(key).float().clone()
            value[:, : diff.shape[1]].add_(diff)
    elif item.rule == "from_finetune":
        value = fin.get(key)
    else:
        value = inp.get(key)
    return value.to(torch_dtype(item.out.dtype))


# ------------------------------------------------------------------------------- writing


Group = tuple[Path, str, list[PlanItem]]  # output file, key prefix to strip, its items


def _output_groups(out: Path, items: list[PlanItem], inp: Checkpoint, root: Path) -> list[Group]:
    """``(file, key prefix to strip, items)`` per output file: one for a ``.safetensors``
    target, one per diffusers component (under ``root``) for a folder target."""
    if out.suffix.lower() == ".safetensors":
        return [(out, "", items)]
    groups = []
    for component, stem in inp.components.items():
        prefix = f"{component}."
        mine = [it for it in items if it.key.startswith(prefix)]
        if mine:
            groups.append((root / component / f"{stem}.safetensors", prefix, mine))
    return groups


def _write_merged(
    groups: list[Group], models: dict[str, Checkpoint], multiplier: float, metadata: dict[str, str], progress: bool
) -> int:
    """Compute and write every item, one tensor in memory at a time; returns bytes written."""
    from tqdm import tqdm

    total = sum(it.out.nbytes for _, _, items in groups for it in items)
    written = 0
    with tqdm(total=total, unit="B", unit_scale=True, desc="merging", disable=not progress,
              file=sys.stderr, dynamic_ncols=True) as bar:
        for path, prefix, items in groups:
            with StreamWriter(path, [(it.key[len(prefix):], it.out) for it in items], metadata) as writer:
                for it in items:
                    writer.write(it.key[len(prefix):], compute_tensor(it, models, multiplier))
                    bar.update(it.out.nbytes)
            written += writer.bytes_written
    return written


def _conversion(models: dict[str, Checkpoint], family: str, items: list[PlanItem]) -> list[Converted]:
    """How diffusers-layout items become original single-file keys (checked before any data is read)."""
    inp = models["inpaint_base"]
    if family not in ("sd1", "sdxl", "unknown"):
        raise MergeError(f"{inp.path}: {family} diffusers folders can only be merged into a folder; give -o a folder path")
    configs = {}
    for component in ("unet", "vae"):
        try:
            configs[component] = json.loads((inp.path / component / "config.json").read_text("utf-8"))
        except (OSError, ValueError):
            configs[component] = {}
    try:
        plan, _ = conversion_plan([it.key for it in items], family, configs["unet"], configs["vae"])
    except (KeyError, IndexError, ValueError) as exc:
        raise MergeError(
            f"{inp.path}: key {exc.args[0] if exc.args else '?'} has no name in the original single-file layout; "
            "give -o a folder path to write a diffusers folder"
        ) from None
    return plan


def _converted_info(c: Converted, by_key: dict[str, PlanItem]) -> TensorInfo:
    first = by_key[c.sources[0]].out
    shape = first.shape
    if c.how == "conv1x1":
        shape = (*shape, 1, 1)
    elif c.how == "cat0":
        shape = (sum(by_key[s].out.shape[0] for s in c.sources), *shape[1:])
    elif c.how == "transpose":
        shape = shape[::-1]
    return TensorInfo(first.dtype, tuple(shape))


def _stream_converted(
    out: Path, plan: list[Converted], items: list[PlanItem], models: dict[str, Checkpoint], multiplier: float,
    metadata: dict[str, str], progress: bool,
) -> int:
    """Like :func:`_write_merged`, writing each item under its original single-file name (q/k/v fused,
    1×1 convs, transposed projections as :mod:`.sd_keys` says), one output tensor at a time."""
    from tqdm import tqdm

    torch = require_torch()
    by_key = {it.key: it for it in items}
    entries = [(c.name, _converted_info(c, by_key)) for c in plan]
    with tqdm(total=sum(info.nbytes for _, info in entries), unit="B", unit_scale=True, desc="merging",
              disable=not progress, file=sys.stderr, dynamic_ncols=True) as bar, \
            StreamWriter(out, entries, metadata) as writer:
        for c, (name, info) in zip(plan, entries):
            parts = [compute_tensor(by_key[s], models, multiplier) for s in c.sources]
            if c.how == "cat0":
                value = torch.cat(parts, 0)
            elif c.how == "transpose":
                value = parts[0].t().contiguous()
            else:
                value = parts[0].reshape(info.shape)
            writer.write(name, value)
            bar.update(info.nbytes)
    return writer.bytes_written


def _copy_configs(src: Path, dst: Path) -> None:
    """Copy a diffusers folder's non-weight files (configs, tokenizers, scheduler); hidden
    paths (``.git``, ``.cache``) are skipped."""
    for file in sorted(src.rglob("*")):
        name, rel = file.name.lower(), file.relative_to(src)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if file.is_file() and not name.endswith(WEIGHT_SUFFIXES) and not name.endswith(".index.json"):
            target = dst / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(file, target)


def _write_output(
    out: Path,
    items: list[PlanItem],
    models: dict[str, Checkpoint],
    multiplier: float,
    metadata: dict[str, str],
    progress: bool,
    plan: list[Converted] | None = None,
) -> int:
    """Write a single file (atomically, by :class:`StreamWriter`; converted to original key
    names when ``plan`` is given) or a diffusers folder (built in a temp folder next to
    ``out``, renamed into place at the end)."""
    inp = models["inpaint_base"]
    if plan is not None:
        return _stream_converted(out, plan, items, models, multiplier, metadata, progress)
    if out.suffix.lower() == ".safetensors":
        return _write_merged(_output_groups(out, items, inp, out.parent), models, multiplier, metadata, progress)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}{TMP_MARK}", dir=out.parent))
    try:
        _copy_configs(inp.path, tmp)
        written = _write_merged(_output_groups(out, items, inp, tmp), models, multiplier, metadata, progress)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return written


def _check_args(paths: dict[str, Path], out: Path, multiplier: float, layout: Layout | None = None) -> None:
    if not math.isfinite(multiplier):
        raise ConfigError(f"multiplier must be a finite number, got {multiplier}")
    if any(out.resolve() == p.resolve() for p in paths.values()):
        raise ConfigError(f"output {out} is one of the inputs; choose another path")
    if layout is None:
        return
    if layout is SD_LAYOUT and out.suffix.lower() != ".safetensors":
        raise ConfigError(f"output {out} must end in .safetensors")
    if out.suffix.lower() != ".safetensors" and out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"output folder {out} already exists and is not empty; choose a new one")
    if out.suffix.lower() != ".safetensors" and not paths["inpaint_base"].expanduser().is_dir():
        raise ConfigError(f"output {out} must end in .safetensors (the inpaint base is not a diffusers folder)")


# -------------------------------------------------------------------------------- report


@dataclass
class MergeReport:
    """What :func:`make_inpaint` did: inputs and hashes, and which keys each rule covered."""

    output: Path
    multiplier: float
    dtype: str
    family: str
    layout: str
    inputs: dict[str, dict[str, str]]
    rules: dict[str, list[str]]
    renamed: dict[str, int] = field(default_factory=dict)
    bytes_written: int = 0
    seconds: float = 0.0
    formula: str = FORMULA

    def counts(self) -> dict[str, int]:
        """Number of keys per rule (every rule, zeros included)."""
        return {rule: len(self.rules.get(rule, [])) for rule in RULES}

    def summary_lines(self, examples: int = 2) -> list[str]:
        """Human-readable lines: output, inputs with hashes, then per used rule its count and
        meaning, and an indented line of example keys."""
        n = sum(len(v) for r, v in self.rules.items() if r not in ("ema_dropped", "not_in_inpaint_base"))
        lines = [
            f"wrote {self.output} ({self.family}, {self.layout}, {n} tensors, {_size(self.bytes_written)}, "
            f"{'float16' if self.dtype == 'F16' else 'float32'}) in {self.seconds:.1f} s",
            f"formula: {self.formula.replace('multiplier', repr(self.multiplier))}",
        ]
        lines += [f"{role:<13} sha256 {info['sha256'][:12]}  {info['path']}" for role, info in self.inputs.items()]
        lines += [
            f"{role}: {count} text-encoder keys renamed to the inpaint base's spelling"
            for role, count in self.renamed.items()
        ]
        for rule, count in self.counts().items():
            if count:
                keys = self.rules[rule]
                more = ", ..." if count > examples else ""
                lines.append(f"{rule:<20}{count:>6}  {RULES[rule]}")
                lines.append(f"{'':<28}e.g. {', '.join(keys[:examples])}{more}")
        return lines

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict: settings, inputs, counts and the full key list per rule."""
        return {
            "output": str(self.output), "formula": self.formula, "multiplier": self.multiplier,
            "dtype": self.dtype, "family": self.family, "layout": self.layout, "inputs": self.inputs,
            "counts": self.counts(), "rules": self.rules, "renamed": self.renamed, "bytes_written": self.bytes_written,
            "seconds": round(self.seconds, 3),
        }

    def to_json(self) -> str:
        """:meth:`as_dict` as indented JSON text."""
        return json.dumps(self.as_dict(), indent=2, sort_keys=False, ensure_ascii=False)


def _size(n: int) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e9 else f"{n / 1e6:.1f} MB"


def _rules_of(items: list[PlanItem], dropped: dict[str, list[str]]) -> dict[str, list[str]]:
    rules: dict[str, list[str]] = {rule: [] for rule in RULES}
    for it in items:
        rules[it.rule].append(it.key)
    for rule, keys in dropped.items():
        rules[rule].extend(keys)
    return rules


def merge_metadata(
    inputs: dict[str, dict[str, str]], multiplier: float, dtype: str, family: str, counts: dict[str, int]
) -> dict[str, str]:
    """The output's ``__metadata__`` (all values strings, as safetensors requires)."""
    meta = {
        "format": "pt", "autofix.version": __version__, "autofix.merge.formula": FORMULA,
        "autofix.merge.multiplier": repr(float(multiplier)), "autofix.merge.dtype": dtype,
        "autofix.merge.family": family, "autofix.merge.rules": json.dumps(counts, sort_keys=True),
    }
    for role, info in inputs.items():
        meta[f"autofix.merge.{role}"] = Path(info["path"]).name
        meta[f"autofix.merge.{role}.sha256"] = info["sha256"]
    return meta


# ---------------------------------------------------------------------------------- API


def make_inpaint(
    finetune: str | Path,
    inpaint_base: str | Path,
    base: str | Path,
    out: str | Path,
    multiplier: float = 1.0,
    fp16: bool = True,
    allow_pickle: bool | None = None,
    progress: bool = True,
) -> MergeReport:
    """Write ``inpaint_base + (finetune - base) * multiplier`` to ``out`` (see the module doc).

    All checks (files readable, pickles allowed, one layout, one family, shapes) run on
    the headers before any tensor is read; then the inputs are hashed and the output is
    streamed tensor by tensor. Returns a :class:`MergeReport`.
    """
    start = time.monotonic()
    paths = {r: Path(p).expanduser() for r, p in zip(ROLES, (finetune, inpaint_base, base))}
    out = Path(out).expanduser()
    _check_args(paths, out, float(multiplier))
    with contextlib.ExitStack() as stack:
        models = {r: stack.enter_context(open_checkpoint(p, allow_pickle, r)) for r, p in paths.items()}
        layout = _common_layout(models)
        family = _common_family(models, layout)
        renamed = align_key_names(models) if layout is SD_LAYOUT else {}
        _check_args(paths, out, float(multiplier), layout)
        items, dropped = plan_merge(models, layout, fp16)
        to_single = layout is DIFFUSERS_LAYOUT and out.suffix.lower() == ".safetensors"
        plan = _conversion(models, family, items) if to_single else None
        inputs = {
            r: {"path": str(m.path), "kind": m.kind, "sha256": model_sha256(m.path, progress, r)}
            for r, m in models.items()
        }
        rules = _rules_of(items, dropped)
        dtype = "F16" if fp16 else "F32"
        report = MergeReport(out, float(multiplier), dtype, family, layout.name, inputs, rules, renamed)
        metadata = merge_metadata(inputs, multiplier, dtype, family, report.counts())
        report.bytes_written = _write_output(out, items, models, float(multiplier), metadata, progress, plan)
    report.seconds = time.monotonic() - start
    return report
