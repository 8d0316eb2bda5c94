"""Shared by the hand tests: a stylised hand's 21 landmarks, and the certain ground-truth
hands a detector finds on the open photos."""

from __future__ import annotations

import numpy as np

#: A stylised right hand in MediaPipe's 21-point order, fingers up (-y), wrist at the origin,
#: palm length 32 (wrist → middle-finger MCP).
UPRIGHT = np.array(
    [
        (0, 0),
        (-12, -6), (-20, -14), (-26, -22), (-30, -30),  # thumb
        (-10, -30), (-11, -42), (-12, -50), (-12, -58),  # index
        (0, -32), (0, -46), (0, -55), (0, -64),  # middle
        (9, -30), (10, -42), (11, -50), (11, -57),  # ring
        (16, -26), (18, -35), (19, -41), (20, -46),  # pinky
    ],
    dtype=np.float64,
)

#: The open photos with hands, and their ground-truth keys.
HAND_PHOTOS = {"zidane": "ultralytics_zidane.jpg", "bus": "ultralytics_bus.jpg",
               "insightface_t1": "insightface_t1.jpg"}


def found_certain_hands(detector, groundtruth: dict) -> list[tuple[str, np.ndarray, dict, object]]:
    """``(photo, image, ground-truth item, detection)`` for every certain hand of
    :data:`HAND_PHOTOS` that ``detector`` finds (IoU >= 0.3 with the hand-made box). A
    missing photo (the group photo's wheel not fetched) fails, naming the fetch command."""
    from autofix.detect.mediapipe_face import box_iou
    from autofix.photos import photo_array

    out = []
    for name, key in HAND_PHOTOS.items():
        image = photo_array(name)
        dets = detector.detect(image)
        for item in groundtruth[key]["hands"]:
            if item.get("tiny") or item.get("uncertain"):
                continue
            iou, det = max(((box_iou(item["box"], d.box)[0], d) for d in dets), key=lambda t: t[0],
                           default=(0.0, None))
            if iou >= 0.3:
                out.append((name, image, item, det))
    return out
