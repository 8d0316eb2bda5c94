"""Eyes and mouth from MediaPipe's face mesh, registered as ``mediapipe_eyes`` and
``mediapipe_mouth`` (and ``mediapipe_face_mesh`` with ``model: eyes | mouth``).

For the progressive "face, then eyes, then mouth" repaint passes, with no extra model to
download: MediaPipe's ``face_landmark`` model (468-point face mesh, Apache-2.0, shipped in
``autofix/detect/tflite/``, run on LiteRT) runs on each face that
:class:`~autofix.detect.mediapipe_face.MediaPipeFace` (full range, ``mesh=True``) finds,
in the region MediaPipe's face-mesh graph uses (``face_detection_front_detection_to_roi``:
the face box, eyes level, 1.5× on its longer side; see ``MediaPipeFace.face_mesh``), and
is kept where its face flag is ≥ 0.5.
Each part is the mesh's own outline of it (MediaPipe's ``FACEMESH_RIGHT_EYE`` /
``LEFT_EYE`` with the eyebrow above, ``FACEMESH_LIPS``' outer contour); the box is the
outline's bounding box grown by ``margin`` of its longer side per side.

Detections: one per eye (``label`` "eye", subject's right eye first in mesh terms; sorted
left to right in the image) or one per mouth (``label`` "mouth"); ``landmarks`` are the
part's mesh points ``(K, 2)`` in pixels, ``score`` the face detection's score.
"""

from __future__ import annotations

import threading

import numpy as np

from ..config import DetectorConfig
from ..errors import ConfigError
from ..types import Detection
from .base import DETECTORS
from .litert import RUNTIME_MODULE
from .mediapipe_face import LiteRTDetector, MediaPipeFace, check_image, clip_box

#: Face-mesh outlines (MediaPipe's FACEMESH_* index sets), subject's right/left.
RIGHT_EYE = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)
RIGHT_BROW = (46, 53, 52, 65, 55, 70, 63, 105, 66, 107)
LEFT_EYE = (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466)
LEFT_BROW = (276, 283, 282, 295, 285, 300, 293, 334, 296, 336)
LIPS_OUTER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185)
#: ``part`` → outlines (one detection each) and default margin.
PARTS = {
    "eyes": ((RIGHT_EYE + RIGHT_BROW, LEFT_EYE + LEFT_BROW), 0.15),
    "mouth": ((LIPS_OUTER,), 0.2),
}
LABELS = {"eyes": "eye", "mouth": "mouth"}


class MediaPipeFaceParts(LiteRTDetector):
    """Eyes or mouth of every face, from the face mesh (see module docs).

    Args:
        part: ``"eyes"`` or ``"mouth"``.
        label: label of every detection (default "eye" / "mouth").
        margin: box growth per side, as a fraction of the outline's longer side.
    """

    def __init__(self, part: str = "eyes", label: str | None = None, margin: float | None = None) -> None:
        if part not in PARTS:
            raise ConfigError(f"unknown face part {part!r}; choose one of: {', '.join(PARTS)}")
        self.part = part
        self.label = label or LABELS[part]
        self.name = f"mediapipe_face_mesh:{part}"
        self.margin = PARTS[part][1] if margin is None else float(margin)
        self._faces = MediaPipeFace("full", mesh=True)
        self._models = None
        self._lock = threading.Lock()

    def mesh(self, image: np.ndarray) -> list[tuple[np.ndarray, float]]:
        """``(468, 2)`` mesh pixels and face score for each face in ``image`` whose mesh
        :class:`~autofix.detect.mediapipe_face.MediaPipeFace` (full range, ``mesh=True``)
        confirms."""
        image = check_image(image)
        with self._lock:
            faces = self._faces.detect(image)
        return [(np.asarray(f.landmarks, np.float64), f.score) for f in faces
                if f.landmarks is not None and len(f.landmarks) >= 468]

    def detect(self, image: np.ndarray) -> list[Detection]:
        """This part of every face in ``image`` (``(H, W, 3)`` uint8 RGB), sorted left to right."""
        height, width = check_image(image).shape[:2]
        out = []
        for pts, score in self.mesh(image):
            for outline in PARTS[self.part][0]:
                marks = pts[list(outline)]
                lo, hi = marks.min(axis=0), marks.max(axis=0)
                grow = self.margin * float(max(hi - lo))
                box = clip_box((lo[0] - grow, lo[1] - grow, hi[0] + grow, hi[1] + grow), width, height)
                if box is not None:
                    out.append(Detection(box=box, score=float(min(max(score, 0.0), 1.0)), label=self.label,
                                         landmarks=marks.astype(np.float32), source=self.name))
        return sorted(out, key=lambda d: d.box)

    def close(self) -> None:
        self._faces.close()
        super().close()


def _build(part: str, cfg: DetectorConfig, name: str) -> MediaPipeFaceParts:
    detector = MediaPipeFaceParts(part, label=cfg.label)
    detector.name = name
    detector._faces.load("face_detection_full_range_sparse", "face_landmark")
    return detector


@DETECTORS.register(
    "mediapipe_face_mesh",
    requires=(RUNTIME_MODULE,),
    summary="MediaPipe face mesh parts: model eyes (one box per eye, brow included) or mouth",
)
def build_mediapipe_face_mesh(cfg: DetectorConfig, *, allow_pickle: bool | None = None) -> MediaPipeFaceParts:
    """Factory: ``cfg.model`` in {None, "eyes", "mouth"} (None → "eyes")."""
    part = cfg.model or "eyes"
    return _build(part, cfg, f"mediapipe_face_mesh:{part}")


@DETECTORS.register("mediapipe_eyes", requires=(RUNTIME_MODULE,),
                    summary="MediaPipe face mesh: one box per eye (with the brow), 16+10 landmarks")
def build_mediapipe_eyes(cfg: DetectorConfig, *, allow_pickle: bool | None = None) -> MediaPipeFaceParts:
    if cfg.model not in (None, "eyes"):
        raise ConfigError(f"mediapipe_eyes takes no model (got {cfg.model!r})")
    return _build("eyes", cfg, "mediapipe_eyes")


@DETECTORS.register("mediapipe_mouth", requires=(RUNTIME_MODULE,),
                    summary="MediaPipe face mesh: one box per mouth (outer lips), 20 landmarks")
def build_mediapipe_mouth(cfg: DetectorConfig, *, allow_pickle: bool | None = None) -> MediaPipeFaceParts:
    if cfg.model not in (None, "mouth"):
        raise ConfigError(f"mediapipe_mouth takes no model (got {cfg.model!r})")
    return _build("mouth", cfg, "mediapipe_mouth")
