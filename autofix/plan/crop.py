"""Only-masked crop windows and the resize helpers that go with them.

A crop window (:class:`~autofix.types.CropWindow`) is an integer box in the input image,
``(x0, y0, x1, y1)`` with exclusive ends, plus the ``(width, height)`` the crop is
processed at. Sizes are always ``(width, height)``; array shapes are ``(H, W[, 3])``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from ..choices import CropLarge, ResizeMode
from ..types import CropWindow, IntBox

#: Smallest processing side, in pixels.
MIN_SIDE = 64
#: Processing sides are multiples of this.
MULTIPLE = 8

def _round8(value: float) -> int:
    """Nearest multiple of 8, halves rounded up, at least 8."""
    return max(MULTIPLE, int(math.floor(value / MULTIPLE + 0.5)) * MULTIPLE)


def processing_size(width: int, height: int, resolution: int) -> tuple[int, int]:
    """``(w, h)`` to process a ``width × height`` crop at: aspect kept, area ≈ ``resolution²``.

    The crop is scaled by ``resolution / sqrt(width × height)`` and each side rounded to the
    nearest multiple of 8 (halves up), so 512 gives 512×512 for a square crop and 360×728
    for a 1:2 one; the aspect ratio is kept within that rounding (±4 px per side). When the
    short side would come out below 64 (aspect beyond ~64:1 at 512), it is set to 64 and the
    long side to ``resolution² / 64`` rounded to 8: the area budget (what the inpainter's
    memory scales with) wins over the aspect ratio for such slivers.
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"crop must be non-empty, is {width}×{height}")
    if resolution < MIN_SIDE:
        raise ValueError(f"resolution must be >= {MIN_SIDE}, is {resolution}")
    scale = resolution / math.sqrt(float(width) * float(height))
    tw, th = _round8(width * scale), _round8(height * scale)
    if min(tw, th) < MIN_SIDE:
        long_side = max(MIN_SIDE, _round8(resolution * resolution / MIN_SIDE))
        tw, th = (MIN_SIDE, long_side) if width < height else (long_side, MIN_SIDE)
    return tw, th


def crop_window(support_box: IntBox, image_size_wh: tuple[int, int], padding: int, resolution: int) -> CropWindow:
    """Crop around ``support_box``: grown by ``padding`` px per side, clamped to the image.

    ``support_box`` is an integer box with exclusive ends (e.g. :func:`masks.mask_bbox` of the
    soft mask); ``image_size_wh`` is ``(W, H)``. Clamping simply cuts at the image edge (the
    window is not shifted inwards), so a box at an edge gets less context on that side.
    The processing size is :func:`processing_size` of the clamped crop.
    """
    width, height = int(image_size_wh[0]), int(image_size_wh[1])
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, is {image_size_wh}")
    if padding < 0:
        raise ValueError(f"padding must be >= 0, is {padding}")
    bx0, by0, bx1, by1 = (int(v) for v in support_box)
    x0, y0 = min(max(bx0 - padding, 0), width), min(max(by0 - padding, 0), height)
    x1, y1 = max(min(bx1 + padding, width), 0), max(min(by1 + padding, height), 0)
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"support box {support_box} does not overlap the {width}×{height} image")
    return CropWindow(box=(x0, y0, x1, y1), size=processing_size(x1 - x0, y1 - y0, resolution))


def resize_image(array: np.ndarray, size_wh: tuple[int, int]) -> np.ndarray:
    """The one resize of crops (cutting them out, pasting results back, control images):
    ``array`` (an image or a soft mask) to ``(width, height)``. Same size returns a copy;
    fewer pixels use ``INTER_AREA``, more ``INTER_CUBIC``. Hard masks go through
    :func:`cut_mask` instead."""
    tw, th = int(size_wh[0]), int(size_wh[1])
    if tw <= 0 or th <= 0:
        raise ValueError(f"target size must be positive, is {size_wh}")
    h, w = array.shape[:2]
    if (w, h) == (tw, th):
        return array.copy()
    interp = cv2.INTER_AREA if tw * th < w * h else cv2.INTER_CUBIC
    return cv2.resize(array, (tw, th), interpolation=interp)


def cut(array: np.ndarray, window: CropWindow) -> np.ndarray:
    """The window's box cut out of ``array`` (an image) and resized to ``window.size``."""
    x0, y0, x1, y1 = window.box
    return resize_image(array[y0:y1, x0:x1], window.size)


def cut_mask(hard_mask: np.ndarray, window: CropWindow) -> np.ndarray:
    """The window's box cut out of a hard mask and resized to ``window.size``, 0/255.

    Conservative: a crop pixel is masked if any source pixel under it is, so a small mask
    never vanishes when a big crop is shrunk."""
    x0, y0, x1, y1 = window.box
    src = hard_mask[y0:y1, x0:x1]
    interp = cv2.INTER_AREA if window.size[0] * window.size[1] < src.size else cv2.INTER_NEAREST
    mask = cv2.resize(src, window.size, interpolation=interp) if src.shape[::-1] != window.size else src
    return np.where(mask > 0, 255, 0).astype(np.uint8)


# --------------------------------------------------------------------------- buckets

#: Bucket sides are multiples of this (the VAE's 8 × the UNet's down-sampling headroom).
BUCKET_MULTIPLE = 64
#: Most elongated bucket (long side : short side).
MAX_BUCKET_ASPECT = 4.0
#: A window side grows at most by this factor to reach its bucket's aspect; beyond it the
#: next-nearest bucket is tried, and if none fits the window keeps its shape (see bucket_window).
MAX_GROWTH = 1.5
#: A window must be at least this much larger (per side) than its bucket to be processed
#: above the bucket size with ``large="keep"``; below it the bucket size is used.
LARGE_MIN_SCALE = 1.25


#: The aspects (w/h) buckets are chosen for: square, 4:5, 2:5 and their transposes. Five
#: buckets, not every multiple-of-64 shape: a stage yields about one crop per image, so fewer,
#: wider buckets fill batches (measured on 32 real photos at max_batch 8: 6.7 crops per call
#: with these five, 6.0 with all nine shapes of the 512 grid), and MAX_GROWTH still lets
#: every window reach one by taking more context.
BUCKET_ASPECTS = (2 / 5, 4 / 5, 1.0, 5 / 4, 5 / 2)


@lru_cache(maxsize=32)
def bucket_grid(resolution: int) -> tuple[tuple[int, int], ...]:
    """Every shape around ``resolution²``: ``(w, h)`` with both sides multiples of 64,
    ``w·h <= resolution²``, the largest such ``h`` for each ``w`` (and of those with equal
    ``h`` the widest), aspect within 1:4 … 4:1; sorted from tallest to widest.

    512 gives 256×1024, 320×768, 384×640, 448×576, 512×512 and their transposes;
    1024 gives 1024×1024, 1088×960, 1152×896, 1216×832, 1344×768, … (SDXL's usual set).
    """
    if resolution < MIN_SIDE:
        raise ValueError(f"resolution must be >= {MIN_SIDE}, is {resolution}")
    budget, m = resolution * resolution, BUCKET_MULTIPLE
    widest: dict[int, int] = {}
    for w in range(m, budget // m + 1, m):
        h = budget // w // m * m
        if h < m:
            break
        if max(w / h, h / w) <= MAX_BUCKET_ASPECT:
            widest[h] = max(widest.get(h, 0), w)
    pairs = {(w, h) for h, w in widest.items()}
    pairs |= {(h, w) for w, h in pairs}  # keep the set symmetric
    if not pairs:  # resolution < 128: one square bucket
        side = max(m, resolution // m * m)
        pairs = {(side, side)}
    return tuple(sorted(pairs, key=lambda p: p[0] / p[1]))


@lru_cache(maxsize=32)
def buckets(resolution: int) -> tuple[tuple[int, int], ...]:
    """The aspect buckets crops are processed at: for each of :data:`BUCKET_ASPECTS`, the shape
    of :func:`bucket_grid` nearest to it in log-aspect; sorted from tallest to widest.

    512 → 320×768, 448×576, 512×512, 576×448, 768×320 (SD1.x);
    1024 → 640×1600, 896×1152, 1024×1024, 1152×896, 1600×640 (SDXL).
    """
    grid = bucket_grid(resolution)
    chosen = {min(grid, key=lambda b: abs(math.log(b[0] / b[1] / a))) for a in BUCKET_ASPECTS}
    return tuple(sorted(chosen, key=lambda p: p[0] / p[1]))


def _round_to(value: float, multiple: int) -> int:
    return max(multiple, int(math.floor(value / multiple + 0.5)) * multiple)


def _grow(box: IntBox, target_wh: tuple[int, int], image_wh: tuple[int, int]) -> IntBox:
    """``box`` grown (never shrunk) to ``target_wh`` around its centre, shifted inside the image."""
    x0, y0, x1, y1 = box
    out = []
    for lo, hi, size, limit in ((x0, x1, target_wh[0], image_wh[0]), (y0, y1, target_wh[1], image_wh[1])):
        extra = size - (hi - lo)
        start = lo - extra // 2
        start = min(max(start, 0), limit - size)
        out.append((start, start + size))
    (nx0, nx1), (ny0, ny1) = out
    return nx0, ny0, nx1, ny1


def factor_box(support_box: IntBox, image_size_wh: tuple[int, int], factor: float) -> IntBox:
    """``support_box`` scaled by ``factor`` around its centre (Impact-Pack's ``crop_factor``):
    each side becomes ``ceil(side × factor)`` (at most the image's), and the box is shifted
    inside the image so it keeps that size (a region at an edge gets its context from the
    other side instead of losing it)."""
    if factor < 1.0:
        raise ValueError(f"crop factor must be >= 1, is {factor}")
    img_w, img_h = int(image_size_wh[0]), int(image_size_wh[1])
    bx0, by0, bx1, by1 = (int(v) for v in support_box)
    bx0, by0 = min(max(bx0, 0), img_w), min(max(by0, 0), img_h)
    bx1, by1 = max(min(bx1, img_w), bx0), max(min(by1, img_h), by0)
    if bx1 <= bx0 or by1 <= by0:
        raise ValueError(f"support box {support_box} does not overlap the {img_w}×{img_h} image")
    tw = min(img_w, math.ceil((bx1 - bx0) * factor - 1e-9))
    th = min(img_h, math.ceil((by1 - by0) * factor - 1e-9))
    return _grow((bx0, by0, bx1, by1), (tw, th), (img_w, img_h))


def bucket_window(support_box: IntBox, image_size_wh: tuple[int, int], padding: int, resolution: int,
                  large: CropLarge = "keep", max_side: int | None = None,
                  crop_factor: float | None = None) -> CropWindow:
    """The crop window of a generative stage: padded, grown to an aspect bucket, bucket-sized.

    1. The padded box is :func:`crop_window`'s (``support_box`` grown by ``padding``, clamped),
       or with ``crop_factor`` set, :func:`factor_box` (context proportional to the region;
       ``padding`` is then not used).
    2. Buckets (:func:`buckets` of ``resolution``) are tried nearest aspect first: the box grows
       along one axis to the bucket's aspect (more context, never a stretch), by at most
       :data:`MAX_GROWTH`, centred and shifted inside the image at borders. The first bucket
       whose grown box fits is used. If none fits (a thin image, a window spanning the image),
       the box keeps its shape and is processed at :func:`processing_size` (no bucket).
    3. Processing size: the bucket itself when the window is no larger, or at most
       :data:`LARGE_MIN_SCALE` larger per side (small crops are upscaled to it, as A1111's
       "only masked" does). A window larger than that is, by default (``large="keep"``),
       processed at the bucket's aspect scaled to the window's own size (sides multiples of
       64, long side at most ``max_side``, default 2·resolution) —
       repainting a big, fine face at 512 and blowing it back up would blur it;
       ``large="downscale"`` processes it at the bucket size like any other.
    """
    if crop_factor is not None:
        box = factor_box(support_box, image_size_wh, crop_factor)
        padded = CropWindow(box=box, size=processing_size(box[2] - box[0], box[3] - box[1], resolution))
    else:
        padded = crop_window(support_box, image_size_wh, padding, resolution)
    x0, y0, x1, y1 = padded.box
    w, h = x1 - x0, y1 - y0
    img_w, img_h = int(image_size_wh[0]), int(image_size_wh[1])
    aspect = math.log(w / h)
    for bw, bh in sorted(buckets(resolution), key=lambda b: abs(math.log(b[0] / b[1]) - aspect)):
        ratio = bw / bh
        tw, th = (max(w, math.ceil(h * ratio)), h) if ratio * h > w else (w, max(h, math.ceil(w / ratio)))
        if tw / w > MAX_GROWTH or th / h > MAX_GROWTH or tw > img_w or th > img_h:
            continue
        box = _grow(padded.box, (tw, th), (img_w, img_h))
        return CropWindow(box=box, size=_bucket_size((bw, bh), (tw, th), resolution, large, max_side))
    return padded


def _bucket_size(bucket: tuple[int, int], window_wh: tuple[int, int], resolution: int,
                 large: str, max_side: int | None) -> tuple[int, int]:
    """Processing size of a window grown to ``bucket``'s aspect (see :func:`bucket_window`)."""
    bw, bh = bucket
    ww, wh = window_wh
    if large == "downscale" or ww * wh <= bw * bh:
        return bw, bh
    cap = max_side or 2 * resolution
    scale = min(math.sqrt(ww * wh / (bw * bh)), cap / max(bw, bh))
    if scale < LARGE_MIN_SCALE:  # at most 1.25x larger: the bucket's detail is enough, and it batches
        return bw, bh
    short = _round_to(min(bw, bh) * scale, BUCKET_MULTIPLE)
    long_ = min(_round_to(short * max(bw, bh) / min(bw, bh), BUCKET_MULTIPLE), cap // BUCKET_MULTIPLE * BUCKET_MULTIPLE)
    return (long_, short) if bw >= bh else (short, long_)


def guide_window(window: CropWindow, detection_box: tuple[float, float, float, float], guide_size: int,
                 max_side: int) -> CropWindow:
    """``window`` processed so the detection's shorter side becomes about ``guide_size`` px
    (Impact-Pack's ``guide_size`` with ``guide_size_for: bbox``: its detailer upscales the crop
    by ``guide_size / min(bbox_w, bbox_h)`` and caps the crop's longer side at ``max_size``).

    The window's box (its context, already grown to a bucket's aspect) is kept; its processing
    size becomes the box's ``(w, h)`` times ``guide_size / min(detection w, h)``, each side
    rounded to a multiple of 8 (halves up, at least :data:`MIN_SIDE`), with the scale lowered
    so the longer side is at most ``max_side``. A detection already at least ``guide_size`` on
    its shorter side (skipped unless ``force_inpaint``), or one whose capped scale would not
    enlarge the window (<= 1), keeps ``window`` as planned.
    """
    bw = float(detection_box[2]) - float(detection_box[0])
    bh = float(detection_box[3]) - float(detection_box[1])
    short = min(bw, bh)
    if short <= 0 or short >= guide_size:
        return window
    x0, y0, x1, y1 = window.box
    ww, wh = x1 - x0, y1 - y0
    scale = min(guide_size / short, max_side / max(ww, wh))
    if scale <= 1.0:
        return window
    size = (min(max_side, max(MIN_SIDE, _round8(ww * scale))), min(max_side, max(MIN_SIDE, _round8(wh * scale))))
    return CropWindow(box=window.box, size=size)


def native_window(window: CropWindow) -> CropWindow:
    """``window`` processed at its own pixel size (classical inpainters: no resize at all)."""
    x0, y0, x1, y1 = window.box
    return CropWindow(box=window.box, size=(x1 - x0, y1 - y0))


# --------------------------------------------------------------------------- whole picture


@dataclass(frozen=True)
class WholeFrame:
    """How the whole picture is shown to the model (A1111 "Inpaint area: Whole picture").

    Attributes:
        box: the part of the image the model sees: the whole image, or for
            ``crop_and_resize`` the centred box of the canvas's aspect.
        size: ``(w, h)`` the box is resized to (the crop window's processing size).
        canvas: ``(W, H)`` the model's input; equal to ``size`` except for
            ``resize_and_fill``, where the resized picture sits at ``offset`` and the bands
            around it repeat its edge pixels.
        offset: ``(x, y)`` of the picture inside the canvas.
    """

    box: IntBox
    size: tuple[int, int]
    canvas: tuple[int, int]
    offset: tuple[int, int] = (0, 0)

    @property
    def window(self) -> CropWindow:
        return CropWindow(box=self.box, size=self.size)


def whole_frame(image_size_wh: tuple[int, int], resolution: int, canvas: tuple[int, int] | None = None,
                resize_mode: ResizeMode = "just_resize") -> WholeFrame:
    """The whole-picture frame of a ``W × H`` image.

    Without ``canvas`` the model's canvas is :func:`processing_size` of the image (aspect
    kept, area ≈ ``resolution²``, sides multiples of 8), and ``resize_mode`` changes nothing.
    With a ``canvas`` (A1111's Width × Height) of another aspect, as A1111's ``resize_image``:

    * ``just_resize``: the whole image stretched to the canvas;
    * ``crop_and_resize``: scaled to cover the canvas, the overflow cut off equally on both
      sides: the frame's box is the centred part of the image the canvas shows;
    * ``resize_and_fill``: scaled to fit inside the canvas, centred; the bands are filled by
      repeating the picture's edge rows/columns (see :func:`fill_canvas`).
    """
    width, height = int(image_size_wh[0]), int(image_size_wh[1])
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, is {image_size_wh}")
    if canvas is None:
        size = processing_size(width, height, resolution)
        return WholeFrame((0, 0, width, height), size, size)
    cw, ch = int(canvas[0]), int(canvas[1])
    if cw <= 0 or ch <= 0:
        raise ValueError(f"canvas must be positive, is {canvas}")
    if resize_mode == "just_resize":
        return WholeFrame((0, 0, width, height), (cw, ch), (cw, ch))
    if resize_mode == "crop_and_resize":
        scale = max(cw / width, ch / height)
        bw, bh = min(width, max(1, round(cw / scale))), min(height, max(1, round(ch / scale)))
        x0, y0 = (width - bw) // 2, (height - bh) // 2
        return WholeFrame((x0, y0, x0 + bw, y0 + bh), (cw, ch), (cw, ch))
    if resize_mode == "resize_and_fill":
        scale = min(cw / width, ch / height)
        pw, ph = min(cw, max(1, round(width * scale))), min(ch, max(1, round(height * scale)))
        return WholeFrame((0, 0, width, height), (pw, ph), (cw, ch), ((cw - pw) // 2, (ch - ph) // 2))
    raise ValueError(f"resize mode must be just_resize, crop_and_resize or resize_and_fill, is {resize_mode!r}")


def fill_canvas(array: np.ndarray, frame: WholeFrame) -> np.ndarray:
    """``array`` (image or mask at ``frame.size``) placed on ``frame.canvas`` at ``frame.offset``,
    the bands repeating its edge pixels (A1111's resize-and-fill stretches the edge rows)."""
    (pw, ph), (cw, ch), (ox, oy) = frame.size, frame.canvas, frame.offset
    if array.shape[:2] != (ph, pw):
        raise ValueError(f"expected an array of {pw}×{ph}, got {array.shape[1]}×{array.shape[0]}")
    if (pw, ph) == (cw, ch):
        return array
    return cv2.copyMakeBorder(np.ascontiguousarray(array), oy, ch - ph - oy, ox, cw - pw - ox, cv2.BORDER_REPLICATE)


def unfill_canvas(array: np.ndarray, frame: WholeFrame) -> np.ndarray:
    """The picture part of a canvas-sized result (inverse of :func:`fill_canvas`)."""
    (pw, ph), (ox, oy) = frame.size, frame.offset
    return np.ascontiguousarray(array[oy:oy + ph, ox:ox + pw])
