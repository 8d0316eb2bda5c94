"""Classical object-removal fills on real photos: OpenCV TELEA vs PatchMatch (pypatchmatch).

Holes with a known answer: blob-shaped masks (what GrabCut/SAM return for an object) cut
into real photos that ship with scikit-image, matplotlib and ultralytics; each fill runs on
the crop the ``remove`` path gives the classical inpainter (mask box + 48 px), and is scored
inside the hole against the photo's own pixels:

* ``mae``: mean absolute error (lower is closer, but rewards a blur that averages the hole);
* ``detail``: std of the Laplacian of the fill / of the truth, in the hole (1 = as much fine
  texture as the photo; a smear is near 0);
* ``grad_hist``: histogram intersection of gradient magnitudes in the hole, fill vs truth
  (1 = same texture statistics).

    .venv/bin/python bench/removal_fill.py [--holes 12] [--json]
"""

from __future__ import annotations

import argparse
import json
import time

import cv2
import numpy as np

PHOTOS = ("astronaut", "coffee", "chelsea", "camera", "grace_hopper", "zidane", "bus")


def blob(shape_hw, centre, radius, rng) -> np.ndarray:
    h, w = shape_hw
    yy, xx = np.mgrid[:h, :w].astype(np.float64)
    ang = np.arctan2(yy - centre[1], xx - centre[0])
    wobble = 1 + 0.25 * np.sin(3 * ang + rng.uniform(0, 6.28)) + 0.15 * np.sin(5 * ang + rng.uniform(0, 6.28))
    r = np.hypot(xx - centre[0], (yy - centre[1]) * rng.uniform(0.7, 1.4))
    return np.where(r <= radius * wobble, 255, 0).astype(np.uint8)


def fills(crop: np.ndarray, mask: np.ndarray) -> dict[str, tuple[np.ndarray, float]]:
    from autofix.inpaint.classical import ClassicalInpainter
    from autofix.types import InpaintJob

    out = {}
    for name in ("telea", "patchmatch"):
        inp = ClassicalInpainter(name, 5)
        t = time.perf_counter()
        (res,) = inp.inpaint([InpaintJob(crop, mask, 0)])
        out[name] = (res.candidates[0], time.perf_counter() - t)
    return out


def scores(fill: np.ndarray, truth: np.ndarray, hole: np.ndarray) -> dict[str, float]:
    sel = hole > 0
    mae = float(np.abs(fill.astype(int) - truth.astype(int))[sel].mean())
    gf, gt = (cv2.cvtColor(a, cv2.COLOR_RGB2GRAY).astype(np.float64) for a in (fill, truth))
    detail = float(cv2.Laplacian(gf, cv2.CV_64F)[sel].std() / max(1e-6, cv2.Laplacian(gt, cv2.CV_64F)[sel].std()))
    mag = [np.hypot(cv2.Sobel(g, cv2.CV_64F, 1, 0), cv2.Sobel(g, cv2.CV_64F, 0, 1))[sel] for g in (gf, gt)]
    bins = np.linspace(0, 400, 41)
    hf, ht = (np.histogram(np.clip(m, 0, 399), bins)[0] / max(1, m.size) for m in mag)
    return {"mae": mae, "detail": detail, "grad_hist": float(np.minimum(hf, ht).sum())}


def main() -> None:
    from autofix.photos import photo_array

    ap = argparse.ArgumentParser()
    ap.add_argument("--holes", type=int, default=12)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rng = np.random.default_rng(14)
    rows = []
    for name in PHOTOS:
        try:
            photo = photo_array(name)
        except FileNotFoundError:
            continue
        h, w = photo.shape[:2]
        for _ in range(args.holes):
            radius = float(rng.uniform(18, 45))
            c = (rng.uniform(radius * 1.6 + 48, w - radius * 1.6 - 48), rng.uniform(radius * 1.6 + 48, h - radius * 1.6 - 48))
            hole = blob((h, w), c, radius, rng)
            ys, xs = np.nonzero(hole)
            x0, y0 = max(0, xs.min() - 48), max(0, ys.min() - 48)
            x1, y1 = min(w, xs.max() + 49), min(h, ys.max() + 49)
            truth, mask = photo[y0:y1, x0:x1], hole[y0:y1, x0:x1]
            damaged = truth.copy()
            damaged[mask > 0] = 255  # what is under the hole must not leak into the fill
            for method, (fill, secs) in fills(damaged, mask).items():
                rows.append({"photo": name, "method": method, "seconds": secs, **scores(fill, truth, mask)})
    summary = {}
    for method in ("telea", "patchmatch"):
        sel = [r for r in rows if r["method"] == method]
        summary[method] = {k: round(float(np.median([r[k] for r in sel])), 3) for k in ("mae", "detail", "grad_hist",
                                                                                      "seconds")}
    per_hole = [(a, b) for a, b in zip(rows[::2], rows[1::2])]
    summary["patchmatch_more_detail_share"] = round(float(np.mean([b["detail"] > a["detail"] for a, b in per_hole])), 3)
    summary["patchmatch_closer_grad_hist_share"] = round(
        float(np.mean([b["grad_hist"] > a["grad_hist"] for a, b in per_hole])), 3)
    summary["holes"] = len(per_hole)
    print(json.dumps(summary, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
