"""Embedded detectors on the open ground-truth photos: recall, false detections, time.

    PYTHONPATH=. .venv/bin/python bench/bench_detect.py      # this checkout's detectors
    PYTHONPATH=/path/to/old/checkout .venv/bin/python bench/bench_detect.py   # another version

(``scripts/install.sh`` installs a copy of autofix into the venv, not a link to the
checkout: ``PYTHONPATH`` says which one is measured.)

For each detector configuration: ground-truth items found at IoU >= 0.3 (certain ones /
all), false detections (matching no ground-truth item, uncertain ones included) in total
and per 10 images, the mean IoU of the hits, the first call (model load included) and the
mean per-image time (best of 3) over the six people photos plus two without people
(coffee, chelsea). The photos ship inside scikit-image, matplotlib and ultralytics, and the
insightface 2.1 wheel (a group at a poker table, hands holding cards and chips; read from
the wheel file, see ``autofix/photos.py``); ``bash scripts/install.sh --all`` has them all.

Faces: ``face short`` (model short), ``face bare`` (full-range model on the whole image
only: no mirror, no zoom tiles, no mesh check, what a plain MediaPipe script does) and
``face`` (as the presets build it: full range, zoom tiles by need, the face-mesh check and
the face-mesh mask). Hands: ``hands bare`` (the whole image only, ``zoom=False``), ``hands tiles`` (the
old blind zoom pass, ``search="tiles"``) and ``hands`` (as the presets build it: pose-guided
search where pose can find someone + zoom windows only around small people and unfound
visible wrists). Each line gives its
cost as a multiple of the bare pass of its kind, and a last line the cost of the default
face + hand detection per image against the bare face + hands pass of the same run (target
<= 3x): on each image the two pairs are timed alternately ``--rounds`` times (default 7)
and the best round of each counts, so a slow spell of the machine hits both (the per-
detector lines above time one detector after another and drift by ~0.2x between runs).

``--folder N`` (default 24) then runs the three hand searches on the N ~1 MP variants that
``bench/bench_fix.py`` builds (mirror x crop x scale of the same photos), interleaved,
best of 2 per image, and prints ms/image, the ratio to the bare pass, the hands found and
how many of the blind tiles' hands each finds (IoU >= 0.3). ``--folder 0`` skips it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from autofix.detect.mediapipe_face import MediaPipeFace, box_iou
from autofix.detect.mediapipe_hands import MediaPipeHands
from autofix.photos import photo_array

GT = Path(__file__).resolve().parents[1] / "tests" / "data" / "open-photos-groundtruth.json"
KEYS = {"astronaut": "skimage_astronaut.png", "camera": "skimage_camera.png",
        "grace_hopper": "matplotlib_grace_hopper.jpg", "zidane": "ultralytics_zidane.jpg",
        "bus": "ultralytics_bus.jpg", "insightface_t1": "insightface_t1.jpg", "coffee": None, "chelsea": None}


def bare_face() -> MediaPipeFace:
    """The full-range model on the whole image only, as a plain MediaPipe script runs it."""
    det = MediaPipeFace("full", mirror=False)
    det.zoom = det.confirm = det.rotate = False  # set after construction: older versions lack the arguments
    return det


def shipped(backend: str):
    """The detector as the presets build it (the product path: for faces, zoom tiles by need,
    the mesh check and the face-mesh mask)."""
    from autofix.config import DetectorConfig
    from autofix.detect import build_detector

    return build_detector(DetectorConfig(backend=backend))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folder", type=int, default=24, help="~1 MP variants to time the hand search on (0: skip)")
    ap.add_argument("--rounds", type=int, default=7, help="timing rounds per image for the combined cost line")
    args = ap.parse_args(argv)
    truth = json.loads(GT.read_text())["images"]
    images = {name: photo_array(name) for name in KEYS}
    detectors = {"face short": (MediaPipeFace("short"), "faces"),
                 "face bare": (bare_face(), "faces"),
                 "face": (shipped("mediapipe_face"), "faces"),
                 "hands bare": (MediaPipeHands(zoom=False), "hands"),
                 "hands tiles": (MediaPipeHands(search="tiles"), "hands"),
                 "hands": (shipped("mediapipe_hands"), "hands")}
    ms = {}
    for label, (det, kind) in detectors.items():
        start = time.perf_counter()
        det.detect(images["astronaut"])
        first = time.perf_counter() - start
        hit = total = hit_all = total_all = false = 0
        ious, times = [], []
        for name, key in KEYS.items():
            best_t = float("inf")
            for _ in range(3):
                start = time.perf_counter()
                found = det.detect(images[name])
                best_t = min(best_t, time.perf_counter() - start)
            times.append(best_t)
            items = truth[key][kind] if key else []
            for item in items:
                best = max((box_iou(item["box"], f.box)[0] for f in found), default=0.0)
                total_all += 1
                hit_all += best >= 0.3
                if not item.get("tiny") and not item.get("uncertain"):
                    total += 1
                    hit += best >= 0.3
                if best >= 0.3:
                    ious.append(best)
            false += sum(
                1 for f in found if max((box_iou(i["box"], f.box)[0] for i in items), default=0.0) < 0.3)
        ms[label] = float(np.mean(times)) * 1000
        bare = ms.get({"faces": "face bare", "hands": "hands bare"}[kind])
        ratio = f" ({ms[label] / bare:.1f}x bare)" if bare and not label.endswith("bare") else ""
        print(f"{label:11s} recall certain {hit}/{total}, all {hit_all}/{total_all}; false {false} "
              f"({false * 10 / len(KEYS):.1f} per 10 images); mean IoU {np.mean(ious) if ious else 0:.3f}; "
              f"first call {first * 1000:.0f} ms; {ms[label]:.1f} ms/image{ratio}")
    default, bare = combined_cost(images, (detectors["face"][0], detectors["hands"][0]),
                                  (detectors["face bare"][0], detectors["hands bare"][0]), args.rounds)
    print(f"detection cost per image vs the bare whole-image MediaPipe face + hands pass (same run, "
          f"interleaved, best of {args.rounds}): {default:.1f} / {bare:.1f} ms = {default / bare:.2f}x "
          f"({len(KEYS)} images)")
    print("matplotlib imported:", "matplotlib" in sys.modules, "| mediapipe imported:", "mediapipe" in sys.modules)
    if args.folder > 0:
        folder({k: detectors[k][0] for k in ("hands bare", "hands tiles", "hands")}, args.folder)


def combined_cost(images: dict[str, np.ndarray], shipped_pair: tuple, bare_pair: tuple,
                  rounds: int) -> tuple[float, float]:
    """Mean ms per image of face + hand detection, shipped and bare: each image timed
    ``rounds`` times for each pair, the pairs alternating (so a slow spell of the machine
    hits both), best round per image and pair."""
    best = {"shipped": [], "bare": []}
    for image in images.values():
        t = {"shipped": float("inf"), "bare": float("inf")}
        for _ in range(rounds):
            for label, pair in (("shipped", shipped_pair), ("bare", bare_pair)):
                start = time.perf_counter()
                for det in pair:
                    det.detect(image)
                t[label] = min(t[label], time.perf_counter() - start)
        for label in best:
            best[label].append(t[label])
    return float(np.mean(best["shipped"])) * 1000, float(np.mean(best["bare"])) * 1000


def folder(detectors: dict[str, MediaPipeHands], count: int) -> None:
    """The hand search on ``count`` ~1 MP variants of the photos (bench_fix's folder)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_fix import variants

    from autofix.photos import PEOPLE_PHOTOS

    per = -(-count // len(PEOPLE_PHOTOS))
    imgs = [img for name in PEOPLE_PHOTOS for img in variants(photo_array(name), per)][:count]
    found: dict[str, list] = {k: [] for k in detectors}
    spent = dict.fromkeys(detectors, 0.0)
    for img in imgs:
        for label, det in detectors.items():
            best = float("inf")
            for _ in range(2):
                start = time.perf_counter()
                dets = det.detect(img)
                best = min(best, time.perf_counter() - start)
            spent[label] += best
            found[label].append(dets)
    bare = spent["hands bare"] / len(imgs)
    print(f"folder: {len(imgs)} images ~{np.mean([max(i.shape[:2]) for i in imgs]):.0f} px")
    for label in detectors:
        per_img = spent[label] / len(imgs)
        of_tiles = sum(
            1 for mine, tiles in zip(found[label], found["hands tiles"]) for t in tiles
            if max((box_iou(t.box, d.box)[0] for d in mine), default=0.0) >= 0.3)
        n_tiles = sum(map(len, found["hands tiles"]))
        print(f"  {label:11s} {per_img * 1000:6.1f} ms/image ({per_img / bare:.1f}x bare); "
              f"{sum(map(len, found[label]))} hands, {of_tiles}/{n_tiles} of the tiles' hands")


if __name__ == "__main__":
    main()
