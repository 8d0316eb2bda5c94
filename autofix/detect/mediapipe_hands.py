"""MediaPipe Hands (palm detector + 21-landmark model), registered as ``mediapipe_hands``.

The models ship inside the mediapipe wheel. Runs in static-image mode (no tracking, so
results do not depend on earlier calls) with ``model_complexity=1``.

Two passes, both deterministic:

1. the whole image;
2. a zoom pass on overlapping square tiles (side = half the shorter image side, stride
   half a tile), skipped when tiles would be under 128 px. MediaPipe letterboxes every
   input into the palm detector's fixed 192×192 square, so upscaling the *whole* image
   changes nothing (measured: identical results at 1×, 2× and 3× on the test photos);
   a tile shows hands at twice the size. On ``bus.jpg`` the whole image yields 0 of the
   3 clearly visible hands and the tiles yield all 3, with no extra false hands on the
   test photos that have none. Hands cut by an inner tile edge are dropped (a
   neighbouring tile sees them whole), and a tile hand overlapping an already-kept hand
   (IoU ≥ 0.3 or mostly inside it) is a duplicate. Whole-image hands win, then bigger.

Landmarks sit on joints, so the box is the landmarks' bounding box grown by ``margin``
(default 0.1 of its longer side) on every side, to reach fingertips and the palm edge.
On the four clearly visible ground-truth hands (zidane, bus) IoU with the hand-made
boxes peaks at a margin of 0.075 (mean 0.83); 0.1 (mean 0.79) errs on the generous side,
which is the safe side for a repaint mask.
MediaPipe's wrist landmark is the wrist joint, which can sit 30-45 px inside a visible
cuff line on a ~200 px hand; the planner's ``wrist_extension`` covers that.

``score`` is MediaPipe's handedness confidence (left/right classification, ≥ 0.5): the
legacy API exposes no palm-detection score. Presence is gated inside MediaPipe (palm
detection ≥ 0.2, landmark presence ≥ 0.5).
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from ..config import DetectorConfig
from ..errors import ConfigError
from ..types import Detection
from .base import DETECTORS
from .mediapipe_face import (
    MediaPipeSolution, Window, check_image, clip_box, dedupe, quiet_native_stderr, tile_windows,
)

#: Accepted ``cfg.model`` values (only the full landmark model, complexity 1).
HAND_MODELS = ("full",)
#: Smallest zoom tile, px; below this the zoom pass is skipped.
MIN_ZOOM_TILE = 128


class MediaPipeHands(MediaPipeSolution):
    """Hand detector on MediaPipe Hands.

    Args:
        label: label given to every detection.
        max_num_hands: most hands per MediaPipe call and in the returned list.
        min_confidence: palm-detection floor inside MediaPipe (kept low on purpose).
        margin: box growth per side, as a fraction of the landmark box's longer side.
        zoom: run the zoom-tile pass (see module docs).

    ``detect`` returns :class:`~autofix.types.Detection` records: ``box`` float pixels
    clipped to the image; ``landmarks`` a ``(21, 2)`` float32 array of ``(x, y)`` pixels
    in MediaPipe order (0 = wrist, 9 = middle-finger MCP), possibly slightly outside the
    image; ``score`` the handedness confidence.
    """

    name = "mediapipe_hands"

    def __init__(
        self,
        label: str = "hand",
        max_num_hands: int = 6,
        min_confidence: float = 0.2,
        margin: float = 0.1,
        zoom: bool = True,
    ) -> None:
        if max_num_hands < 1:
            raise ConfigError(f"max_num_hands must be at least 1, got {max_num_hands}")
        self.label = label
        self.max_num_hands = int(max_num_hands)
        self.min_confidence = float(min_confidence)
        self.margin = float(margin)
        self.zoom = bool(zoom)
        self._solution: Any = None
        self._lock = threading.Lock()

    def _detector(self) -> Any:
        """The MediaPipe Hands solution, built on first use and reused."""
        if self._solution is None:
            from mediapipe.python.solutions import hands

            self._solution = hands.Hands(
                static_image_mode=True,
                max_num_hands=self.max_num_hands,
                model_complexity=1,
                min_detection_confidence=self.min_confidence,
            )
        return self._solution

    def zoom_windows(self, height: int, width: int) -> list[Window]:
        """Tiles of the zoom pass: side = half the shorter side; none if under 128 px."""
        side = min(height, width) // 2
        return tile_windows(height, width, side) if self.zoom and side >= MIN_ZOOM_TILE else []

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Hands in ``image`` (``(H, W, 3)`` uint8 RGB), sorted left to right."""
        image = check_image(image)
        height, width = image.shape[:2]
        with self._lock, quiet_native_stderr():
            whole = self._detect_window(image, (0, 0, width, height))
            tiles: list[Detection] = []
            for window in self.zoom_windows(height, width):
                tiles += self._detect_window(image, window)
        whole.sort(key=lambda d: (-d.score, d.box))
        tiles.sort(key=lambda d: (-d.area, d.box))
        kept = dedupe(tiles, kept=whole)[: self.max_num_hands]
        return sorted(kept, key=lambda d: d.box)

    def _detect_window(self, image: np.ndarray, window: Window) -> list[Detection]:
        """Run MediaPipe on one window; hands cut by an inner window edge are dropped."""
        x0, y0, x1, y1 = window
        w, h = x1 - x0, y1 - y0
        result = self._detector().process(np.ascontiguousarray(image[y0:y1, x0:x1]))
        out = []
        for marks, hand in zip(result.multi_hand_landmarks or [], result.multi_handedness or []):
            pts = np.array([[p.x * w, p.y * h] for p in marks.landmark], np.float64)
            if _cut_by_inner_edge(pts, window, image.shape[1], image.shape[0]):
                continue
            det = self._convert(pts + (x0, y0), hand.classification[0].score, image.shape[1], image.shape[0])
            if det is not None:
                out.append(det)
        return out

    def _convert(self, pts: np.ndarray, score: float, width: int, height: int) -> Detection | None:
        """Landmark pixels ``(21, 2)`` + handedness score → :class:`Detection`."""
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        grow = self.margin * float(max(hi - lo))
        box = clip_box((lo[0] - grow, lo[1] - grow, hi[0] + grow, hi[1] + grow), width, height)
        if box is None:
            return None
        score = float(min(max(score, 0.0), 1.0))
        marks = pts.astype(np.float32)
        return Detection(box=box, score=score, label=self.label, landmarks=marks, source=self.name)



def _cut_by_inner_edge(pts: np.ndarray, window: Window, width: int, height: int) -> bool:
    """True if window-relative landmarks ``pts`` reach a window edge that is not an image edge."""
    x0, y0, x1, y1 = window
    tol = 0.02 * max(x1 - x0, y1 - y0)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    return bool(
        (x0 > 0 and lo[0] < tol)
        or (y0 > 0 and lo[1] < tol)
        or (x1 < width and hi[0] > (x1 - x0) - tol)
        or (y1 < height and hi[1] > (y1 - y0) - tol)
    )


@DETECTORS.register(
    "mediapipe_hands",
    requires=("mediapipe",),
    extra="detect",
    summary="MediaPipe Hands: hand boxes + 21 landmarks (0 = wrist), whole image plus zoomed tiles",
)
def build_mediapipe_hands(cfg: DetectorConfig, *, allow_pickle: bool | None = None) -> MediaPipeHands:
    """Factory: ``cfg.model`` must be None or "full"; ``cfg.label`` relabels."""
    if cfg.model not in (None, *HAND_MODELS):
        raise ConfigError(
            f"unknown mediapipe_hands model {cfg.model!r}; choose one of: {', '.join(HAND_MODELS)}"
        )
    return MediaPipeHands(label=cfg.label or "hand")
