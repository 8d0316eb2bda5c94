"""Benchmark the CPU default path against a bare script, in one run, on real photos.

Product: ``autofix fix IN -o OUT --inpainter classical`` through the CLI entry point
(in-process, after a warm-up call so interpreter and library start-up are excluded; the
report is included), then the same command again over the finished folder.

Anchor (what a user could write in 30 lines): per image, decode; MediaPipe face + hands on
the whole image once (the same shipped models and runtime autofix uses); a box mask per
detection; OpenCV TELEA at the crop's native size; one PNG save.

Both see the same folder of >= 20 distinct ~1024-px variants of the photos that ship in
installed packages (scikit-image, matplotlib, ultralytics). Prints ms/image of each, the
ratio, and PASS/MISS against the targets of the throughput issue (ratio <= 1.3,
<= 0.5 s/image, re-run <= 20 ms/image). ``--check`` exits 1 on a miss.

    python bench/bench_fix.py --images 24 [--keep DIR] [--check]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from autofix.photos import PEOPLE_PHOTOS, photo_array  # noqa: E402

TARGET_RATIO, TARGET_S, TARGET_RERUN_S = 1.3, 0.5, 0.020


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
    names = list(PEOPLE_PHOTOS)
    per = -(-count // len(names))
    written = 0
    for name in names:
        for k, img in enumerate(variants(photo_array(name), per)):
            if written < count:
                Image.fromarray(img).save(folder / f"{name}_{k:02d}.png")
                written += 1
    return written


def anchor(src: Path, out: Path) -> float:
    """The bare script; returns seconds for the whole folder."""
    import cv2

    from autofix.detect.mediapipe_face import MediaPipeFace
    from autofix.detect.mediapipe_hands import MediaPipeHands

    # one whole-image pass each, as a plain MediaPipe script runs them (no zoom, mirror, mesh or rotation)
    face, hands = MediaPipeFace("full", mirror=False, zoom=False, confirm=False), MediaPipeHands(zoom=False)
    out.mkdir(parents=True, exist_ok=True)
    face.detect(np.zeros((64, 64, 3), np.uint8))  # load models outside the timing, as the CLI warm-up does
    hands.detect(np.zeros((64, 64, 3), np.uint8))
    t = time.perf_counter()
    for path in sorted(src.glob("*.png")):
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        rgb = np.ascontiguousarray(bgr[:, :, ::-1])
        h, w = rgb.shape[:2]
        for det in face.detect(rgb) + hands.detect(rgb):
            x0, y0, x1, y1 = (int(round(v)) for v in det.box)
            x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
            if x1 <= x0 or y1 <= y0:
                continue
            cx0, cy0, cx1, cy1 = max(0, x0 - 32), max(0, y0 - 32), min(w, x1 + 32), min(h, y1 + 32)
            mask = np.zeros((cy1 - cy0, cx1 - cx0), np.uint8)
            mask[y0 - cy0:y1 - cy0, x0 - cx0:x1 - cx0] = 255
            bgr[cy0:cy1, cx0:cx1] = cv2.inpaint(np.ascontiguousarray(bgr[cy0:cy1, cx0:cx1]), mask, 5,
                                                cv2.INPAINT_TELEA)
        cv2.imwrite(str(out / path.name), bgr)
    return time.perf_counter() - t


def cli(*args: str) -> tuple[int, float]:
    """Run the CLI entry point in-process (stderr swallowed); returns ``(exit code, seconds)``."""
    from autofix.cli.main import main

    t = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()):
        code = main(list(args))
    return code, time.perf_counter() - t


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=24)
    ap.add_argument("--keep", type=Path, help="keep the input/output folders here")
    ap.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = ap.parse_args(argv)
    root = args.keep or Path(tempfile.mkdtemp(prefix="autofix-bench-"))
    src, out, bare = root / "in", root / "out", root / "bare"
    for folder in (out, bare, root / "warm-in", root / "warm-out"):
        shutil.rmtree(folder, ignore_errors=True)
    n = build_folder(src, args.images)
    sizes = [Image.open(p).size for p in sorted(src.glob("*.png"))]
    print(f"folder: {n} images, mean size {np.mean([s[0] for s in sizes]):.0f}x{np.mean([s[1] for s in sizes]):.0f}"
          f", {os.cpu_count()} CPU core(s)")

    build_folder(root / "warm-in", 1)  # start-up (imports, first model load) outside the timing
    cli("fix", str(root / "warm-in"), "-o", str(root / "warm-out"), "--inpainter", "classical", "-q")

    t_anchor = anchor(src, bare)
    code, t_fix = cli("fix", str(src), "-o", str(out), "--inpainter", "classical", "-q")
    code2, t_rerun = cli("fix", str(src), "-o", str(out), "--inpainter", "classical", "-q")
    per_anchor, per_fix, per_rerun = t_anchor / n, t_fix / n, t_rerun / n
    ratio = per_fix / per_anchor
    print(f"anchor (bare script)          {per_anchor * 1000:8.1f} ms/image")
    print(f"autofix fix (CLI, report)     {per_fix * 1000:8.1f} ms/image   exit {code}")
    print(f"autofix fix re-run (finished) {per_rerun * 1000:8.1f} ms/image   exit {code2}")
    checks = [(f"fix / anchor = {ratio:.2f} (target <= {TARGET_RATIO})", ratio <= TARGET_RATIO),
              (f"fix {per_fix:.3f} s/image (target <= {TARGET_S})", per_fix <= TARGET_S),
              (f"re-run {per_rerun * 1000:.1f} ms/image (target <= {TARGET_RERUN_S * 1000:.0f})",
               per_rerun <= TARGET_RERUN_S)]
    for text, ok in checks:
        print(f"  {verdict(ok)}  {text}")
    work = sum(p.stat().st_size for p in (out / "_autofix" / "work").rglob("*") if p.is_file())
    inputs = sum(p.stat().st_size for p in src.glob("*.png"))
    print(f"checkpoint disk / input size: {work / inputs:.3f} ({work / 1e6:.1f} MB vs {inputs / 1e6:.1f} MB)")
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return 1 if args.check and not all(ok for _, ok in checks) else 0


if __name__ == "__main__":
    sys.exit(main())
