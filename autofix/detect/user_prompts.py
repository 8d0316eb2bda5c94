"""User prompts — boxes and clicks — and the ``prompt`` detector that turns them into regions.

Formats (pixels of the input image, ``x`` right, ``y`` down; boxes are ``x0,y0,x1,y1``
with ``x1``/``y1`` exclusive):

* ``--box x0,y0,x1,y1`` and ``--point x,y`` / ``x,y:neg`` / ``x,y:pos`` (CLI strings).
* Prompts file, JSON — a mapping ``{"relpath": {"boxes": [[x0,y0,x1,y1], ...],
  "points": [[x, y, 1|0], ...]}}`` (a point's label may be omitted: 1), or a list
  ``[{"path": "relpath", "boxes": [...], "points": [...]}, ...]`` where ``"box": [...]``
  and ``"point": [...]`` are accepted for single items and repeated paths are merged.
* Prompts file, CSV (``.csv``) — one prompt per row: ``path,x0,y0,x1,y1`` is a box,
  ``path,x,y,label`` a click (label ``1``/``0``/``pos``/``neg``), ``path,x,y`` a positive
  click. A first row starting with ``path`` is a header; blank rows and ``#`` rows are
  skipped.

``relpath`` is the image's path relative to the input folder, with ``/`` separators.

Validation against the image (:func:`validate_prompts`): a box with zero/negative area or
no overlap with the image, or a point outside it, raises :class:`PromptError` (a one-line
``ValueError``) naming the file and the prompt; a box partly outside is clipped.

Grouping (:func:`group_prompts`): each click belongs to the smallest box containing it;
clicks inside no box form one extra prompt together (one object). A negative click with
no box and no positive click to go with it is an error.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from ..config import DetectorConfig
from ..errors import ConfigError, PromptError, show_path
from ..types import Box, Detection
from .base import DETECTORS, check_image

Point = tuple[float, float, int]
_LABELS = {"1": 1, "0": 0, "pos": 1, "neg": 0, "+": 1, "-": 0}


@dataclass(frozen=True)
class ImagePrompts:
    """Boxes and clicks for one image. Points are ``(x, y, label)``, label 1 = object."""

    boxes: tuple[Box, ...] = ()
    points: tuple[Point, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.boxes or self.points)

    def merged(self, other: "ImagePrompts") -> "ImagePrompts":
        return ImagePrompts(self.boxes + other.boxes, self.points + other.points)


# ---------------------------------------------------------------- parsing


def _numbers(parts: Sequence[Any], what: str) -> list[float]:
    try:
        values = [float(p) for p in parts]
    except (TypeError, ValueError):
        raise PromptError(f"{what}: expected numbers") from None
    if not all(math.isfinite(v) for v in values):
        raise PromptError(f"{what}: numbers must be finite")
    return values


def _label(value: Any, what: str) -> int:
    key = str(value).strip().lower()
    if key.endswith(".0"):
        key = key[:-2]
    if key not in _LABELS:
        raise PromptError(f"{what}: label must be 1/0 or pos/neg, got {value!r}")
    return _LABELS[key]


def parse_box(text: str) -> Box:
    """``"x0,y0,x1,y1"`` → a box. Raises :class:`PromptError` naming the text."""
    parts = [p.strip() for p in str(text).split(",")]
    if len(parts) != 4:
        raise PromptError(f"bad box {text!r}: expected x0,y0,x1,y1")
    x0, y0, x1, y1 = _numbers(parts, f"bad box {text!r}")
    return (x0, y0, x1, y1)


def parse_point(text: str) -> Point:
    """``"x,y"``, ``"x,y:pos"`` or ``"x,y:neg"`` → ``(x, y, label)``."""
    coords, sep, tag = str(text).partition(":")
    parts = [p.strip() for p in coords.split(",")]
    if len(parts) != 2:
        raise PromptError(f"bad point {text!r}: expected x,y or x,y:neg")
    x, y = _numbers(parts, f"bad point {text!r}")
    return (x, y, _label(tag, f"bad point {text!r}") if sep else 1)


def prompts_from_args(boxes: Iterable[str] = (), points: Iterable[str] = ()) -> ImagePrompts:
    """Prompts from repeated ``--box`` / ``--point`` CLI values."""
    return ImagePrompts(tuple(parse_box(b) for b in boxes), tuple(parse_point(p) for p in points))


def _norm_key(path: Any) -> str:
    key = str(path).strip().replace("\\", "/")
    while key.startswith("./"):
        key = key[2:]
    return key


def load_prompts_file(path: str | Path) -> dict[str, ImagePrompts]:
    """Read a JSON or CSV prompts file (see the module docstring) → ``{relpath: prompts}``."""
    p = Path(path)
    try:
        text = p.read_text("utf-8-sig")  # tolerate the byte-order mark Excel writes
    except (OSError, UnicodeDecodeError) as exc:
        raise PromptError(f"{show_path(p)}: cannot read prompts file ({getattr(exc, 'strerror', None) or exc})") from None
    if p.suffix.lower() == ".csv":
        return _parse_csv(text, p)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PromptError(f"{show_path(p)}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    except RecursionError:
        raise PromptError(f"{show_path(p)}: JSON nested too deeply") from None
    return _parse_json(data, p)


def _parse_json(data: Any, p: Path) -> dict[str, ImagePrompts]:
    if isinstance(data, dict):
        items = [(key, value) for key, value in data.items()]
    elif isinstance(data, list):
        items = [(_entry_path(e, p, i), e) for i, e in enumerate(data)]
    else:
        raise PromptError(f"{show_path(p)}: expected a JSON object or list of prompts")
    out: dict[str, ImagePrompts] = {}
    for key, value in items:
        prompts = _json_prompts(value, f"{show_path(p)}: {show_path(key)}")
        k = _norm_key(key)
        out[k] = out[k].merged(prompts) if k in out else prompts
    return out


def _entry_path(entry: Any, p: Path, index: int) -> str:
    if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
        raise PromptError(f'{show_path(p)}: item {index} needs a "path" string')
    return entry["path"]


def _json_prompts(value: Any, where: str) -> ImagePrompts:
    if not isinstance(value, dict):
        raise PromptError(f'{where}: expected an object with "boxes"/"points"')
    unknown = set(value) - {"path", "boxes", "points", "box", "point"}
    if unknown:
        raise PromptError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    boxes = list(value.get("boxes") or []) + ([value["box"]] if "box" in value else [])
    points = list(value.get("points") or []) + ([value["point"]] if "point" in value else [])
    return ImagePrompts(tuple(_json_box(b, where) for b in boxes), tuple(_json_point(q, where) for q in points))


def _json_box(item: Any, where: str) -> Box:
    if not isinstance(item, (list, tuple)) or len(item) != 4:
        raise PromptError(f"{where}: box {item!r} is not [x0, y0, x1, y1]")
    x0, y0, x1, y1 = _numbers(item, f"{where}: box {item!r}")
    return (x0, y0, x1, y1)


def _json_point(item: Any, where: str) -> Point:
    if not isinstance(item, (list, tuple)) or len(item) not in (2, 3):
        raise PromptError(f"{where}: point {item!r} is not [x, y] or [x, y, 1|0]")
    x, y = _numbers(item[:2], f"{where}: point {item!r}")
    return (x, y, _label(item[2], f"{where}: point {item!r}") if len(item) == 3 else 1)


def _parse_csv(text: str, p: Path) -> dict[str, ImagePrompts]:
    out: dict[str, ImagePrompts] = {}
    for lineno, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        cells = [c.strip() for c in row]
        if not cells or not any(cells) or cells[0].startswith("#"):
            continue
        if lineno == 1 and cells[0].lower() == "path":
            continue
        key, prompts = _csv_row(cells, f"{show_path(p)}:{lineno}")
        out[key] = out[key].merged(prompts) if key in out else prompts
    return out


def _csv_row(cells: list[str], where: str) -> tuple[str, ImagePrompts]:
    key, rest = _norm_key(cells[0]), cells[1:]
    if not key:
        raise PromptError(f"{where}: empty path")
    if len(rest) == 4:
        x0, y0, x1, y1 = _numbers(rest, f"{where}: box {','.join(rest)}")
        return key, ImagePrompts(boxes=((x0, y0, x1, y1),))
    if len(rest) in (2, 3):
        x, y = _numbers(rest[:2], f"{where}: point {','.join(rest)}")
        label = _label(rest[2], f"{where}: point {','.join(rest)}") if len(rest) == 3 else 1
        return key, ImagePrompts(points=((x, y, label),))
    raise PromptError(f"{where}: expected path,x0,y0,x1,y1 (box) or path,x,y[,label] (point)")


def prompts_for(mapping: dict[str, ImagePrompts], relpath: str | Path) -> ImagePrompts:
    """The prompts for one image (``relpath`` with any separators); empty if none."""
    return mapping.get(_norm_key(Path(relpath).as_posix()), ImagePrompts())


# ---------------------------------------------------------------- validation & grouping


def _fmt(values: Iterable[float]) -> str:
    return ",".join(f"{v:g}" for v in values)


def validate_prompts(prompts: ImagePrompts, width: int, height: int, where: str = "") -> ImagePrompts:
    """Check prompts against a ``width``×``height`` image; return them with boxes clipped."""
    pre = f"{where}: " if where else ""
    boxes = []
    for box in prompts.boxes:
        x0, y0, x1, y1 = box
        if x1 <= x0 or y1 <= y0:
            raise PromptError(f"{pre}box {_fmt(box)} has zero area (need x0 < x1 and y0 < y1)")
        clipped = (max(0.0, x0), max(0.0, y0), min(float(width), x1), min(float(height), y1))
        if clipped[2] <= clipped[0] or clipped[3] <= clipped[1]:
            raise PromptError(f"{pre}box {_fmt(box)} is outside the {width}x{height} image")
        if clipped[2] - clipped[0] < 1 or clipped[3] - clipped[1] < 1:
            raise PromptError(f"{pre}box {_fmt(box)} is less than one pixel wide or tall inside the image")
        boxes.append(clipped)
    for x, y, _ in prompts.points:
        if not (0 <= x < width and 0 <= y < height):
            raise PromptError(f"{pre}point {_fmt((x, y))} is outside the {width}x{height} image")
    return ImagePrompts(tuple(boxes), prompts.points)


def _area(box: Box) -> float:
    return (box[2] - box[0]) * (box[3] - box[1])


def group_prompts(prompts: ImagePrompts, where: str = "") -> list[tuple[Box | None, tuple[Point, ...]]]:
    """One ``(box, points)`` pair per object (see the module docstring)."""
    groups: list[tuple[Box | None, list[Point]]] = [(b, []) for b in prompts.boxes]
    loose: list[Point] = []
    for pt in prompts.points:
        inside = [i for i, b in enumerate(prompts.boxes) if b[0] <= pt[0] < b[2] and b[1] <= pt[1] < b[3]]
        if inside:
            groups[min(inside, key=lambda i: _area(prompts.boxes[i]))][1].append(pt)
        else:
            loose.append(pt)
    if loose and not any(lab == 1 for _, _, lab in loose):
        pre = f"{where}: " if where else ""
        raise PromptError(f"{pre}negative point {_fmt(loose[0][:2])} is in no box and has no positive point with it")
    if loose:
        groups.append((None, loose))
    return [(box, tuple(pts)) for box, pts in groups]


# ---------------------------------------------------------------- detector


class PromptDetector:
    """A :class:`~autofix.detect.base.Detector` for user boxes/clicks (label ``object``).

    Each prompt group becomes one detection with score 1.0: its box is the (clipped) user
    box, or for click-only prompts the bounding box of the refined mask; its mask is the
    refiner's (``None`` without a refiner, i.e. the box itself). Click-only prompts need a
    refiner, and fail with one :class:`PromptError` line when its mask is empty, misses a
    positive click or covers more than half the image
    (:func:`autofix.detect.refine.mask_problem`): nothing is repainted for them. ``where`` (e.g. the image's file name) prefixes validation errors.
    """

    def __init__(
        self,
        boxes: Sequence[Box] = (),
        points: Sequence[Point] = (),
        refiner: Any = None,
        label: str = "object",
        where: str = "",
    ) -> None:
        self.prompts = ImagePrompts(tuple(tuple(b) for b in boxes), tuple(tuple(p) for p in points))  # type: ignore[misc]
        self.refiner, self.label, self.where = refiner, label, show_path(where) if where else ""
        self.name = "prompt" + (f"+{refiner.name}" if refiner is not None else "")
        groups = group_prompts(self.prompts, where)
        if refiner is None and any(box is None for box, _ in groups):
            pre = f"{where}: " if where else ""
            raise PromptError(f"{pre}point prompts outside any box need a refiner (refine: sam or grabcut)")

    def detect(self, image: np.ndarray) -> list[Detection]:
        """One detection per prompt group (see the class docstring)."""
        image = check_image(image)
        height, width = image.shape[:2]
        prompts = validate_prompts(self.prompts, width, height, self.where)
        out = []
        for box, pts in group_prompts(prompts, self.where):
            det = self._one(image, box, pts)
            if det is not None:
                out.append(det)
        return out

    def _one(self, image: np.ndarray, box: Box | None, pts: tuple[Point, ...]) -> Detection | None:
        mask = None
        if self.refiner is not None:
            coords = [(x, y) for x, y, _ in pts] or None
            labels = [lab for _, _, lab in pts] or None
            mask, _ = self.refiner.refine(image, box=box, points=coords, labels=labels)
            if box is None:  # a click names one object: never (nearly) the whole image, never nothing
                from .refine import MAX_CLICK_COVER, mask_problem

                why = mask_problem(mask, coords, labels)
                if why:
                    pre = f"{self.where}: " if self.where else ""
                    clicks = " ".join(f"{x:g},{y:g}" for x, y, lab in pts if lab == 1)
                    detail = (getattr(self.refiner, "why_empty", lambda: "")() or "its mask came out empty"
                              if why == "empty" else f"its mask {why}")
                    raise PromptError(
                        f"{pre}point {clicks}: {self.refiner.name} found no object under the click ({detail}; "
                        f"a click needs a mask that contains it and covers at most {MAX_CLICK_COVER:.0%} of the "
                        "image), so nothing was repainted for it: give a box around the object as well")
            mask = mask if mask.any() else None
        if box is None:
            if mask is None:
                return None
            ys, xs = np.nonzero(mask)
            box = (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
        return Detection(box=box, score=1.0, label=self.label, mask=mask, source="prompt")


@DETECTORS.register("prompt", summary="user boxes/clicks from --box/--point/--prompts, refined by sam or grabcut")
def build_prompt_detector(
    cfg: DetectorConfig,
    *,
    prompts: ImagePrompts | None = None,
    refiner: Any = None,
    allow_pickle: bool | None = None,
    where: str = "",
) -> PromptDetector:
    """Registry factory: ``DETECTORS.build("prompt", cfg, prompts=..., refiner=...)``.

    ``refiner`` (build it once and reuse it across images) defaults to one built from
    ``cfg.refine`` / ``cfg.refine_model``.
    """
    if prompts is None:
        raise ConfigError("detector 'prompt' needs boxes/points (from --box, --point or --prompts), not just a config")
    if refiner is None:
        from .refine import build_refiner

        refiner = build_refiner(cfg.refine, cfg.refine_model, allow_pickle)
    return PromptDetector(prompts.boxes, prompts.points, refiner, label=cfg.label or "object", where=where)
