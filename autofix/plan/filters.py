"""Which detections become regions, and in what order.

All functions take and return plain lists of :class:`~autofix.types.Detection` (never
modified). Every ordering is total and deterministic: its primary key is followed by the
box's ``x0`` then ``y0``, and the sort is stable, so exact ties keep their input order.
"""

from __future__ import annotations

import math
from typing import Sequence, get_args

import numpy as np

from ..choices import Order, TopKBy
from ..types import Detection

ORDERS: tuple[str, ...] = get_args(Order)


def detection_area(det: Detection) -> float:
    """Area in square pixels: the mask's nonzero pixel count if ``det.mask`` is set, else the box's."""
    if det.mask is not None:
        return float(np.count_nonzero(det.mask))
    return det.area


def _position(det: Detection) -> tuple[float, float]:
    return float(det.box[0]), float(det.box[1])


def by_confidence(dets: Sequence[Detection], thr: float) -> list[Detection]:
    """Keep detections with ``score >= thr`` (input order kept)."""
    return [d for d in dets if d.score >= thr]


def by_area_ratio(dets: Sequence[Detection], image_area: float, lo: float, hi: float) -> list[Detection]:
    """Keep detections whose :func:`detection_area` / ``image_area`` lies in ``[lo, hi]``."""
    if image_area <= 0:
        raise ValueError(f"image area must be positive, is {image_area}")
    return [d for d in dets if lo <= detection_area(d) / image_area <= hi]


def top_k(dets: Sequence[Detection], k: int, by: TopKBy = "area") -> list[Detection]:
    """Keep the ``k`` largest (``by="area"``) or most confident detections; ``k = 0`` keeps all.

    Ties are broken by position (``x0``, then ``y0``, then input order). The survivors are
    returned in their *input* order; :func:`order` sorts them afterwards.
    """
    if k < 0:
        raise ValueError(f"k must be >= 0, is {k}")
    if k == 0 or k >= len(dets):
        return list(dets)
    if by not in ("area", "confidence"):
        raise ValueError(f"top_k by must be area or confidence, is {by!r}")
    primary = detection_area if by == "area" else (lambda d: float(d.score))
    ranked = sorted(range(len(dets)), key=lambda i: (-primary(dets[i]), *_position(dets[i]), i))
    keep = set(ranked[:k])
    return [d for i, d in enumerate(dets) if i in keep]


def order(dets: Sequence[Detection], how: Order, image_shape: tuple[int, ...]) -> list[Detection]:
    """Sort detections for processing (``image_shape`` is ``(H, W, ...)``).

    * ``left_to_right``: box ``x0`` ascending, then ``y0``;
    * ``top_to_bottom``: box ``y0`` ascending, then ``x0``;
    * ``area``: :func:`detection_area` descending, then ``x0``, ``y0``;
    * ``confidence``: score descending, then ``x0``, ``y0``;
    * ``center_out``: distance of the box centre to the image centre ``(W/2, H/2)``
      ascending, then ``x0``, ``y0``.
    """
    cx, cy = image_shape[1] / 2.0, image_shape[0] / 2.0

    def centre_distance(d: Detection) -> float:
        x0, y0, x1, y1 = (float(v) for v in d.box)
        return math.hypot((x0 + x1) / 2.0 - cx, (y0 + y1) / 2.0 - cy)

    keys = {
        "left_to_right": lambda d: _position(d),
        "top_to_bottom": lambda d: _position(d)[::-1],
        "area": lambda d: (-detection_area(d), *_position(d)),
        "confidence": lambda d: (-float(d.score), *_position(d)),
        "center_out": lambda d: (centre_distance(d), *_position(d)),
    }
    if how not in keys:
        raise ValueError(f"order must be one of {', '.join(ORDERS)}; is {how!r}")
    return sorted(dets, key=keys[how])
