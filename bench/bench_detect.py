"""Embedded detectors on the open ground-truth photos: recall, false detections, time.

    python bench/bench_detect.py                 # this checkout's detectors
    PYTHONPATH=/path/to/old/checkout python bench/bench_detect.py   # compare another version

For each detector (face short, face full, hands): ground-truth items found at IoU >= 0.3
(certain ones / all), detections matching no ground truth, the mean IoU of the hits, the
first call (model load included) and the mean per-image time (best of 3) over the five
people photos plus two without people (coffee, chelsea). The photos ship inside
scikit-image, matplotlib and ultralytics (``bash scripts/install.sh --all`` has them).
"""

from __future__ import annotations

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
        "bus": "ultralytics_bus.jpg", "coffee": None, "chelsea": None}


def main() -> None:
    truth = json.loads(GT.read_text())["images"]
    images = {name: photo_array(name) for name in KEYS}
    detectors = {"face short": (MediaPipeFace("short"), "faces"), "face full": (MediaPipeFace("full"), "faces"),
                 "hands": (MediaPipeHands(), "hands")}
    for label, (det, kind) in detectors.items():
        start = time.perf_counter()
        det.detect(images["astronaut"])
        first = time.perf_counter() - start
        hit = total = hit_all = total_all = unmatched = 0
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
            unmatched += sum(
                1 for f in found if max((box_iou(i["box"], f.box)[0] for i in items), default=0.0) < 0.3)
        print(f"{label:10s} recall certain {hit}/{total}, all {hit_all}/{total_all}; unmatched {unmatched}; "
              f"mean IoU {np.mean(ious):.3f}; first call {first * 1000:.0f} ms; "
              f"{np.mean(times) * 1000:.1f} ms/image")
    print("matplotlib imported:", "matplotlib" in sys.modules, "| mediapipe imported:", "mediapipe" in sys.modules)


if __name__ == "__main__":
    main()
