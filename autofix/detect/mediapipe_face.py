"""MediaPipe face detection (BlazeFace), registered as ``mediapipe_face``.

Two of Google's MediaPipe models ship inside autofix (``autofix/detect/tflite/``,
sha256-checked, run on LiteRT by :mod:`autofix.detect.litert`; the SSD decoding and
weighted suppression that MediaPipe's graph does are in :mod:`autofix.detect.blaze`),
so nothing is downloaded:

* ``short`` (MediaPipe's model selection 0): a 128×128 model for faces within about 2 m
  of the camera, i.e. faces that fill a good part of the frame (close-up portraits,
  selfies). It is the better choice for portraits; it misses small faces (group photos,
  street scenes).
* ``full`` (model selection 1, the default): a 192×192 sparse model for faces up to
  about 5 m away. It finds smaller faces but does poorly on small images and on faces
  that fill the frame.

The user's choice is respected; nothing switches models behind their back. On top of
the whole-image pass, each step measured on the open photos (astronaut, camera,
grace_hopper, zidane, bus + coffee and chelsea without people: 7 certain faces) and on
the 1280×886 group photo ``insightface_t1`` (six faces of ~100-140 px, tilted, eyes
closed, one in profile-ish); ``bench/bench_detect.py`` reproduces the numbers:

* ``full``, whole image only: 6/7 open faces (misses Zidane, looking down in three-quarter
  profile in ``zidane.jpg``), 4/6 in the group photo, no false face.
* ``confirm`` (on for ``full``): candidates down to :data:`CONFIRM_FLOOR` are checked
  with the shipped face-mesh model's face flag (its own "is this a face" output): a
  candidate under ``min_confidence`` is kept only when the flag is ≥ :data:`RESCUE_FLAG`
  (its score becomes the mean of both); the mesh region is retried upright when the
  keypoints turn it off the face (:meth:`MediaPipeFace.face_mesh`). Gains Zidane
  (0.33 → flag 0.99) and Monica in the group photo: 7/7 open, 5/6 group, no false face
  (the false candidates of ``zidane.jpg``'s crowd and the coffee cup get flags ≤ 0.52;
  Zidane in a greyscale copy of the photo: 0.31 with flag 0.80).
  It also drops detections whose flag is under :data:`REJECT_FLAG` (real faces of the
  open photos: 0.69-1.0; the two false faces ≥ 0.5 the zoom tiles find on mosaics of
  the group photo: 0.03 and 0.003).
* ``zoom`` (on for ``full``), by need (:meth:`MediaPipeFace._needs_zoom`): on an image
  whose longer side is ≥ :data:`ZOOM_MIN_SIDE` and where no face of ≥
  :data:`ZOOM_SKIP_FACE` of that side was found (not a close-up portrait), the model also
  runs on :func:`zoom_windows` (tiles of 0.6 × the longer side, ≥ 25 % overlap: 4 on a
  1280×886 image). In the group photo the faces are ~15 px in the 192² input of the
  whole image, ~25 px in a tile: 6/6; also the group photo at half size (640×443): 6/6
  where the whole image finds 4.
* A second zoom level, by need (:func:`fine_windows`): when the zoom tiles found faces
  the whole image did not and these are under :data:`FINE_FACE` of a tile (a crowd of
  small faces), tiles of :data:`FINE_TILE` × the longer side along those faces' rows.
  Never triggered on the open photos or the group photo; on 1280×886 mosaics of the
  group photo (its faces at ~58 px and ~39 px: the 30-60 px faces of a 1 MP group
  photo) the whole image finds 0/24 and 0/54, the first level 11/24 and 4/54, both
  levels 24/24 and 42/54, no false face (16 more passes there).
* The mirrored whole-image pass (``mirror``, the previous default for ``full``: it found
  Zidane) adds nothing once ``confirm`` and ``zoom`` are on (7/7, 6/6 either way), so
  it is off by default; mirroring the short-range model only added a false face on a
  cat photo.
* The rotated search (``rotate``, on for ``full``; :meth:`MediaPipeFace._rotated_search`),
  by need. BlazeFace is trained on roughly upright faces: on copies of the 8 photos turned
  on a canvas that holds all of them (black corners), the search above keeps all 13
  certain faces to ±35°, finds 9 at 50°, 5 at 90°, 3 at 180°. MediaPipe's answer is to run
  on rotated input: the image turned (:func:`rotation_matrix`: the frame that holds all
  of it) is searched as an upright image, each window cut from the image as a turned
  region straight into the model's input (:meth:`MediaPipeFace._detect_turned`; no turned
  copy is made, so a 12 MP photo costs what a small one does), and the finds are mapped
  back exactly (:func:`unrotate_detection`: keypoints through the inverse map; the box is
  the upright box of the ellipse inscribed in the turned frame's box, turned back). Two
  cues, both free on an ordinary photo:

  - *no face* (no detection ≥ ``min_confidence`` with a mesh flag ≥
    :data:`MIN_FACE_FLAG`): the whole image turned by ±90° (:data:`PROBE_TURNS`: a photo
    on its side). The only bench images that pay are coffee and chelsea: about +10 ms
    each (two model passes and the mesh check of their candidates; as much on a 12 MP
    photo). ±45° probes (two more passes) found nothing more on these copies, not even
    where the upright search had only unconfirmed candidates (bus.jpg at 50°).
  - *a rolled face* (eyes' line ≥ :data:`ROLL_CUE` = 35° off level; the group photo's
    most tilted head is at 31°): the full search (zoom tiles by need) of the image turned
    to level it, snapped to 45°, then again for the faces that turn finds, up to
    :data:`MAX_TURNS` turns. The group photo turned −90° shows one face upright (at
    −48°); the 45° turn finds four more (at about −90°), the 90° turn the sixth. This
    costs a full search: +100-250 ms on the group photo turned 20-50°.

  Each face a turned copy adds needs a face-mesh flag ≥ :data:`ROTATED_FLAG` (0.75) in a
  region turned with its copy: real faces found in turned copies got 0.87-1.0, the two
  false ones (the coffee cup in ±45° copies, when those were probed) 0.58 and 0.66. Finds
  of all turns are merged best score first, and the first *confirmed* copy of a face stands
  for it (an upside-down copy can score first: grace_hopper turned 90°, 0.59 in the 180°
  copy, flag 0.51); a find whose box is off the face is the same face when either box's
  centre lies in the other or the mesh's centre lies in a known face (a tilted face's
  upright box can sit beside it). No rescue under ``min_confidence`` in turned copies:
  the one tried on the group photo turned −50° put the mesh (flag 1.0) on a neck under a
  chin. Result (8 photos, 13 certain faces, turned on a canvas that holds them; upright
  search alone → with the rotated search): 45° 9 → 13, 50° 9 → 11, 90° 5 → 13, −35° 11 →
  13, −45° 12 → 13, −50° 12 → 13, −90° 5 → 13, 180° 3 → 11; 0/±20/35° 13 either way. Lost:
  bus.jpg at 50° (~50 px faces; the upright search reports an unconfirmed false face there,
  so neither cue fires) and at 180° Zidane and a bus face (upside-down photos are not
  probed: a third pass on every image without a face). No false face added; the upright
  search's own false ones on turned copies remain (bus.jpg at 50/90/180°, the cat's face in
  chelsea at −50°). Upright photos with faces: unchanged (no cue fires). Same-size copies
  with reflected borders (faces whose centre stays in the frame): 35° 11/12 either way,
  45° 8 → 11/11, 50° 8 → 10/10, 90° 5 → 10/11, −90° 2 → 10/11 (a reflected border can
  hold a mirrored, less tilted copy of a face: found, it stands for the photo's faces and
  no cue fires; Zidane at ±35° and ±90° stays lost there).
* Pose landmarks (BlazePose nose/eyes/ears) as a face cue were measured and not kept:
  the pose models cost 25-150 ms an image (10× a face pass), found no face the steps
  above miss, and found neither Zidane nor the group photo's sixth person.
* ``short`` runs on overlapping square windows (side = the shorter image side, stride
  half of it; a square image is one window). The model letterboxes the image into its
  square input, so on a wide photo the faces shrink below what the short-range model
  sees: on the whole ``zidane.jpg`` it finds neither face (plus a false one), on the
  windows both.

Cost (2 shared CPU cores, best of 5, ms per image: mean over the 7 open photos / the
group photo): whole image only 4.4 / 4.6; with the mirror pass (the old default) 10.9 /
15.1; ``confirm`` 7.0 / 13.5; ``zoom`` 8.7 / 22.8; both (this default) 11.4 / 33.4; with
``mesh`` (the registry's detector: the mesh for every face, for its mask) 12.6 / 38.8. The whole
default detection (these faces + the default hand search) is 2.90-2.94× the bare pass (one
whole-image face + hands pass) over those 8 images (``bench/bench_detect.py``'s combined
line, three runs); the rotated search adds about 3 ms an image there (the probes of coffee
and chelsea).

Detections overlapping by IoU ≥ 0.3 (or mostly contained in a better one) are merged,
keeping the highest score. Scores under 0.5 are dropped here unless the face mesh rescues
them (above): that is the floor MediaPipe's face graph applied, and lower floors alone
only add false faces on the test photos (0.2: five on ``zidane.jpg``, one on the coffee
cup). The planner applies the user's threshold on top.

With ``mesh=True`` (the registry's ``full`` detector) every face the mesh confirms
carries the ``(468, 2)`` mesh as ``landmarks`` (from which the planner builds its mask:
the silhouette, forehead to the hairline, jaw and chin; :mod:`autofix.plan.face_masks`);
other faces keep the 6 BlazeFace keypoints.

The image check and the window/merge helpers here are shared with
:mod:`autofix.detect.mediapipe_hands`.
"""

from __future__ import annotations

import math
import threading
from dataclasses import replace
from typing import Any, Sequence

import numpy as np

from ..config import DetectorConfig
from ..errors import ConfigError
from ..types import Box, Detection
from .base import DETECTORS
from .litert import RUNTIME_MODULE

#: ``cfg.model`` value → MediaPipe ``model_selection``.
FACE_MODELS = {"short": 0, "full": 1}
#: MediaPipe face keypoint order: right eye, left eye, nose tip, mouth centre,
#: right ear tragion, left ear tragion (the subject's left/right). Mirroring swaps sides.
_MIRROR_KEYPOINTS = [1, 0, 2, 3, 5, 4]
Window = tuple[int, int, int, int]
#: A turned frame (:meth:`MediaPipeFace._detect_turned`): ``(matrix, turn, width, height)``.
Frame = tuple[np.ndarray, float, int, int]
#: Mirror pass on the whole image, per model (see module docs).
MIRROR = {"short": False, "full": False}
#: Zoom tiles (``full``): only on images whose longer side is at least this, tiles of
#: ``ZOOM_TILE`` × the longer side (see :func:`zoom_windows`).
ZOOM_MIN_SIDE = 640
ZOOM_SKIP_FACE = 0.15
ZOOM_TILE = 0.6
ZOOM_OVERLAP = 0.25
#: No zoom tiles smaller than this (px; the full-range model's input is 192²) or more than
#: this many (a strip such as a 20000×4 image would otherwise get thousands of 4 px tiles).
ZOOM_MIN_TILE = 128
ZOOM_MAX_TILES = 32
#: Second zoom level (:func:`fine_windows`): a face under this fraction of a zoom tile's side
#: found there calls for tiles of ``FINE_TILE`` × the longer side around its rows.
FINE_FACE = 0.1
FINE_TILE = 0.3
#: With the face-mesh check (``confirm``): candidates down to ``CONFIRM_FLOOR`` are looked
#: at; one under ``min_confidence`` is kept only where the mesh's face flag is at least
#: ``RESCUE_FLAG``; any candidate whose flag is under ``REJECT_FLAG`` is dropped (the mesh
#: model is sure it is no face); the mesh is attached (``mesh``) where the flag is at least
#: ``MIN_FACE_FLAG`` (MediaPipe's face-mesh floor).
CONFIRM_FLOOR = 0.3
MIN_FACE_FLAG = 0.5
RESCUE_FLAG = 0.75
REJECT_FLAG = 0.1
#: Rotated search (``rotate``, with ``confirm``; see :meth:`MediaPipeFace._rotated_search`):
#: an image where the upright search found no face gets the whole-image pass on copies
#: turned by ``PROBE_TURNS``; a face found rolled by at least ``ROLL_CUE`` degrees calls for
#: the full search of a copy turned to level it (up to ``MAX_TURNS`` turns). Every face a
#: turned copy adds needs a face-mesh flag of at least ``ROTATED_FLAG``.
ROLL_CUE = 35.0
MAX_TURNS = 3
PROBE_TURNS = (90.0, -90.0)
ROTATED_FLAG = 0.75


def check_image(image: Any) -> np.ndarray:
    """Return ``image`` as a C-contiguous ``(H, W, 3)`` uint8 array; raise ValueError otherwise."""
    shape = getattr(image, "shape", None)
    dtype = getattr(image, "dtype", None)
    ok = isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[2] == 3
    if not ok or dtype != np.uint8 or 0 in image.shape:
        got = f"shape {tuple(shape)} and dtype {dtype}" if shape is not None else f"{type(image).__name__}"
        raise ValueError(f"`image` must be an (H, W, 3) uint8 RGB array, but got {got}.")
    return np.ascontiguousarray(image)


def tile_windows(height: int, width: int, side: int) -> list[Window]:
    """Square windows ``(x0, y0, x1, y1)`` of ``side`` px covering the image, stride ``side // 2``.

    ``side`` is capped to the shorter image side; the last window in each direction is
    flush with the image edge. A square image with ``side`` ≥ its size is one window.
    """
    side = max(1, min(side, height, width))

    def starts(length: int) -> list[int]:
        out = list(range(0, length - side + 1, max(1, side // 2)))
        if out[-1] != length - side:
            out.append(length - side)
        return out

    return [(x, y, x + side, y + side) for y in starts(height) for x in starts(width)]


def zoom_windows(
    height: int, width: int, tile: float | None = None, min_side: int | None = None
) -> list[Window]:
    """Zoom tiles for the full-range model on a large image: none when the longer side is
    under ``min_side`` (default :data:`ZOOM_MIN_SIDE`); else square tiles of side ``tile``
    (default :data:`ZOOM_TILE`) × the longer side, capped to the shorter side, as few
    per axis as cover it with at least :data:`ZOOM_OVERLAP` of a tile shared between
    neighbours (a face cut by one tile's edge is whole in the next), spread evenly with
    the first and last flush with the image's edges. None when the tile would be under
    :data:`ZOOM_MIN_TILE` px or the tiles more than :data:`ZOOM_MAX_TILES` (strips)."""
    tile = ZOOM_TILE if tile is None else tile
    min_side = ZOOM_MIN_SIDE if min_side is None else min_side
    longer = max(height, width)
    if longer < min_side:
        return []
    side = min(int(math.ceil(tile * longer)), height, width)
    if side < ZOOM_MIN_TILE:
        return []

    def starts(length: int) -> list[int]:
        if length <= side:
            return [0]
        count = int(math.ceil((length - side) / (side * (1.0 - ZOOM_OVERLAP)))) + 1
        return [int(round(i * (length - side) / (count - 1))) for i in range(count)]

    windows = [(x, y, x + side, y + side) for y in starts(height) for x in starts(width)]
    return windows if len(windows) <= ZOOM_MAX_TILES else []


def fine_windows(faces: Sequence[Detection], height: int, width: int, tile_side: int) -> list[Window]:
    """The second zoom level, by need: when the zoom tiles (side ``tile_side``) found new
    faces (``faces``: those the whole-image pass did not find) under :data:`FINE_FACE` of
    that side (zooming pays and the faces are at the edge of what the model sees even
    there: a crowd), the tiles of :func:`zoom_windows` at :data:`FINE_TILE` × the longer
    side whose rows meet such a face's rows grown by half its height (the heads of a
    group are at similar heights: the band, not the whole image); none otherwise."""
    small = [d.box for d in faces if max(d.box[2] - d.box[0], d.box[3] - d.box[1]) < FINE_FACE * tile_side]
    if not small:
        return []
    bands = [(y0 - (y1 - y0) / 2, y1 + (y1 - y0) / 2) for _, y0, _, y1 in small]
    return [w for w in zoom_windows(height, width, tile=FINE_TILE, min_side=0)
            if any(w[1] < b1 and w[3] > b0 for b0, b1 in bands)]


def box_iou(a: Box, b: Box) -> tuple[float, float]:
    """``(IoU, intersection / smaller area)`` of two ``(x0, y0, x1, y1)`` boxes."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    area_a = max(0.0, a[2] - a[0]) * max(0.0, a[3] - a[1])
    area_b = max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])
    union = area_a + area_b - inter
    small = min(area_a, area_b)
    return (inter / union if union > 0 else 0.0), (inter / small if small > 0 else 0.0)


def dedupe(
    dets: Sequence[Detection], iou: float = 0.3, contain: float = 0.6, kept: Sequence[Detection] = ()
) -> list[Detection]:
    """Greedy merge: walk ``dets`` in priority order, drop any that overlaps a kept one.

    Overlap means IoU ≥ ``iou`` or intersection ≥ ``contain`` × the smaller box's area.
    ``kept`` are detections already accepted (returned first, never compared to each other).
    """
    kept = list(kept)
    for det in dets:
        if all(_distinct(det.box, k.box, iou, contain) for k in kept):
            kept.append(det)
    return kept


def _distinct(a: Box, b: Box, iou: float, contain: float) -> bool:
    overlap, contained = box_iou(a, b)
    return overlap < iou and contained < contain


def clip_box(box: Sequence[float], width: int, height: int) -> Box | None:
    """``box`` clipped to ``(0, 0, width, height)``; ``None`` if nothing is left."""
    x0, y0 = min(max(float(box[0]), 0.0), width), min(max(float(box[1]), 0.0), height)
    x1, y1 = min(max(float(box[2]), 0.0), width), min(max(float(box[3]), 0.0), height)
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None



def rotation_matrix(height: int, width: int, turn: float) -> tuple[np.ndarray, int, int]:
    """The ``(2, 3)`` affine map of continuous pixel coordinates (pixel ``i`` spans
    ``[i, i + 1)``) from an image of ``width`` × ``height`` to its copy turned
    counter-clockwise on screen by ``turn`` degrees about its centre, on a canvas just large
    enough to hold all of it (``new_width``, ``new_height``); returns ``(matrix, new_width,
    new_height)``. Multiples of 90° are exact (a pure permutation of pixels)."""
    rad = math.radians(turn)
    c, s = math.cos(rad), math.sin(rad)
    c, s = (0.0 if abs(c) < 1e-12 else c), (0.0 if abs(s) < 1e-12 else s)
    new_w = int(math.ceil(width * abs(c) + height * abs(s) - 1e-6))
    new_h = int(math.ceil(width * abs(s) + height * abs(c) - 1e-6))
    linear = np.array([[c, s], [-s, c]])
    shift = np.array([new_w / 2, new_h / 2]) - linear @ np.array([width / 2, height / 2])
    return np.hstack([linear, shift[:, None]]), new_w, new_h


def rotate_image(image: np.ndarray, turn: float) -> tuple[np.ndarray, np.ndarray]:
    """``image`` turned counter-clockwise by ``turn`` degrees on a canvas that holds all of
    it (black outside), and :func:`rotation_matrix`'s map into it. (The detector does not
    make turned copies, :meth:`MediaPipeFace._detect_turned`; this shows what its turned
    frame holds.)"""
    import cv2

    height, width = image.shape[:2]
    matrix, new_w, new_h = rotation_matrix(height, width, turn)
    quarter = turn / 90.0
    if quarter == round(quarter):  # exact and ~10x cheaper than a warp
        return np.ascontiguousarray(np.rot90(image, int(round(quarter)) % 4)), matrix
    # cv2 maps pixel centres (index coordinates): x_idx = x - 0.5 on both sides
    index = matrix.copy()
    index[:, 2] += matrix[:, :2] @ np.array([0.5, 0.5]) - 0.5
    rotated = cv2.warpAffine(image, index, (new_w, new_h), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
    return np.ascontiguousarray(rotated), matrix


def unrotate_detection(det: Detection, matrix: np.ndarray, turn: float, width: int, height: int) -> Detection | None:
    """A detection in a turned frame (``matrix``, ``turn``: :func:`rotation_matrix`'s) back in
    the original ``width`` × ``height`` image: keypoints mapped exactly; the box is the
    axis-aligned box of the ellipse inscribed in the copy's box turned back (a face is an
    oval: a square box turned 45° keeps its size), clipped. ``None`` when its centre
    lies outside the original (the copy's empty corners)."""
    inverse = np.linalg.inv(np.vstack([matrix, [0.0, 0.0, 1.0]]))[:2]
    x0, y0, x1, y1 = det.box
    cx, cy = inverse @ np.array([(x0 + x1) / 2, (y0 + y1) / 2, 1.0])
    if not (0.0 <= cx < width and 0.0 <= cy < height):
        return None
    rad = math.radians(turn)
    c, s = abs(math.cos(rad)), abs(math.sin(rad))
    a, b = (x1 - x0) / 2, (y1 - y0) / 2
    half_w, half_h = math.hypot(a * c, b * s), math.hypot(a * s, b * c)
    box = clip_box((cx - half_w, cy - half_h, cx + half_w, cy + half_h), width, height)
    if box is None:
        return None
    landmarks = det.landmarks
    if landmarks is not None:
        pts = np.asarray(landmarks, np.float64)
        landmarks = (pts @ inverse[:, :2].T + inverse[:, 2]).astype(np.float32)
    return replace(det, box=box, landmarks=landmarks)


def face_roll(det: Detection) -> float | None:
    """How far a face is turned counter-clockwise on screen (degrees, −180..180), from its
    eyes (the 6 keypoints or the 468-point mesh); ``None`` without landmarks."""
    pts = det.landmarks
    if pts is None or len(pts) not in (6, 468):
        return None
    right, left = (pts[0], pts[1]) if len(pts) == 6 else (pts[33], pts[263])
    return math.degrees(math.atan2(-(float(left[1]) - float(right[1])), float(left[0]) - float(right[0])))


def _inside(point: Sequence[float], box: Box) -> bool:
    return box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3]


def _same_place(a: Box, b: Box) -> bool:
    """Two face boxes that overlap (IoU ≥ 0.3 or mostly contained) or where either's centre
    lies inside the other: one face seen twice (a tilted face's box from the upright pass
    can sit off the face, too far for IoU to merge it with its turned copy's find)."""
    def centre(p: Box) -> tuple[float, float]:
        return (p[0] + p[2]) / 2, (p[1] + p[3]) / 2

    return not _distinct(a, b, 0.3, 0.6) or _inside(centre(a), b) or _inside(centre(b), a)


def _angle_diff(a: float, b: float) -> float:
    return (a - b + 180.0) % 360.0 - 180.0


class LiteRTDetector:
    """Shared lifetime of the LiteRT models a detector builds lazily into ``self._models``."""

    _models: dict[str, Any] | None = None
    #: Cheap to build (models load on first use): a run gives each CPU worker thread its own.
    per_thread = True

    def _model(self, name: str) -> Any:
        """Shipped model ``name`` (see :mod:`autofix.detect.litert`), loaded on first use."""
        if self._models is None:
            self._models = {}
        if name not in self._models:
            from .litert import TFLiteModel

            self._models[name] = TFLiteModel(name)
        return self._models[name]

    def load(self, *names: str) -> None:
        """Load models now (the factories do, before a run's threads start; see
        :func:`autofix.detect.litert.quiet_native_stderr`)."""
        for name in names:
            self._model(name)

    def close(self) -> None:
        """Release the models; the detector reloads them if used again."""
        self._models = None

    def __getstate__(self) -> dict[str, Any]:
        """Pickles without the models and the lock (e.g. to another process); they reload there."""
        state = dict(self.__dict__)
        state["_models"] = None
        state.pop("_lock", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __enter__(self) -> "LiteRTDetector":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


#: Old name of :class:`LiteRTDetector` (MediaPipe's legacy solutions API is gone).
MediaPipeSolution = LiteRTDetector


class MediaPipeFace(LiteRTDetector):
    """Face detector on MediaPipe's BlazeFace models, with the face mesh as a check.

    Args:
        model: ``"short"`` (close-up faces) or ``"full"`` (faces up to ~5 m).
        label: label given to every detection.
        min_confidence: the detection floor (MediaPipe's 0.5).
        mirror: also detect on the mirrored whole image and merge; ``None`` → :data:`MIRROR`
            of the model (see module docs).
        zoom: on a large image (longer side ≥ :data:`ZOOM_MIN_SIDE`) also detect on zoom
            tiles (:func:`zoom_windows`); ``None`` → on for ``full``.
        confirm: run the face mesh on each face found and use its face flag: candidates
            between :data:`CONFIRM_FLOOR` and ``min_confidence`` are kept only when the flag
            is ≥ :data:`RESCUE_FLAG`, any candidate whose flag is under :data:`REJECT_FLAG`
            is dropped; ``None`` → on for ``full``.
        mesh: attach the face mesh to every face it confirms: ``landmarks`` become the
            ``(468, 2)`` mesh (the planner's ``mask.shape: auto`` turns it into the face's
            silhouette, forehead and jaw included: :func:`autofix.plan.face_masks.face_mask`).
            Faces the mesh does not confirm keep the 6 keypoints (the planner then uses
            the ellipse of the box). Implies ``confirm``.
        rotate: the rotated search by need (:meth:`_rotated_search`: tilted faces, turned
            photos); needs ``confirm`` (every rotated find is confirmed by the face mesh);
            ``None`` → on for ``full``.

    ``detect`` returns :class:`~autofix.types.Detection` records with ``box`` in float
    pixels clipped to the image, ``score`` in [0, 1], and ``landmarks`` either a ``(6, 2)``
    float32 array of keypoint pixels (right eye, left eye, nose tip, mouth, right ear,
    left ear; may lie slightly outside the image) or, with ``mesh``, the ``(468, 2)``
    float32 face mesh in pixels (MediaPipe's order; score it with
    :func:`autofix.detect.face_score.face_plausibility`). Calls on one instance are
    serialised by a lock; call :meth:`close` (or use it as a context manager) to free
    the models.
    """

    def __init__(
        self,
        model: str = "full",
        label: str = "face",
        min_confidence: float = 0.5,
        mirror: bool | None = None,
        zoom: bool | None = None,
        confirm: bool | None = None,
        mesh: bool = False,
        rotate: bool | None = None,
    ) -> None:
        if model not in FACE_MODELS:
            raise ConfigError(
                f"unknown mediapipe_face model {model!r}; choose one of: {', '.join(FACE_MODELS)}"
            )
        self.model = model
        self.label = label
        self.name = f"mediapipe_face:{model}"
        self.min_confidence = float(min_confidence)
        self.mirror = MIRROR[model] if mirror is None else bool(mirror)
        self.zoom = model == "full" if zoom is None else bool(zoom)
        self.mesh = bool(mesh)
        self.confirm = self.mesh or (model == "full" if confirm is None else bool(confirm))
        self.rotate = self.confirm and (model == "full" if rotate is None else bool(rotate))
        self._models = None
        self._lock = threading.Lock()
        self._level = False

    def windows(self, height: int, width: int) -> list[Window]:
        """Where the model always runs: square tiles for ``short``, the whole image for
        ``full`` (the zoom tiles come on top, by need: :meth:`_needs_zoom`)."""
        if self.model == "short":
            return tile_windows(height, width, min(height, width))
        return [(0, 0, width, height)]

    def _needs_zoom(self, found: Sequence[Detection], height: int, width: int) -> bool:
        """Zoom tiles are worth their cost on an image whose longer side is at least
        :data:`ZOOM_MIN_SIDE` and where the whole-image pass found no face of at least
        :data:`ZOOM_SKIP_FACE` of that side (a close-up portrait: no small faces to look for)."""
        longer = max(height, width)
        if longer < ZOOM_MIN_SIDE:
            return False
        big = ZOOM_SKIP_FACE * longer
        return not any(d.score >= self.min_confidence and max(d.box[2] - d.box[0], d.box[3] - d.box[1]) >= big
                       for d in found)

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Faces in ``image`` (``(H, W, 3)`` uint8 RGB), sorted left to right."""
        image = check_image(image)
        floor = min(self.min_confidence, CONFIRM_FLOOR) if self.confirm else self.min_confidence
        with self._lock:
            found = self._search(image, floor)
            found.sort(key=lambda d: (-d.score, d.box))
            found = dedupe(found)
            self._level = False
            if self.confirm:
                found = [d for d in (self._confirm(image, d) for d in found) if d is not None]
            if self.rotate and self.confirm:  # every turned find needs the mesh's check
                found = self._rotated_search(image, found, self._level)
        return sorted(found, key=lambda d: d.box)

    def _search(
        self, image: np.ndarray, floor: float, whole: list[Detection] | None = None, frame: Frame | None = None
    ) -> list[Detection]:
        """The upright search of ``image``, not merged: the whole image (candidates down to
        ``floor``; ``whole``: that pass's finds, already made), then the zoom tiles and the
        second zoom level by need (candidates down to ``min_confidence``). With ``frame``
        (:meth:`_detect_turned`), the search of ``image`` turned, in the turned frame's pixels."""
        if frame is None:
            height, width = image.shape[:2]
            run = lambda window, floor_: self._detect_window(image, window, False, floor_)  # noqa: E731
        else:
            width, height = frame[2], frame[3]
            run = lambda window, floor_: self._detect_turned(image, window, frame, floor_)  # noqa: E731
        found: list[Detection] = []
        if whole is not None:
            found += whole
        else:
            for window in self.windows(height, width):
                for mirrored in (False, True) if self.mirror else (False,):
                    found += self._detect_window(image, window, mirrored, floor)
        if self.zoom and self.model == "full" and self._needs_zoom(found, height, width):
            tiles = zoom_windows(height, width)
            zoomed: list[Detection] = []
            fine_side = tiles[0][2] - tiles[0][0] if tiles else 0
            for window in tiles:  # rescue candidates: whole image only
                zoomed += run(window, self.min_confidence)
            kept = [d for d in found if d.score >= self.min_confidence]
            new = [d for d in zoomed if all(_distinct(d.box, k.box, 0.3, 0.6) for k in kept)]
            for window in fine_windows(new, height, width, fine_side):
                zoomed += run(window, self.min_confidence)
            found += zoomed
        return found

    def _rotation_cues(self, found: Sequence[Detection]) -> list[float]:
        """The turns (degrees, counter-clockwise, :func:`rotation_matrix`) that would level the
        faces in ``found`` rolled by at least :data:`ROLL_CUE`, snapped to multiples of
        45° (a face within 22.5° of level is found: the 20° copies keep every face), best
        face first, each turn once."""
        turns: list[float] = []
        for det in sorted(found, key=lambda d: -d.score):
            roll = face_roll(det)
            if roll is None or abs(roll) < ROLL_CUE:
                continue
            turn = float(_angle_diff(45.0 * round(-roll / 45.0), 0.0))
            if turn not in turns:
                turns.append(turn)
        return turns

    def _rotated_search(self, image: np.ndarray, found: list[Detection], level: bool) -> list[Detection]:
        """Faces the upright search missed because they are tilted or the photo is turned
        (see module docs). ``found``: the upright search's faces after the mesh check;
        ``level``: whether one of them is a face (score ≥ ``min_confidence``, mesh flag ≥
        :data:`MIN_FACE_FLAG`).

        Without a face, the whole image turned by :data:`PROBE_TURNS` (a photo on its side);
        then, while faces found so far are rolled (:meth:`_rotation_cues`) and at most
        :data:`MAX_TURNS` turns have been searched, the full search (zoom tiles by need) of
        the copy turned to level the best such face. Finds are mapped back exactly
        (:func:`unrotate_detection`), merged over turns (the best-scored copy of a face
        stands for it: an upside-down face can score too) and each new one is confirmed by
        the face mesh in a region turned with its copy (flag ≥ :data:`ROTATED_FLAG`)."""
        height, width = image.shape[:2]
        wholes: dict[float, tuple[Frame, list[Detection]]] = {}

        def whole_pass(turn: float) -> tuple[Frame, list[Detection]]:
            """The whole copy turned by ``turn``. No rescue candidates under ``min_confidence``
            in turned copies: on the group photo turned −50° one (0.33) got mesh flag 1.0 on
            a neck under a chin."""
            if turn not in wholes:
                matrix, new_w, new_h = rotation_matrix(height, width, turn)
                frame = (matrix, turn, new_w, new_h)
                wholes[turn] = (frame, self._detect_turned(image, (0, 0, new_w, new_h), frame, self.min_confidence))
            return wholes[turn]

        if not level:
            cands = []
            for turn in PROBE_TURNS:
                frame, whole = whole_pass(turn)
                cands += self._turned_back(image, whole, frame[0], turn)
            found = found + self._confirm_turned(image, cands, found)
        searched: list[float] = []
        while len(searched) < MAX_TURNS:
            turn = next((t for t in self._rotation_cues(found) if t not in searched), None)
            if turn is None:
                break
            searched.append(turn)
            frame, whole = whole_pass(turn)
            cands = self._search(image, self.min_confidence, whole=whole, frame=frame)
            cands = self._turned_back(image, cands, frame[0], turn)
            found = found + self._confirm_turned(image, cands, found)
        return found

    def _turned_back(
        self, image: np.ndarray, cands: Sequence[Detection], matrix: np.ndarray, turn: float
    ) -> list[tuple[Detection, float]]:
        """Candidates found in the frame turned by ``turn`` (``matrix``: :func:`rotation_matrix`'s)
        mapped back to ``image``, each with its turn."""
        height, width = image.shape[:2]
        back = (unrotate_detection(d, matrix, turn, width, height) for d in cands)
        return [(d, turn) for d in back if d is not None]

    def _confirm_turned(
        self, image: np.ndarray, cands: Sequence[tuple[Detection, float]], known: Sequence[Detection]
    ) -> list[Detection]:
        """Candidates of turned copies (:meth:`_turned_back`) that are not ``known``, best
        score first, confirmed by the face mesh (flag ≥ :data:`ROTATED_FLAG`) and merged:
        the first confirmed copy of a face stands for it (a face can score in a copy that
        has it upside down, where the mesh rejects it, before its upright copy)."""
        out: list[Detection] = []
        taken: list[Detection] = list(known)
        for det, turn in sorted(cands, key=lambda c: (-c[0].score, c[0].box)):
            if any(_same_place(det.box, k.box) for k in taken):
                continue
            pts: list[np.ndarray] = []
            confirmed = self._confirm(image, det, turn=turn, min_flag=ROTATED_FLAG, mesh_out=pts)
            if confirmed is None:
                continue  # another copy of it may still confirm (other keypoints: another mesh region)
            if any(_inside(pts[0].mean(axis=0), k.box) for k in taken):
                continue  # the mesh found a face already known (a candidate beside it, rescued)
            else:
                taken.append(confirmed)
                out.append(confirmed)
        return out

    def face_mesh(self, image: np.ndarray, det: Detection, turn: float = 0.0) -> tuple[np.ndarray, float]:
        """``(468, 2)`` float64 mesh pixels and the mesh model's face flag (0..1) for one
        face detection (6 keypoints). First in the region MediaPipe's face-mesh graph
        uses (the box, turned to level the eyes, ×1.5 on its longer side); when the flag
        there is under :data:`MIN_FACE_FLAG`, again in the upright square of the same
        size on the box's centre, and the better of the two is returned (the keypoints of a
        three-quarter profile can be far enough off to turn the first region away from
        the face: Zidane, looking down in ``zidane.jpg``, flag 0.29 → 0.99). A candidate
        under ``min_confidence`` goes straight to the upright square (one model run). For
        a face found in a copy turned by ``turn`` degrees the "upright" square is turned
        with it (level in the copy)."""
        from .blaze import RawDetection, rotated_roi

        height, width = image.shape[:2]
        x0, y0, x1, y1 = det.box
        kps = np.asarray(det.landmarks, np.float64)[:6] / (width, height)
        raw = RawDetection((x0 / width, y0 / height, x1 / width, y1 / height), kps, det.score)
        side = 1.5 * max(x1 - x0, y1 - y0)
        upright = ((x0 + x1) / 2, (y0 + y1) / 2, side, side, math.radians(turn))
        if det.score < self.min_confidence:  # a weak candidate's keypoints are not to be trusted
            return self._mesh_in(image, upright)
        pts, flag = self._mesh_in(image, rotated_roi(raw, width, height, start=0, end=1,
                                                     target_degrees=0.0, scale=1.5))
        if flag < MIN_FACE_FLAG:
            pts2, flag2 = self._mesh_in(image, upright)
            if flag2 > flag:
                pts, flag = pts2, flag2
        return pts, flag

    def _mesh_in(self, image: np.ndarray, roi: tuple[float, ...]) -> tuple[np.ndarray, float]:
        """The face-mesh model in one region: ``(468, 2)`` pixels and the face flag (0..1)."""
        from .blaze import project_landmarks
        from .litert import roi_tensor

        model = self._model("face_landmark")
        tensor, _, roi = roi_tensor(image, roi, model.input_size, border_zero=False)
        marks, flag = model.run(tensor)[:2]
        flag_value = 1.0 / (1.0 + np.exp(-float(np.clip(np.asarray(flag).reshape(-1)[0], -60.0, 60.0))))
        size = np.array(model.input_size, np.float64)
        pts = project_landmarks(marks.reshape(-1, 3)[:, :2].astype(np.float64) / size, roi)
        return pts, float(flag_value)

    def _confirm(
        self, image: np.ndarray, det: Detection, turn: float = 0.0, min_flag: float = REJECT_FLAG,
        mesh_out: list[np.ndarray] | None = None,
    ) -> Detection | None:
        """The face-mesh check of one candidate (see ``confirm``/``mesh``); ``turn``: the
        candidate was found in a copy turned that much, ``min_flag``: the flag it needs;
        ``mesh_out``: gets the mesh's points appended."""
        pts, flag = self.face_mesh(image, det, turn) if turn else self.face_mesh(image, det)
        if mesh_out is not None:
            mesh_out.append(pts)
        confirmed = flag >= MIN_FACE_FLAG
        if flag < max(min_flag, REJECT_FLAG):
            return None
        if confirmed and det.score >= self.min_confidence:
            self._level = True  # a face for sure: no probe of turned copies (_rotated_search)
        if det.score < self.min_confidence:
            if flag < RESCUE_FLAG:
                return None
            # two models agree: the detector's score raised halfway to the mesh's flag
            det = replace(det, score=float(min(1.0, (det.score + flag) / 2.0)))
        if self.mesh and confirmed:
            det = replace(det, landmarks=pts.astype(np.float32))
        return det

    def _detect_window(
        self, image: np.ndarray, window: Window, mirrored: bool, floor: float | None = None
    ) -> list[Detection]:
        """Run the model on one window (optionally mirrored); results in full-image pixels."""
        from .blaze import FACE_FULL, FACE_SHORT, detect_ssd

        spec = FACE_SHORT if self.model == "short" else FACE_FULL
        x0, y0, x1, y1 = window
        crop = image[y0:y1, x0:x1]
        crop = np.ascontiguousarray(crop[:, ::-1] if mirrored else crop)
        floor = self.min_confidence if floor is None else floor
        raws = detect_ssd(self._model(spec.model), spec, crop, floor)
        out = []
        for raw in raws:
            det = self._convert(raw, window, mirrored, image.shape[1], image.shape[0])
            if det is not None:
                out.append(det)
        return out

    def _detect_turned(self, image: np.ndarray, window: Window, frame: Frame, floor: float) -> list[Detection]:
        """Run the model on one window of ``image`` turned (``frame``: ``(matrix, turn,
        width, height)`` of :func:`rotation_matrix`); results in the turned frame's pixels
        (:func:`unrotate_detection` maps them back). No turned copy is made: the window is
        cut from ``image`` as a region turned with it, straight into the model's input (as
        the upright passes: a 12 MP photo costs no more than a small one)."""
        from .blaze import FACE_FULL, FACE_SHORT, _anchors, decode, remove_letterbox, weighted_nms
        from .litert import roi_tensor

        spec = FACE_SHORT if self.model == "short" else FACE_FULL
        model = self._model(spec.model)
        matrix, turn, frame_w, frame_h = frame
        x0, y0, x1, y1 = window
        inverse = np.linalg.inv(np.vstack([matrix, [0.0, 0.0, 1.0]]))[:2]
        cx, cy = inverse @ np.array([(x0 + x1) / 2, (y0 + y1) / 2, 1.0])
        size = model.input_size[0]
        # the copy is turned counter-clockwise by `turn`: its upright region is turned clockwise
        roi = (cx, cy, x1 - x0, y1 - y0, math.radians(turn))
        tensor, pad, _ = roi_tensor(image, roi, (size, size), value_range=spec.value_range)
        raw_boxes, raw_scores = model.run(tensor)[:2]
        dets = decode(raw_boxes, raw_scores, _anchors(spec, size), size, spec.num_keypoints, floor)
        out = []
        for raw in (remove_letterbox(d, pad) for d in weighted_nms(dets, spec.suppression_iou)):
            det = self._convert(raw, window, False, frame_w, frame_h)
            if det is not None:
                out.append(det)
        return out

    def _convert(self, raw: Any, window: Window, mirrored: bool, width: int, height: int) -> Detection | None:
        """One decoded detection (normalised to the window) → :class:`Detection` in full-image pixels."""
        x0, y0, x1, y1 = window
        w, h = x1 - x0, y1 - y0
        rx0, ry0, rx1, ry1 = raw.box
        bx0, bx1 = rx0 * w, rx1 * w
        pts = np.asarray(raw.keypoints, np.float64) * (w, h)
        if mirrored:
            bx0, bx1 = w - bx1, w - bx0
            pts[:, 0] = w - pts[:, 0]
            if len(pts) == len(_MIRROR_KEYPOINTS):
                pts = pts[_MIRROR_KEYPOINTS]
        by0, by1 = ry0 * h, ry1 * h
        box = clip_box((x0 + bx0, y0 + by0, x0 + bx1, y0 + by1), width, height)
        if box is None:
            return None
        score = float(min(max(raw.score, 0.0), 1.0))
        landmarks = (pts + (x0, y0)).astype(np.float32)
        return Detection(box=box, score=score, label=self.label, landmarks=landmarks, source=self.name)


@DETECTORS.register(
    "mediapipe_face",
    requires=(RUNTIME_MODULE,),
    summary="MediaPipe BlazeFace: faces; model short (close-up, 6 keypoints) or full (default, ~5 m: "
    "zoom by need, face mesh for the mask)",
)
def build_mediapipe_face(cfg: DetectorConfig, *, allow_pickle: bool | None = None) -> MediaPipeFace:
    """Factory: ``cfg.model`` in {None, "short", "full"} (None → "full"); ``cfg.label`` relabels.
    ``full`` is built with ``mesh=True``: its confirmed faces carry the face mesh.
    The model is loaded (and its sha256 checked) here, so a damaged install fails the build."""
    from .blaze import FACE_FULL, FACE_SHORT

    model = cfg.model or "full"
    detector = MediaPipeFace(model=model, label=cfg.label or "face", mesh=model == "full")
    detector.load((FACE_SHORT if detector.model == "short" else FACE_FULL).model)
    if detector.confirm:
        detector.load("face_landmark")
    return detector
