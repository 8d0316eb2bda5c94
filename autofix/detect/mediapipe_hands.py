"""MediaPipe Hands (palm detector + 21-landmark model), registered as ``mediapipe_hands``.

Google's MediaPipe palm-detection and hand-landmark models (the "full" ones, MediaPipe's
``model_complexity=1``) ship inside autofix and run on LiteRT (:mod:`autofix.detect.litert`).
The steps MediaPipe's static-image graph takes are done here with the helpers in
:mod:`autofix.detect.blaze`: palm detection on the letterboxed image (floor
``min_confidence``, weighted suppression), the best ``max_num_hands`` palms, each turned
into a rotated square hand region (wrist → middle-finger MCP points up, 2.6× the palm box,
shifted half a box towards the fingers), regions overlapping a later one by IoU > 0.5
dropped, then the landmark model on each region, kept where its hand-presence score is
≥ 0.5. No tracking, so results do not depend on earlier calls.

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

``score`` is the handedness confidence (left/right classification, ≥ 0.5), as the
MediaPipe solution reported it. Presence is gated before (palm detection ≥ 0.2, landmark
presence ≥ 0.5).
"""

from __future__ import annotations

import threading

import numpy as np

from ..config import DetectorConfig
from ..errors import ConfigError
from ..types import Detection
from .base import DETECTORS
from .litert import RUNTIME_MODULE
from .mediapipe_face import LiteRTDetector, Window, check_image, clip_box, dedupe, tile_windows

#: Accepted ``cfg.model`` values (only the full landmark model, complexity 1).
HAND_MODELS = ("full",)
#: Smallest zoom tile, px; below this the zoom pass is skipped.
MIN_ZOOM_TILE = 128
#: Landmark-model hand-presence floor (MediaPipe's ``min_tracking_confidence`` default).
MIN_PRESENCE = 0.5
#: Palm regions overlapping a later one by more than this IoU are dropped (MediaPipe's association).
ROI_ASSOCIATION_IOU = 0.5


class MediaPipeHands(LiteRTDetector):
    """Hand detector on MediaPipe Hands.

    Args:
        label: label given to every detection.
        max_num_hands: most hands per model pass and in the returned list.
        min_confidence: palm-detection floor (kept low on purpose).
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
        self._models = None
        self._lock = threading.Lock()

    def zoom_windows(self, height: int, width: int) -> list[Window]:
        """Tiles of the zoom pass: side = half the shorter side; none if under 128 px."""
        side = min(height, width) // 2
        return tile_windows(height, width, side) if self.zoom and side >= MIN_ZOOM_TILE else []

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Hands in ``image`` (``(H, W, 3)`` uint8 RGB), sorted left to right."""
        image = check_image(image)
        height, width = image.shape[:2]
        with self._lock:
            whole = self._detect_window(image, (0, 0, width, height))
            tiles: list[Detection] = []
            for window in self.zoom_windows(height, width):
                tiles += self._detect_window(image, window)
        whole.sort(key=lambda d: (-d.score, d.box))
        tiles.sort(key=lambda d: (-d.area, d.box))
        kept = dedupe(tiles, kept=whole)[: self.max_num_hands]
        return sorted(kept, key=lambda d: d.box)

    def _detect_window(self, image: np.ndarray, window: Window) -> list[Detection]:
        """Run palm detection + landmarks on one window; hands cut by an inner window edge are dropped."""
        x0, y0, x1, y1 = window
        crop = np.ascontiguousarray(image[y0:y1, x0:x1])
        out = []
        for pts, handedness in self._hands(crop):
            if _cut_by_inner_edge(pts, window, image.shape[1], image.shape[0]):
                continue
            det = self._convert(pts + (x0, y0), handedness, image.shape[1], image.shape[0])
            if det is not None:
                out.append(det)
        return out

    def _hands(self, image: np.ndarray) -> list[tuple[np.ndarray, float]]:
        """``(21, 2)`` landmark pixels and handedness confidence of each hand in ``image``."""
        from .blaze import PALM_FULL, detect_ssd, project_landmarks, roi_iou, rotated_roi
        from .litert import roi_tensor

        height, width = image.shape[:2]
        palms = detect_ssd(self._model(PALM_FULL.model), PALM_FULL, image, self.min_confidence)
        rois: list[tuple[float, ...]] = []
        for palm in palms[: self.max_num_hands]:
            roi = rotated_roi(palm, width, height, start=0, end=2, target_degrees=90.0, scale=2.6, shift_y=-0.5)
            rois = [r for r in rois if roi_iou(r, roi) <= ROI_ASSOCIATION_IOU] + [roi]
        landmark_model = self._model("hand_landmark_full")
        out = []
        for roi in rois:
            tensor, _, roi = roi_tensor(image, roi, landmark_model.input_size, border_zero=False)
            marks, presence, handedness = landmark_model.run(tensor)[:3]
            if float(presence.reshape(-1)[0]) < MIN_PRESENCE:
                continue
            size = np.array(landmark_model.input_size, np.float64)
            pts = project_landmarks(marks.reshape(21, 3)[:, :2].astype(np.float64) / size, roi)
            left = float(handedness.reshape(-1)[0])
            out.append((pts, max(left, 1.0 - left)))
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
    requires=(RUNTIME_MODULE,),
    summary="MediaPipe Hands: hand boxes + 21 landmarks (0 = wrist), whole image plus zoomed tiles",
)
def build_mediapipe_hands(cfg: DetectorConfig, *, allow_pickle: bool | None = None) -> MediaPipeHands:
    """Factory: ``cfg.model`` must be None or "full"; ``cfg.label`` relabels; loads the models."""
    if cfg.model not in (None, *HAND_MODELS):
        raise ConfigError(
            f"unknown mediapipe_hands model {cfg.model!r}; choose one of: {', '.join(HAND_MODELS)}"
        )
    detector = MediaPipeHands(label=cfg.label or "hand")
    detector.load("palm_detection_full", "hand_landmark_full")  # sha256-checked here, see mediapipe_face
    return detector
