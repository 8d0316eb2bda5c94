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

The search, deterministic (``search="people"``, the default):

1. the whole image;
2. zoom windows around people too small for the whole-image pass and for pose (faces
   under ``SMALL_FACE`` of the longer side): palm detection + landmarks in a window of
   ``WINDOW_FACES`` face sizes below each face (see :meth:`MediaPipeHands.person_windows`;
   in a group photo, where that window hardly magnifies, a tight one of ``TIGHT_FACES``
   face sizes too, searched after step 4 where it does not hold two found hands by then);
3. people: the pose models (:mod:`autofix.detect.mediapipe_pose`: BlazePose detector +
   ``pose_landmark_full``) give each person's wrists; at every wrist seen with
   visibility ≥ ``GUIDED_WRIST_VISIBILITY`` and not near a found hand (its box grown by
   ``WRIST_SLACK``), the hand region MediaPipe Holistic derives from the wrist, index and
   pinky landmarks, refined by ``hand_recrop``, goes to the landmark model (hands holding
   things, hands the palm detector misses). The pose models run when BlazeFace finds a
   face that is neither small nor large and whose person has the hips in the image, and in
   a group photo for the people whose face BlazeFace missed (see
   :meth:`MediaPipeHands._people` and :meth:`MediaPipeHands._faceless_people`);
4. where step 3 found no hand at a wrist: in a group photo, a palm pass in a window of
   ``WRIST_WINDOW`` shoulder widths on its hand region (insightface_t1: Phoebe's card
   hand); elsewhere, for a clearly visible wrist (visibility ≥ ``ZOOM_WRIST_VISIBILITY``)
   raised to the chest or face, the zoom tiles (side half the shorter image side, stride
   half a tile) holding its hand region (``camera.png``'s gloved hand is found that way
   only).

MediaPipe letterboxes every input into the palm detector's fixed 192×192 square, so
upscaling the *whole* image changes nothing; a window shows hands bigger. Hands cut by an
inner window edge are dropped; palms centred near an already-found hand (its box grown by
``WRIST_SLACK``) are not looked at again.

Of two overlapping detections (one hand fitted twice: IoU ≥ 0.3 or mostly inside one
another) the one whose landmarks score at least ``PLAUSIBLE``
(:func:`~autofix.detect.hand_score.hand_plausibility`) is kept over one that does not;
otherwise whole-image hands win, then pose-guided ones, then zoomed ones (bigger first).
``search="tiles"`` is the old blind zoom pass (every tile; ~11× the cost of the
whole-image pass, kept for comparison in ``bench/bench_detect.py``), and ``zoom=False``
the whole image only. Measured on the open ground-truth photos and on 24 ~1 MP variants
of them: see ``bench/bench_detect.py``.

Landmarks sit on joints, so the box is the landmarks' bounding box grown by ``margin``
(default 0.1 of its longer side) on every side, to reach fingertips and the palm edge.
On the four clearly visible ground-truth hands (zidane, bus) IoU with the hand-made
boxes peaks at a margin of 0.075 (mean 0.83); 0.1 (mean 0.79) errs on the generous side,
which is the safe side for a repaint mask.
MediaPipe's wrist landmark is the wrist joint, which can sit 30-45 px inside a visible
cuff line on a ~200 px hand; the planner's ``wrist_extension`` covers that.

``score`` is the landmark model's hand-presence score (gated at ≥ 0.5; palm detection
≥ 0.2 before it), not the handedness confidence MediaPipe's solution reports (left/right
classification, always ≥ 0.5 and blind to how hand-like the crop is): the never-worse
guard multiplies it with the landmarks' plausibility (:mod:`autofix.detect.hand_score`).
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from ..config import DetectorConfig
from ..errors import ConfigError
from ..types import Detection
from .base import DETECTORS
from .hand_score import hand_plausibility
from .litert import RUNTIME_MODULE
from .mediapipe_face import LiteRTDetector, Window, box_iou, check_image, clip_box, dedupe, tile_windows

#: Accepted ``cfg.model`` values (only the full landmark model, complexity 1).
HAND_MODELS = ("full",)
#: Smallest zoom tile, px; below this the zoom pass is skipped.
MIN_ZOOM_TILE = 128
#: Landmark-model hand-presence floor (MediaPipe's ``min_tracking_confidence`` default).
MIN_PRESENCE = 0.5
#: ``search`` values: pose-guided + windows around small people (default), or blind tiles.
SEARCH_MODES = ("people", "tiles")
#: Pose-detection floor and most people searched per image.
MIN_PERSON_SCORE = 0.5
MAX_PEOPLE = 6
#: Pose-detection floor for the people of a group photo whose face BlazeFace missed, and how
#: near their mid-shoulder point (in torso lengths) a found face makes a person not faceless.
CROWD_PERSON_SCORE = 0.2
FACE_NEAR_TORSO = 0.75
#: Face-detection floor for the small-people cue (BlazeFace full range).
MIN_FACE_SCORE = 0.5
#: A face under this fraction of the image's longer side marks a person too small for the whole-image pass.
SMALL_FACE = 0.1
#: A face over this fraction of the longer side: its person's hands show at >= ~35 px in the
#: palm detector's 192² input, big enough for the whole-image pass; no pose search for it.
LARGE_FACE = 0.2
#: Zoom window around a small person: side and downward offset of its centre, in face sizes.
WINDOW_FACES = 7.5
WINDOW_DROP = 3.5
#: A window of ``WINDOW_FACES`` face sizes over this fraction of the image's longer side
#: would magnify the palm detector's input less than 2x (faces just under ``SMALL_FACE``, a
#: group photo): such a person also gets a tight window of ``TIGHT_FACES`` face sizes,
#: centred ``WINDOW_DROP`` face sizes below the face (the hands at the chest and the table).
TIGHT_ABOVE = 0.5
TIGHT_FACES = 4.0
#: The hips estimated from a face count as in the image only this many face sizes inside its
#: edges (the estimate's spread: the pose detector's hips sit 3.1-3.7 face sizes below the face).
HIPS_MARGIN = 0.3
#: Two wide windows that magnify the palm input under this factor and share at least
#: ``LOW_ZOOM_SHARED`` of the smaller one's area: the later one is not searched
#: (insightface_t1: Ross's 1.45x window, 64% shared with Joey's, found nothing; one palm pass
#: and its landmark runs saved, ~12 ms).
LOW_ZOOM = 1.5
LOW_ZOOM_SHARED = 0.5
#: Pose wrists at least this visible are searched (MediaPipe Holistic: 0.1), if inside the
#: image with a presence (the pose model's "in frame" score) at least this high.
GUIDED_WRIST_VISIBILITY = 0.5
MIN_WRIST_PRESENCE = 0.5
#: A pose wrist within a found hand's box grown by this fraction of its longer side on every
#: side is that hand's (the pose wrist can sit a little outside the landmarks' box).
WRIST_SLACK = 0.15
#: Pose wrists at least this visible get a zoom window when the landmark model finds no hand there.
ZOOM_WRIST_VISIBILITY = 0.5
#: ... and only when raised to the chest or face: at most this fraction of the torso below the shoulders.
RAISED = 0.3
#: In a group photo, a visible wrist whose hand region gives the landmark model no hand gets
#: one palm pass in a square window of this many shoulder widths centred on that region (a
#: hand at ~90 px of the palm detector's 192² input): hands holding things, which the landmark
#: model misses on a region placed from the coarse pose points (insightface_t1: Phoebe's card
#: hand, found at 0.7-1.1 shoulder widths, not at 0.6 or 1.2 and over).
WRIST_WINDOW = 1.0
#: Of two fits of one hand (overlapping detections), one whose landmarks score at least this
#: plausibility (:func:`~autofix.detect.hand_score.hand_plausibility`) is kept over one under it.
PLAUSIBLE = 0.9
#: Palm regions overlapping a later one by more than this IoU are dropped (MediaPipe's association).
ROI_ASSOCIATION_IOU = 0.5


class MediaPipeHands(LiteRTDetector):
    """Hand detector on MediaPipe Hands.

    Args:
        label: label given to every detection.
        max_num_hands: most palms (hands) per palm-detection pass.
        max_hands: most hands in the returned list (default ``2 * MAX_PEOPLE``: a group
            photo holds more hands than one pass keeps).
        min_confidence: palm-detection floor (kept low on purpose).
        margin: box growth per side, as a fraction of the landmark box's longer side.
        zoom: search beyond the whole-image pass (``False``: the whole image only, as a
            plain MediaPipe script does).
        search: ``"people"`` (pose-guided wrists + zoom windows where they can find
            something, the default) or ``"tiles"`` (the old blind zoom tiles); see module docs.

    ``detect`` returns :class:`~autofix.types.Detection` records: ``box`` float pixels
    clipped to the image; ``landmarks`` a ``(21, 2)`` float32 array of ``(x, y)`` pixels
    in MediaPipe order (0 = wrist, 9 = middle-finger MCP), possibly slightly outside the
    image; ``score`` the landmark model's hand presence.
    """

    name = "mediapipe_hands"

    def __init__(
        self,
        label: str = "hand",
        max_num_hands: int = 6,
        max_hands: int = 2 * MAX_PEOPLE,
        min_confidence: float = 0.2,
        margin: float = 0.1,
        zoom: bool = True,
        search: str = "people",
    ) -> None:
        if max_num_hands < 1:
            raise ConfigError(f"max_num_hands must be at least 1, got {max_num_hands}")
        if max_hands < 1:
            raise ConfigError(f"max_hands must be at least 1, got {max_hands}")
        self.max_hands = int(max_hands)
        self.label = label
        self.max_num_hands = int(max_num_hands)
        self.min_confidence = float(min_confidence)
        self.margin = float(margin)
        self.zoom = bool(zoom)
        if search not in SEARCH_MODES:
            raise ConfigError(f"unknown hand search {search!r}; choose one of: {', '.join(SEARCH_MODES)}")
        self.search = search
        self._models = None
        self._lock = threading.Lock()

    def zoom_windows(self, height: int, width: int) -> list[Window]:
        """Blind tiles (``search="tiles"``): side = half the shorter side; none if under 128 px."""
        side = min(height, width) // 2
        return tile_windows(height, width, side) if self.zoom and side >= MIN_ZOOM_TILE else []

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Hands in ``image`` (``(H, W, 3)`` uint8 RGB), sorted left to right."""
        image = check_image(image)
        height, width = image.shape[:2]
        with self._lock:
            whole = self._detect_window(image, (0, 0, width, height))
            guided: list[Detection] = []
            zoomed: list[Detection] = []
            if self.zoom and self.search == "people":
                people, small, crowd = self._people(image)
                pairs = self.person_windows(image, small)  # (tight or None, wide) per small person
                wide = _distinct_windows([w for _, w in pairs], low_zoom=max(height, width) / LOW_ZOOM)
                for window in wide:  # small people first: their hands are not searched at the wrists
                    zoomed += self._detect_window(image, window, known=whole + zoomed)
                guided, wrist_windows = self._guided(image, people, whole + zoomed, crowd=crowd)
                tight = [t for t, _ in pairs if t is not None]
                for window in _distinct_windows(wide + wrist_windows + tight)[len(wide):]:
                    known = whole + guided + zoomed
                    if window in tight and sum(_inside(_centre(d.box), window) for d in dedupe(known)) >= 2:
                        continue  # two hands found in it (taken as that person's; duplicates counted once)
                    zoomed += self._detect_window(image, window, known=known)
            else:
                for window in self.zoom_windows(height, width):
                    zoomed += self._detect_window(image, window)
        whole.sort(key=lambda d: (-d.score, d.box))
        guided.sort(key=lambda d: (-d.area, d.box))
        zoomed.sort(key=lambda d: (-d.area, d.box))
        # one hand fitted twice: a plausible fit wins over an implausible one whatever pass found
        # it; then whole-image, pose-guided, zoomed
        ranked = sorted(whole + guided + zoomed, key=lambda d: hand_plausibility(d.landmarks) < PLAUSIBLE)
        kept = dedupe(ranked)[: self.max_hands]
        return sorted(kept, key=lambda d: d.box)

    # ------------------------------------------------------------------ people-guided search

    def _people(self, image: np.ndarray) -> tuple[list[Any], list[tuple[float, float, float]], bool]:
        """People to search around their wrists, small-person cues for zoom windows, and
        whether the people are those of a group photo whose face BlazeFace missed
        (:meth:`_faceless_people`).

        People come from the pose models (:func:`~autofix.detect.mediapipe_pose.find_people`).
        Faces come from BlazeFace (full range, ~4 ms). A face under ``SMALL_FACE`` of the
        image's longer side is a cue ``(x, y, size)`` for :meth:`person_windows`, and so is
        a person whose shoulders are under twice that: the pose landmarks of such people
        are too coarse to place a hand region, and they are not searched at the wrists.
        The pose models (~28 ms for one person) run only when they can find someone to
        search: BlazePose's detector is itself a face detector standing in for the person,
        with its region centred on the hips, so they are not run

        * when BlazeFace finds no face (no people: coffee, chelsea; ~11 ms saved),
        * when every face is small (windows instead; in a group photo, the pose search of
          the people BlazeFace missed, :meth:`_faceless_people`) or large (over
          ``LARGE_FACE`` of the longer side: the person's hands are big enough for the
          whole-image pass; astronaut),
        * when no mid-sized face's person has its hips in the image, ``HIPS_MARGIN`` face
          sizes inside its edges (a head-and-shoulders portrait; zidane): the hips
          estimated from the face as the pose detector would place them
          (:func:`~autofix.detect.mediapipe_pose.person_roi_from_face`).

        On the open photos and the 24 folder variants no hand is lost by these gates;
        ``bench/bench_detect.py``'s default hands search went from 3.4x to 2.4x the bare
        pass on the folder."""
        from .blaze import FACE_FULL, detect_ssd
        from .mediapipe_pose import find_people, person_roi_from_face

        height, width = image.shape[:2]
        small_side = SMALL_FACE * max(height, width)
        small: list[tuple[float, float, float]] = []
        face_boxes = []
        hips_in_frame = False
        for face in detect_ssd(self._model(FACE_FULL.model), FACE_FULL, image, MIN_FACE_SCORE):
            x0, y0, x1, y1 = face.box
            face_boxes.append((x0 * width, y0 * height, x1 * width, y1 * height))
            size = max((x1 - x0) * width, (y1 - y0) * height)
            if size < small_side:
                small.append(((x0 + x1) / 2 * width, (y0 + y1) / 2 * height, size))
            elif size < LARGE_FACE * max(height, width):
                hips = person_roi_from_face(face, width, height)[:2]
                m = HIPS_MARGIN * size
                hips_in_frame |= _inside(hips, (m, m, width - m, height - m))
        people: list[Any] = []
        if not hips_in_frame:
            if any(WINDOW_FACES * size > TIGHT_ABOVE * max(height, width) for _, _, size in small):
                return self._faceless_people(image, small), small, True  # a group photo: people BlazeFace missed
            return people, small, False  # no face, only small ones, or portraits: no pose models
        for person in find_people(self._model("pose_detection"), self._model("pose_landmark_full"), image,
                                  min_score=MIN_PERSON_SCORE, max_people=MAX_PEOPLE):
            if person.size >= 2 * small_side:
                people.append(person)
            elif not any(_inside(person.landmarks[0], box) for box in face_boxes):  # else its face is a cue
                nose = person.landmarks[0]
                small.append((float(nose[0]), float(nose[1]), person.size / 2.0))
        return people, small, False

    def _faceless_people(self, image: np.ndarray, faces: list[tuple[float, float, float]]) -> list[Any]:
        """People of a group photo whose face BlazeFace missed (turned away, looking down,
        in profile), found by the pose detector alone (floor ``CROWD_PERSON_SCORE``).

        Run only when some face is just under ``SMALL_FACE`` (its wide window hardly
        magnifies, see :meth:`person_windows`): the people are then big enough for the pose
        landmarks. A pose detection is faceless when no face ``(x, y, size)`` lies within
        ``FACE_NEAR_TORSO`` torso lengths (mid-shoulder → mid-hip keypoints) of its
        mid-shoulder point; only those get the pose landmark model, and only people whose
        shoulders are at least ``SMALL_FACE`` of the longer side wide are kept for the wrist
        search (insightface_t1: Phoebe, looking down, whose left hand holds the cards: one
        pose detection and one landmark run)."""
        from .mediapipe_pose import landmarks_in_roi, person_detections

        height, width = image.shape[:2]
        out = []
        for roi, score, kps in person_detections(self._model("pose_detection"), image, CROWD_PERSON_SCORE,
                                                 MAX_PEOPLE):
            hip, shoulder = kps[0], kps[2]
            torso = float(np.hypot(*(hip - shoulder)))
            if any(np.hypot(x - shoulder[0], y - shoulder[1]) <= FACE_NEAR_TORSO * torso for x, y, _ in faces):
                continue
            person = landmarks_in_roi(self._model("pose_landmark_full"), image, roi, score)
            if person is not None and person.size >= SMALL_FACE * max(height, width):
                out.append(person)
        return out

    def _guided(
        self, image: np.ndarray, people: list[Any], found: list[Detection], crowd: bool = False
    ) -> tuple[list[Detection], list[Window]]:
        """Hands at each visible pose wrist: Holistic's hand region, re-cropped, then the
        landmark model. A wrist outside the image (or with pose presence under
        ``MIN_WRIST_PRESENCE``: the pose model's own "out of frame") or already inside a
        found hand's box is not searched.
        Where the landmark model sees no hand at a clearly visible wrist (visibility ≥
        ``ZOOM_WRIST_VISIBILITY``) raised to the chest or face (``RAISED``: hands holding a
        camera, a phone, a cup), the zoom tiles holding its hand region are returned for the
        palm pass (see :func:`_tiles_around`); for the people of a group photo (``crowd``,
        see :meth:`_faceless_people`), at any visible wrist, a window of ``WRIST_WINDOW``
        shoulder widths on the hand region instead (Phoebe's card hand is found in windows
        of 0.7-1.1 shoulder widths, not in the 2.6 of the half-side tiles)."""
        from .mediapipe_pose import HAND_POINTS, hand_roi_from_pose, recrop

        height, width = image.shape[:2]
        out: list[Detection] = []
        windows: list[Window] = []
        for person in people:
            for side in ("left", "right"):
                wrist_index = HAND_POINTS[side][0]
                wrist = person.landmarks[wrist_index]
                if (person.visibility[wrist_index] < GUIDED_WRIST_VISIBILITY
                        or person.presence[wrist_index] < MIN_WRIST_PRESENCE
                        or not _inside(wrist, (0, 0, width, height))
                        or any(_inside(wrist, _grown(d.box, WRIST_SLACK)) for d in found + out)):
                    continue
                roi = hand_roi_from_pose(person, side)
                if roi is None:
                    continue
                hand = self._landmarks(image, recrop(self._model("hand_recrop"), image, roi))
                det = None if hand is None else self._convert(hand[0], hand[1], width, height)
                if det is not None:
                    out.append(det)
                    continue
                if crowd:
                    window = _square_window(roi[0], roi[1], WRIST_WINDOW * person.size, width, height)
                    windows += [] if window is None else [window]
                elif person.visibility[wrist_index] >= ZOOM_WRIST_VISIBILITY and person.raised(wrist_index) <= RAISED:
                    windows += _tiles_around(roi, self.zoom_windows(height, width))
        return out, windows

    def person_windows(
        self, image: np.ndarray, cues: list[tuple[float, float, float]]
    ) -> list[tuple[Window | None, Window]]:
        """Zoom windows around people too small for the whole-image palm pass and for pose:
        ``(tight, wide)`` per person, bigger faces first.

        ``cues`` are faces ``(x, y, size)`` under ``SMALL_FACE`` of the image's longer side
        (their hands are then under ~10 px in the palm model's 192² input). The wide window
        is a square of ``WINDOW_FACES`` face sizes centred ``WINDOW_DROP`` face sizes below
        the face (chest to hips, where hands are), at least ``MIN_ZOOM_TILE`` px, shifted
        inside the image. Where it is over ``TIGHT_ABOVE`` of the longer side (it magnifies
        the palm input less than 2x: faces just under ``SMALL_FACE``, a group photo) the
        person also gets a tight window of ``TIGHT_FACES`` face sizes, same centre, which
        :meth:`detect` searches after the wide ones and the wrists, only where it does not
        hold two found hands by then (any two, taken as that person's: a neighbour's hands
        in the window can stand in; duplicates counted once). ``tight`` is ``None`` for the
        others. insightface_t1: Monica's hand resting fingers-down on the table is found only
        by a tight window (1 of its 4 searched)."""
        height, width = image.shape[:2]
        longest = max(height, width)
        out = []
        for cx, cy, size in sorted(cues, key=lambda c: -c[2]):
            if not 0 < size < SMALL_FACE * longest:
                continue
            wide = _square_window(cx, cy + WINDOW_DROP * size, WINDOW_FACES * size, width, height)
            tight = None
            if WINDOW_FACES * size > TIGHT_ABOVE * longest:
                tight = _square_window(cx, cy + WINDOW_DROP * size, TIGHT_FACES * size, width, height)
            if wide is not None or tight is not None:
                out.append((tight, wide if wide is not None else tight))
        return out

    def _detect_window(
        self, image: np.ndarray, window: Window, known: list[Detection] | None = None
    ) -> list[Detection]:
        """Run palm detection + landmarks on one window; hands cut by an inner window edge
        are dropped. Palms centred inside a ``known`` hand's box (grown by ``WRIST_SLACK``) are
        not looked at again (the landmark model is most of a window's cost, and such a hand is
        a duplicate)."""
        x0, y0, x1, y1 = window
        crop = np.ascontiguousarray(image[y0:y1, x0:x1])
        grown = (_grown(d.box, WRIST_SLACK) for d in known or [])
        skip = [(b[0] - x0, b[1] - y0, b[2] - x0, b[3] - y0) for b in grown]
        out = []
        for pts, presence in self._hands(crop, skip):
            if _cut_by_inner_edge(pts, window, image.shape[1], image.shape[0]):
                continue
            det = self._convert(pts + (x0, y0), presence, image.shape[1], image.shape[0])
            if det is not None:
                out.append(det)
        return out

    def _hands(self, image: np.ndarray, skip: Any = ()) -> list[tuple[np.ndarray, float]]:
        """``(21, 2)`` landmark pixels and hand presence of each hand in ``image``;
        palms whose centre lies in a ``skip`` box are left out."""
        from .blaze import PALM_FULL, detect_ssd, roi_iou, rotated_roi

        height, width = image.shape[:2]
        palms = detect_ssd(self._model(PALM_FULL.model), PALM_FULL, image, self.min_confidence)
        rois: list[tuple[float, ...]] = []
        for palm in palms[: self.max_num_hands]:
            centre = ((palm.box[0] + palm.box[2]) / 2 * width, (palm.box[1] + palm.box[3]) / 2 * height)
            if any(_inside(centre, b) for b in skip):
                continue
            roi = rotated_roi(palm, width, height, start=0, end=2, target_degrees=90.0, scale=2.6, shift_y=-0.5)
            rois = [r for r in rois if roi_iou(r, roi) <= ROI_ASSOCIATION_IOU] + [roi]
        out = []
        for roi in rois:
            hand = self._landmarks(image, roi)
            if hand is not None:
                out.append(hand)
        return out

    def _landmarks(self, image: np.ndarray, roi: Any) -> tuple[np.ndarray, float] | None:
        """The landmark model on one rotated region: ``(21, 2)`` pixels and the hand-presence
        score, or ``None`` when it is under ``MIN_PRESENCE``."""
        from .blaze import project_landmarks
        from .litert import roi_tensor

        landmark_model = self._model("hand_landmark_full")
        tensor, _, roi = roi_tensor(image, roi, landmark_model.input_size, border_zero=False)
        marks, presence = landmark_model.run(tensor)[:2]
        score = float(presence.reshape(-1)[0])
        if score < MIN_PRESENCE:
            return None
        size = np.array(landmark_model.input_size, np.float64)
        pts = project_landmarks(marks.reshape(21, 3)[:, :2].astype(np.float64) / size, roi)
        return pts, score

    def _convert(self, pts: np.ndarray, score: float, width: int, height: int) -> Detection | None:
        """Landmark pixels ``(21, 2)`` + presence score → :class:`Detection`."""
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        box = clip_box(_grown((float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])), self.margin), width, height)
        if box is None:
            return None
        score = float(min(max(score, 0.0), 1.0))
        marks = pts.astype(np.float32)
        return Detection(box=box, score=score, label=self.label, landmarks=marks, source=self.name)



def _square_window(cx: float, cy: float, side: float, width: int, height: int) -> Window | None:
    """Square window of ``side`` px (at least ``MIN_ZOOM_TILE``, at most the shorter image
    side) centred on ``(cx, cy)`` and shifted inside the image; ``None`` when it would be
    the whole image."""
    side = min(max(side, MIN_ZOOM_TILE), height, width)
    if side >= 0.8 * max(height, width):
        return None  # hardly a zoom: the whole-image pass saw this
    x0 = int(round(min(max(cx - side / 2, 0.0), width - side)))
    y0 = int(round(min(max(cy - side / 2, 0.0), height - side)))
    s = int(round(side))
    return (x0, y0, min(x0 + s, width), min(y0 + s, height))


def _tiles_around(roi: Any, tiles: list[Window]) -> list[Window]:
    """The zoom tiles that hold a hand region's whole (axis-aligned) box; the one whose
    centre is nearest the region's when none does."""
    cx, cy, side = roi[0], roi[1], roi[2]
    half = side / 2
    inside = [t for t in tiles if t[0] <= cx - half and t[1] <= cy - half and cx + half <= t[2] and cy + half <= t[3]]
    if inside or not tiles:
        return inside
    return [min(tiles, key=lambda t: ((t[0] + t[2]) / 2 - cx) ** 2 + ((t[1] + t[3]) / 2 - cy) ** 2)]


def _distinct_windows(windows: list[Window], low_zoom: float | None = None) -> list[Window]:
    """Drop a window overlapping an earlier one by IoU > 0.7 (about the same place and zoom),
    and, where both are wider than ``low_zoom`` px (they magnify little), one sharing at
    least ``LOW_ZOOM_SHARED`` of the smaller one's area with it (the same hands at about the
    same scale)."""
    kept: list[Window] = []
    for w in windows:
        if all(_distinct(w, k) and not (low_zoom is not None and min(w[2] - w[0], k[2] - k[0]) > low_zoom
                                         and box_iou(w, k)[1] >= LOW_ZOOM_SHARED) for k in kept):
            kept.append(w)
    return kept


def _distinct(a: Window, b: Window) -> bool:
    return box_iou(a, b)[0] <= 0.7


def _grown(box: Any, fraction: float) -> tuple[float, float, float, float]:
    """``box`` grown on every side by ``fraction`` of its longer side."""
    grow = fraction * max(box[2] - box[0], box[3] - box[1])
    return box[0] - grow, box[1] - grow, box[2] + grow, box[3] + grow


def _centre(box: Any) -> tuple[float, float]:
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


def _inside(point: Any, box: Any) -> bool:
    return bool(box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3])


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
    summary="MediaPipe Hands: hand boxes + 21 landmarks (0 = wrist); whole image, pose-guided wrists, "
    "zoom around small people",
)
def build_mediapipe_hands(cfg: DetectorConfig, *, allow_pickle: bool | None = None) -> MediaPipeHands:
    """Factory: ``cfg.model`` must be None or "full"; ``cfg.label`` relabels; loads the models."""
    if cfg.model not in (None, *HAND_MODELS):
        raise ConfigError(
            f"unknown mediapipe_hands model {cfg.model!r}; choose one of: {', '.join(HAND_MODELS)}"
        )
    detector = MediaPipeHands(label=cfg.label or "hand")
    detector.load("palm_detection_full", "hand_landmark_full", "pose_detection", "pose_landmark_full",
                  "hand_recrop", "face_detection_full_range_sparse")  # sha256-checked here, see mediapipe_face
    return detector
