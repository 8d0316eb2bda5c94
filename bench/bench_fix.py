"""Benchmark: `autofix fix --inpainter classical` over a folder of real photos near 1024².

Builds a folder of >= 20 distinct images from photos that ship in installed packages
(scikit-image, matplotlib, ultralytics), each resized to ~1024 px on the long side and
varied (mirror, crop, scale) so no two are identical. Runs the default preset
(hands, then faces) with the classical inpainter, then re-runs over the finished folder.
Prints per-image wall time split into decode / detect / plan / inpaint / composite /
checkpoint / write, and the re-run's per-image time as a ratio of the first run.

    python bench/bench_fix.py --images 24 [--preset faces+hands] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MPLCONFIGDIR", tempfile.gettempdir() + "/autofix-mpl")
os.environ.setdefault("GLOG_minloglevel", "2")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from autofix.config import build_config  # noqa: E402
from autofix.photos import PEOPLE_PHOTOS, photo_array  # noqa: E402
from autofix.run.batch import run_folder  # noqa: E402

PHASES = ("decode", "detect", "plan", "inpaint", "composite", "checkpoint", "write")


def variants(arr: np.ndarray, n: int) -> list[np.ndarray]:
    """``n`` distinct ~1024-px variants of ``arr``: mirror × crop offset × slight scale."""
    out = []
    for k in range(n):
        img = arr[:, ::-1] if k % 2 else arr
        h, w = img.shape[:2]
        c = (k // 2) * 0.04
        img = img[int(h * c): h - int(h * c / 2), int(w * c / 2): w - int(w * c)]
        scale = (1024 + 16 * (k // 2)) / max(img.shape[:2])
        size = (round(img.shape[1] * scale), round(img.shape[0] * scale))
        out.append(np.asarray(Image.fromarray(np.ascontiguousarray(img)).resize(size, Image.LANCZOS)))
    return out


def build_folder(folder: Path, count: int) -> int:
    """Write ``count`` images into ``folder``; returns the number written."""
    folder.mkdir(parents=True, exist_ok=True)
    names = [n for n in PEOPLE_PHOTOS]
    per = -(-count // len(names))
    written = 0
    for name in names:
        for k, img in enumerate(variants(photo_array(name), per)):
            if written < count:
                Image.fromarray(img).save(folder / f"{name}_{k:02d}.png")
                written += 1
    return written


def report(label: str, summary) -> float:
    per_image = summary.elapsed / max(1, len(summary.outcomes))
    print(f"\n{label}: {len(summary.outcomes)} images, {summary.elapsed:.2f} s, {per_image * 1000:.1f} ms/image")
    print("  statuses:", dict(summary.counts()))
    rows = []
    for phase in PHASES + ("check",):
        vals = [o.timings.get(phase, 0.0) for o in summary.outcomes]
        if any(vals):
            rows.append((phase, statistics.mean(vals) * 1000, max(vals) * 1000))
    for phase, mean, worst in rows:
        print(f"  {phase:10s} mean {mean:8.1f} ms   max {worst:8.1f} ms")
    return per_image


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=24)
    ap.add_argument("--preset", default="faces+hands")
    ap.add_argument("--keep", type=Path, help="keep the input/output folders here")
    args = ap.parse_args(argv)
    root = args.keep or Path(tempfile.mkdtemp(prefix="autofix-bench-"))
    src, out = root / "in", root / "out"
    shutil.rmtree(out, ignore_errors=True)
    n = build_folder(src, args.images)
    sizes = [Image.open(p).size for p in sorted(src.glob("*.png"))]
    print(f"folder: {n} images, mean size {np.mean([s[0] for s in sizes]):.0f}×{np.mean([s[1] for s in sizes]):.0f}")
    cfg = build_config(args.preset, patch={"inpainter": {"backend": "classical"}})
    t = time.perf_counter()
    first = run_folder(src, out, cfg, progress=False)
    print(f"(wall incl. model start-up: {time.perf_counter() - t:.2f} s)")
    a = report("first run", first)
    second = run_folder(src, out, cfg, progress=False)
    b = report("re-run over the finished folder", second)
    print(f"\nre-run / first run per-image time: {b / a:.4f}  ({b * 1000:.2f} ms vs {a * 1000:.1f} ms)")
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
