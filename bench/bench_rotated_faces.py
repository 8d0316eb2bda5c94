"""The shipped face detector on turned copies of the open ground-truth photos: faces found
of the certain ones, false faces and ms/image per angle (issue 13: tilted faces).

    PYTHONPATH=. .venv/bin/python bench/bench_rotated_faces.py 0 20 35 45 50 90 -35 -45 -50 -90 180
    ROT_SAME=1 ...   # same-size copies with reflected borders (the tests' 20-degree setup)

Copies are turned on a canvas that holds the whole photo (black corners); a ground-truth
box counts as found at IoU >= 0.3 with the box's turned corners' hull or its turned ellipse's
box; a detection is false when it overlaps no ground-truth face by half its area (and its
centre lies in the photo, not in a reflected border).
"""
import json
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from autofix.config import DetectorConfig
from autofix.detect import build_detector
from autofix.detect.mediapipe_face import box_iou
from autofix.photos import photo_array

GT = json.loads((Path(__file__).resolve().parents[1] / "tests" / "data" / "open-photos-groundtruth.json")
                .read_text())["images"]
KEYS = {"astronaut": "skimage_astronaut.png", "camera": "skimage_camera.png",
        "grace_hopper": "matplotlib_grace_hopper.jpg", "zidane": "ultralytics_zidane.jpg",
        "bus": "ultralytics_bus.jpg", "insightface_t1": "insightface_t1.jpg", "coffee": None, "chelsea": None}

SAME = os.environ.get("ROT_SAME") == "1"  # same size, reflected border (as tests' 20° copy)

def rotate(image, deg):
    h, w = image.shape[:2]
    if SAME:
        m = cv2.getRotationMatrix2D((w / 2, h / 2), deg, 1.0)
        return cv2.warpAffine(image, m, (w, h), borderMode=cv2.BORDER_REFLECT), m
    m = cv2.getRotationMatrix2D((w / 2, h / 2), deg, 1.0)
    c, s = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(round(w * c + h * s)), int(round(w * s + h * c))
    m[0, 2] += nw / 2 - w / 2
    m[1, 2] += nh / 2 - h / 2
    return cv2.warpAffine(image, m, (nw, nh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT), m

def hulls(box, m):
    x0, y0, x1, y1 = box
    pts = np.array([[x0, y0, 1], [x1, y0, 1], [x0, y1, 1], [x1, y1, 1]]) @ m.T
    corner = [pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max()]
    cx, cy = m @ np.array([(x0 + x1) / 2, (y0 + y1) / 2, 1])
    a, b = (x1 - x0) / 2, (y1 - y0) / 2
    c, s = m[0, 0], m[0, 1]
    hw, hh = np.hypot(a * c, b * s), np.hypot(a * s, b * c)
    return corner, [cx - hw, cy - hh, cx + hw, cy + hh]

def run(det, angles, names=KEYS):
    rows = {}
    for deg in angles:
        tot = [0, 0, 0, 0.0]
        per = {}
        for name, key in names.items():
            image = photo_array(name)
            faces = GT[key]["faces"] if key else []
            certain = [f["box"] for f in faces if not f["tiny"] and not f["uncertain"]]
            rimg, m = rotate(image, deg)
            ms = 1e9
            for _ in range(2):
                t = time.perf_counter(); dets = det.detect(rimg); ms = min(ms, (time.perf_counter() - t) * 1000)
            th = [hulls(b, m) for b in certain]
            H, W = rimg.shape[:2]
            inv = cv2.invertAffineTransform(m)
            def in_photo(d):  # centre inside the original photo's (turned) area, not in a reflected border
                x, y = inv @ np.array([(d.box[0] + d.box[2]) / 2, (d.box[1] + d.box[3]) / 2, 1.0])
                return 0 <= x < image.shape[1] and 0 <= y < image.shape[0]
            if SAME:  # only faces whose centre stays in the frame can be found
                th = [(c, e) for c, e in th if 0 <= (e[0] + e[2]) / 2 < W and 0 <= (e[1] + e[3]) / 2 < H]
                certain = th
            every = [hulls(f["box"], m)[0] for f in faces]
            found = sum(1 for c, e in th if max((max(box_iou(c, d.box)[0], box_iou(e, d.box)[0]) for d in dets), default=0) >= 0.3)
            false = sum(1 for d in dets if max((box_iou(b, d.box)[1] for b in every), default=0) < 0.5 and in_photo(d))
            per[name] = (found, len(certain), false, ms)
            tot[0] += found; tot[1] += len(certain); tot[2] += false; tot[3] += ms
        rows[deg] = (tot, per)
        print(f"{deg:>4}°: {tot[0]}/{tot[1]} false {tot[2]} {tot[3]/len(names):.1f} ms/img  " +
              " ".join(f"{n[:6]}:{f}/{e}{'+'+str(fa)+'F' if fa else ''}/{ms:.0f}" for n, (f, e, fa, ms) in per.items()), flush=True)
    return rows

if __name__ == "__main__":
    angles = [int(a) for a in sys.argv[1:]] or [0, 20, 35, 50, 90]
    det = build_detector(DetectorConfig(backend="mediapipe_face"))
    det.detect(photo_array("astronaut"))
    run(det, angles)
