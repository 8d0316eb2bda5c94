"""Typed run configuration (pydantic v2): presets, YAML files and CLI overrides.

Every model forbids unknown keys and range-checks numbers, so a typo in a preset fails
loudly instead of being ignored. :func:`config_hash` is the sha256 of the canonical JSON
dump; it is saved with every run and keys every stage snapshot.
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .choices import (
    ClassicalMethod,
    ControlType,
    CropArea,
    CropLarge,
    Dtype,
    InpainterBackend,
    MaskedContent,
    MaskMerge,
    MaskShape,
    Order,
    OutputFormat,
    PromptRule,
    Refine,
    ResizeMode,
    TopKBy,
)
from .errors import ConfigError, show_path

Unit = Annotated[float, Field(ge=0.0, le=1.0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DetectorConfig(_Strict):
    """Which detector finds this stage's regions.

    ``backend`` is a detector registry name (``mediapipe_face``, ``mediapipe_hands``,
    ``yolo``, ``prompt``). A string ``"backend:model"`` is accepted as shorthand, e.g.
    ``"yolo:models/face_yolov8n.pt"`` or ``"mediapipe_face:full"``.
    """

    backend: str
    model: str | None = None
    classes: list[str] | None = Field(None, description="keep only these class names (YOLO)")
    label: str | None = Field(None, description="relabel every detection as this class")
    refine: Refine = "none"
    refine_model: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, str):
            backend, _, model = value.partition(":")
            return {"backend": backend, "model": model or None}
        return value


class FilterConfig(_Strict):
    """Which detections become regions, and in what order."""

    confidence: Unit = 0.3
    min_area_ratio: Unit = 0.0
    max_area_ratio: Unit = 1.0
    top_k: Annotated[int, Field(ge=0, le=100)] = 0
    top_k_by: TopKBy = "area"
    order: Order = "left_to_right"
    drop_size: Annotated[int, Field(ge=0, le=4096)] = Field(
        0, description="drop detections whose box is narrower or shorter than this many pixels "
        "(Impact-Pack's drop_size, default 10 there; 0 = keep all)")

    @model_validator(mode="after")
    def _ratio_order(self) -> "FilterConfig":
        if self.min_area_ratio > self.max_area_ratio:
            raise ValueError(
                f"min_area_ratio ({self.min_area_ratio}) must not exceed max_area_ratio ({self.max_area_ratio})"
            )
        return self


class MaskConfig(_Strict):
    """How a detection becomes a mask. Pixel sizes are in input-image pixels."""

    shape: MaskShape = Field(
        "auto", description="auto: the detector's own mask if it has one; else MediaPipe hands' 21 landmarks "
        "(fingers + palm), a MediaPipe face's mesh (hairline to chin; the ellipse of the box when the mesh "
        "is not confirmed); else the box"
    )
    dilate: Annotated[int, Field(ge=-128, le=256)] = 4
    wrist_extension: Annotated[float, Field(ge=0.0, le=2.0)] = Field(
        0.0, description="hands: grow the mask past the wrist by this fraction of the hand's size"
    )
    blur: Annotated[int, Field(ge=0, le=128)] = 8
    merge: MaskMerge = "separate"
    invert: bool = Field(False, description="repaint everything except the stage's regions: the complement "
                         "of the union of its masks (one region), never of each mask on its own")


class CropConfig(_Strict):
    """The crop each region is repainted in: only masked (default) or the whole picture.

    ``area: whole`` is A1111's "Inpaint area: Whole picture": the model sees the whole image
    resized to ``whole_size`` (default: the image's aspect at about ``resolution²``, sides
    multiples of 8) following ``resize_mode``, and only the masked pixels are composited back.
    """

    padding: Annotated[int, Field(ge=0, le=1024)] = 32
    resolution: Annotated[int, Field(ge=64, le=2048, multiple_of=8)] = Field(
        512, description="generative inpainters: crops are processed at aspect buckets of about "
        "resolution² (sides multiples of 64); classical ones work at the crop's own size")
    large: CropLarge = Field(
        "keep", description="a window larger than its bucket: keep its detail (process at the bucket's "
        "aspect scaled up, long side <= max_side) or downscale it to the bucket")
    max_side: Annotated[int, Field(ge=64, le=4096, multiple_of=64)] | None = Field(
        None, description="longest processing side for large windows and guide_size upscaling "
        "(Impact-Pack's max_size; default 2 x resolution)")
    area: CropArea = Field(
        "masked", description="inpaint area: masked = only-masked crops (default); whole = the whole picture, "
        "resized to whole_size (A1111 'Whole picture'); only masked pixels are composited either way")
    whole_size: tuple[Annotated[int, Field(ge=64, le=4096, multiple_of=8)],
                      Annotated[int, Field(ge=64, le=4096, multiple_of=8)]] | None = Field(
        None, description="area whole: the model's canvas [width, height] (A1111 Width/Height); "
        "default: the image's aspect at about resolution² (sides multiples of 8)")
    resize_mode: ResizeMode = Field(
        "just_resize", description="area whole with a whole_size of another aspect: stretch (just_resize), "
        "cover and cut the centre (crop_and_resize: masks outside it are not repainted), or fit and pad "
        "with the stretched edges (resize_and_fill), as A1111")
    crop_factor: Annotated[float, Field(ge=1.0, le=10.0)] | None = Field(
        None, description="context proportional to the region: the crop is the mask's box times this "
        "factor around its centre, shifted inside the image (Impact-Pack's crop_factor, 3.0 in FaceDetailer); "
        "replaces padding when set (default: unset, padding applies)")
    guide_size: Annotated[int, Field(ge=8, le=8192)] | None = Field(
        None, description="Impact-Pack's guide_size (512 there; default: unset, crops are sized by resolution "
        "and buckets): generative inpainters process a smaller region's crop upscaled so the detection box's "
        "shorter side becomes about this many pixels (crop longer side <= max_side); a region whose shorter "
        "side is already at least this is not repainted unless force_inpaint")
    force_inpaint: bool = Field(False, description="repaint regions at or above guide_size anyway")


class RegionPrompt(_Strict):
    """A prompt for some regions of a stage, chosen by order or by rule.

    Exactly one selector: ``index`` (the region's position in the stage's order, 0-based)
    or ``rule`` (``largest``/``smallest`` by mask area, ``leftmost``/``rightmost`` by box
    centre, ``most_confident``). The first matching entry wins.
    """

    index: Annotated[int, Field(ge=0)] | None = None
    rule: PromptRule | None = None
    prompt: str
    negative_prompt: str | None = None

    @model_validator(mode="after")
    def _one_selector(self) -> "RegionPrompt":
        if (self.index is None) == (self.rule is None):
            raise ValueError("give exactly one of index or rule")
        return self


class ControlNetUnit(_Strict):
    """One ControlNet on a stage's crops (diffusion inpainter only; see autofix.inpaint.controlnet).

    ``model``: a diffusers ControlNet folder or a single ``.safetensors`` (A1111
    ``models/ControlNet``, ComfyUI ``models/controlnet``) for the base model's family.
    ``type``: the control image, built from each crop: ``inpaint``, ``tile``, ``canny``,
    ``openpose`` (the region's MediaPipe landmarks); ``depth``/``lineart``/``softedge`` need an
    annotator model autofix does not ship, so they take ``image``: a control image made
    elsewhere (a file used for every input, or a folder with one per input under the input's
    relative path), the input's size, cut and resized with each crop. ``weight`` is the
    conditioning scale, ``start``/``end`` the fraction of the steps it guides.
    """

    model: str
    type: ControlType = "inpaint"
    weight: Annotated[float, Field(ge=0.0, le=2.0)] = 1.0
    start: Unit = 0.0
    end: Unit = 1.0
    image: str | None = None

    @model_validator(mode="after")
    def _usable(self) -> "ControlNetUnit":
        if self.type in ("depth", "lineart", "softedge") and not self.image:
            raise ValueError(f"control type {self.type!r} needs an annotator model autofix does not ship: give "
                             "its control image (controlnet[].image, a file or a folder of one per input), "
                             "or use inpaint, tile, canny or openpose")
        if self.start >= self.end:
            raise ValueError(f"control start ({self.start}) must be below end ({self.end})")
        return self


class InpaintParams(_Strict):
    """Per-stage inpainting parameters. Generative backends use all; classical ones ignore text.

    ``prompt``/``negative_prompt`` may contain ``{prompt}``/``{negative_prompt}``, replaced by
    the image's own prompt when there is one (A1111 ``parameters`` / ComfyUI metadata, or the
    txt2img call for the diffusers hook) and by nothing otherwise.
    """

    prompt: str = "{prompt}"
    negative_prompt: str = "{negative_prompt}"
    region_prompts: list[RegionPrompt] = []
    strength: Annotated[float, Field(gt=0.0, le=1.0)] = 0.4
    steps: Annotated[int, Field(ge=1, le=150)] = 20
    cfg: Annotated[float, Field(ge=0.0, le=30.0)] = 7.0
    #: base seed: region i uses seed + i; -1 draws a fresh random seed per region (recorded);
    #: "image" uses the generation's own seed + i (A1111/ADetailer), see autofix.meta.inherit.
    seed: Union[Annotated[int, Field(ge=-1, le=2**64 - 1)], Literal["image"]] = 0
    candidates: Annotated[int, Field(ge=1, le=16)] = 1
    masked_content: MaskedContent = "original"
    #: sampler in A1111/ComfyUI/InvokeAI spelling ("DPM++ 2M Karras"), "image" for the
    #: generation's own, or None for the model's default (see autofix.inpaint.samplers).
    scheduler: str | None = None
    #: ControlNets guiding this stage's crops (diffusion inpainter only), applied together.
    controlnet: list[ControlNetUnit] = []

    @model_validator(mode="after")
    def _denoises(self) -> "InpaintParams":
        # diffusers runs int(steps × strength) denoising steps: 0 would fail on every image,
        # so it is a config error, reported once before any image.
        if int(self.steps * self.strength) < 1:
            raise ValueError(f"steps {self.steps} x strength {self.strength} leaves no denoising step "
                             f"(int(steps x strength) = 0); raise steps or strength")
        if self.masked_content != "original" and self.strength >= 1.0:
            raise ValueError(f"masked_content {self.masked_content!r} does nothing at strength 1.0 (the "
                             "masked area starts from pure noise); lower strength (e.g. 0.9) or use original")
        return self


class StageConfig(_Strict):
    """One progressive pass: detect on the current image, plan, inpaint, composite."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")]
    label: str = Field(description="the class this stage fixes, e.g. face, hand, object")
    detector: DetectorConfig
    filters: FilterConfig = FilterConfig()
    mask: MaskConfig = MaskConfig()
    crop: CropConfig = CropConfig()
    inpaint: InpaintParams = InpaintParams()
    classical_ok: bool = Field(
        False,
        description="with inpainter backend auto, let the classical inpainter repaint this "
        "stage when no diffusion model is configured (right for small objects, wrong for faces/hands)",
    )


class InpainterConfig(_Strict):
    """Which inpainting backend repaints the crops.

    ``auto`` uses a diffusion model when ``model`` is set and otherwise repaints nothing
    generative: faces and hands are detected, planned and snapshotted but left as they
    are ("not repainted: no diffusion model"); ``remove``-style stages use the classical
    backend. ``classical`` repaints everything with OpenCV. ``none`` never repaints.
    """

    backend: InpainterBackend = "auto"
    model: str | None = None
    model_dir: str | None = None
    classical_method: ClassicalMethod = Field(
        "telea", description="classical fill: telea/ns (OpenCV, for thin scratches), patchmatch (texture from "
        "the crop, for objects), auto (telea for thin strokes, patchmatch otherwise; the remove preset's)")
    classical_radius: Annotated[int, Field(ge=1, le=64)] = 5
    device: str | None = None
    allow_pickle: bool = False
    max_batch: Annotated[int, Field(ge=1, le=64)] = Field(8, description="most crops per diffusion pipeline call")
    dtype: Dtype = "auto"
    cpu_offload: bool = False
    safety_checker: bool = False
    config_dir: str | None = Field(None, description="architecture folder for single-file checkpoints "
                                   "(default: the shipped SD1.5/SDXL config matching the file)")


class OutputConfig(_Strict):
    """How final images are written."""

    format: OutputFormat = "same"
    jpeg_quality: Annotated[int, Field(ge=1, le=100)] = 95
    png_compression: Annotated[int, Field(ge=0, le=9)] = Field(
        1, description="zlib level of PNG outputs: 1 is fast (default), 9 smallest; pixels are identical")


class InputConfig(_Strict):
    """Limits on what is accepted as input."""

    max_pixels: Annotated[int, Field(ge=1, le=2**31)] = 89_478_485


class RunConfig(_Strict):
    """Everything that decides a run's output. Its hash keys the stage snapshots."""

    preset: str | None = None
    stages: Annotated[list[StageConfig], Field(min_length=1)]
    inpainter: InpainterConfig = InpainterConfig()
    output: OutputConfig = OutputConfig()
    input: InputConfig = InputConfig()

    @field_validator("stages")
    @classmethod
    def _unique_names(cls, stages: list[StageConfig]) -> list[StageConfig]:
        names = [s.name for s in stages]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"stage names must be unique, repeated: {', '.join(dupes)}")
        return stages


def canonical_json(obj: Any) -> str:
    """Deterministic JSON (sorted keys, no spaces) used for hashing."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def config_hash(config: BaseModel) -> str:
    """sha256 hex of the canonical JSON dump of ``config``."""
    return hashlib.sha256(canonical_json(config.model_dump(mode="json")).encode()).hexdigest()


def _presets_dir() -> Any:
    """The shipped presets: package data ``autofix.configs`` when installed, else the
    repository's ``configs/`` (running from a source checkout)."""
    try:
        return resources.files("autofix.configs")
    except ModuleNotFoundError:
        return Path(__file__).resolve().parent.parent / "configs"


def preset_names() -> list[str]:
    """Names of the presets shipped in ``configs/``."""
    return sorted(p.name[:-5] for p in _presets_dir().iterdir() if p.name.endswith(".yaml"))


def _read_yaml(text: str, origin: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{origin}: not valid YAML ({str(exc).splitlines()[0]})") from None
    except RecursionError:
        raise ConfigError(f"{origin}: YAML nested too deeply") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: expected a mapping at the top level")
    return data


def preset_dict(name: str) -> dict[str, Any]:
    """The raw mapping of a shipped preset."""
    if name not in preset_names():
        raise ConfigError(f"unknown preset {name!r}; choose one of: {', '.join(preset_names())}")
    text = _presets_dir().joinpath(f"{name}.yaml").read_text("utf-8")
    data = _read_yaml(text, f"preset {name}")
    data.setdefault("preset", name)
    return data


def file_dict(path: str | Path) -> dict[str, Any]:
    """The raw mapping of a YAML config file."""
    p = Path(path)
    try:
        text = p.read_text("utf-8")
    except OSError as exc:
        raise ConfigError(f"{show_path(p)}: cannot read config ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{show_path(p)}: not a UTF-8 text file") from None
    return _read_yaml(text, show_path(p))


def _coerce_scalar(text: str, parts: list[str] | None = None, origin: str = "") -> Any:
    """An override's value: YAML (``8`` → int, ``true`` → bool, ``[a, b]`` → list), except
    for text fields (prompts, labels, names, model paths), which take the text as written
    (``{prompt}, detailed face`` stays a string) unless it is one quoted YAML string."""
    if not text.strip():
        return ""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        value = exc
    except RecursionError:
        raise ConfigError(f"override {origin!r}: value nested too deeply") from None
    if parts is not None and _text_field(parts):
        quoted = text.strip()[:1] in ("'", '"')
        if isinstance(value, str) and quoted:
            return value
        return None if value is None and _text_field(parts) == "optional" else text
    if isinstance(value, yaml.YAMLError):
        raise ConfigError(f"override {origin!r}: value is not valid YAML ({str(value).splitlines()[0]})")
    return value


def _text_field(parts: list[str]) -> str | None:
    """``"text"`` if the dotted path ends at a ``str`` field of :class:`RunConfig`,
    ``"optional"`` for ``str | None``, else ``None``."""
    node: Any = RunConfig
    for part in parts:
        node = _unwrap(node)
        if get_origin(node) is list:
            node = get_args(node)[0]  # this part (``*``, an index or a name) picks list items
            continue
        if not (isinstance(node, type) and issubclass(node, BaseModel)) or part not in node.model_fields:
            return None
        node = node.model_fields[part].annotation
    node = _unwrap(node)
    if node is str:
        return "text"
    args = set(get_args(node)) if get_origin(node) in (Union, UnionType) else set()
    return "optional" if args == {str, type(None)} else None


def _unwrap(node: Any) -> Any:
    while get_origin(node) is Annotated:
        node = get_args(node)[0]
    return node


def apply_override(data: dict[str, Any], assignment: str) -> None:
    """Apply one ``dotted.path=value`` override in place.

    ``stages.*.mask.blur=8`` sets the key in every stage; ``stages.hands.crop.padding=64``
    addresses a stage by name; ``stages.0...`` by position. Values are parsed as YAML
    scalars (``8`` → int, ``true`` → bool, ``[a, b]`` → list).
    """
    key, sep, raw = assignment.partition("=")
    if not sep or not key:
        raise ConfigError(f"override {assignment!r} is not of the form key=value")
    parts = key.split(".")
    _assign(data, parts, _coerce_scalar(raw, parts, assignment), assignment)


def _assign(node: Any, parts: list[str], value: Any, origin: str) -> None:
    head, rest = parts[0], parts[1:]
    if isinstance(node, list):
        targets = _list_targets(node, head, origin)
    elif isinstance(node, dict):
        if not rest:
            node[head] = value
            return
        node.setdefault(head, {})
        targets = [node[head]]
    else:
        raise ConfigError(f"override {origin!r}: {head!r} is not inside a mapping or list")
    for target in targets:
        if rest:
            _assign(target, rest, value, origin)
        else:
            raise ConfigError(f"override {origin!r}: cannot replace a whole list item")


def _list_targets(node: list[Any], head: str, origin: str) -> list[Any]:
    if head == "*":
        return list(node)
    if head.isdigit() and int(head) < len(node):
        return [node[int(head)]]
    named = [item for item in node if isinstance(item, dict) and item.get("name") == head]
    if not named:
        raise ConfigError(f"override {origin!r}: no list item {head!r}")
    return named


def build_config(
    preset: str | None = "faces+hands",
    file: str | Path | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    patch: dict[str, Any] | None = None,
) -> RunConfig:
    """Load a preset or YAML file, apply ``patch`` (nested mapping) and ``overrides``, validate.

    ``file`` wins over ``preset``. Raises :class:`ConfigError` with a one-line message.
    """
    data = file_dict(file) if file is not None else preset_dict(preset or "faces+hands")
    if patch:
        _merge(data, patch)
    for assignment in overrides:
        apply_override(data, assignment)
    return validate_config(data, origin=show_path(file) if file else f"preset {data.get('preset')}")


def _merge(base: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value


def validate_config(data: dict[str, Any], origin: str = "config") -> RunConfig:
    """Validate a raw mapping into a :class:`RunConfig`; errors become one line."""
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top)"
        more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ConfigError(f"{origin}: {where}: {first['msg']}{more}") from None
