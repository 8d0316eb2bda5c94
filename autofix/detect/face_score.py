"""How plausible a face mesh is as a human face, in any pose: a 0–1 score for best-of-N.

The never-worse guard (:mod:`autofix.run.never_worse`) re-detects the face in the original
crop and in each repainted candidate and compares the detector's score ×
:func:`face_plausibility` of the face's landmarks. The registry's ``mediapipe_face`` (full
range, ``mesh=True``) gives every face the face mesh confirms the ``(468, 2)`` mesh as
``landmarks`` (:class:`autofix.detect.mediapipe_face.MediaPipeFace`); other faces carry
BlazeFace's 6 keypoints.

**The score.** A face is bilaterally symmetric and, seen from any direction by a camera
far enough away, its landmarks are an affine projection of one 3D shape. So: fit the best
affine camera (2×3 matrix and a shift, least squares) that projects :data:`REF_RIGHT` /
:data:`REF_MIDLINE`, a symmetric 3D reference face, onto 86 of the mesh's points (eyes,
brows, nose, lips, the face oval: :data:`PAIRS`, :data:`MIDLINE`), and take the RMS of
what the fit leaves, over the RMS spread of those points about their centre
(:func:`mesh_residual`). Pose (yaw, pitch, roll), size and the image's aspect are absorbed
by the camera; what remains is the face's own departure from a human face's proportions
and symmetry: a mouth moved, features swirled, one side out of proportion with the other.
``plausibility = exp(−(max(0, r − RESIDUAL_OK) / RESIDUAL_WIDTH)²)``: 1 up to
:data:`RESIDUAL_OK`, about 0.37 at ``RESIDUAL_OK + RESIDUAL_WIDTH``.

Measured with the shipped detector + mesh on the open photos' 13 faces: real faces leave
0.026–0.059 (frontal ≤ 0.035; the three-quarter and profile faces — camera, Zidane looking
down, Monica, Joey — 0.049–0.059, expression and perspective the affine camera does not
model); copies of them with the face swirled leave up to 0.082, with the mouth moved up
or down by a third of the eye distance 0.050–0.075 (tests/test_face_score.py).

**What it does not see.** The mesh model fits a regular face to what it is shown, so a
blurred or smeared eye moves the mesh's eye points little: there the detector's score
(which drops) carries the ranking. A face whose mesh the model does not confirm (6
keypoints) gets :data:`UNCONFIRMED`: a repaint that leaves the face unrecognisable to the
mesh model loses to an original it confirms.

Pure NumPy; no model.
"""

from __future__ import annotations

import numpy as np

from ..types import FACE_MESH_POINTS

#: Mirror pairs of the face mesh used by the score, (subject's right, left): eye corners and
#: lids, brows, nostrils, mouth corners and lips, and the face oval (FACEMESH_FACE_OVAL).
PAIRS = ((33, 263), (133, 362), (159, 386), (145, 374), (160, 387), (144, 373), (70, 300), (105, 334), (107, 336), (46, 276), (98, 327), (48, 278), (129, 358), (61, 291), (37, 267), (84, 314), (40, 270), (91, 321), (109, 338), (67, 297), (103, 332), (54, 284), (21, 251), (162, 389), (127, 356), (234, 454), (93, 323), (132, 361), (58, 288), (172, 397), (136, 365), (150, 379), (149, 378), (176, 400), (148, 377))
#: Mesh points on the face's midline (forehead top, chin, nose ridge and tip, lips' middle).
MIDLINE = (10, 152, 1, 2, 4, 6, 168, 0, 17, 13, 14, 9, 151, 175, 199, 200)
#: The reference face, 3D: the right-side points of :data:`PAIRS` (x, y, z) and the
#: :data:`MIDLINE` points (y, z; x = 0); the left side is the right one mirrored (x → −x), so
#: the reference is exactly symmetric. Units: the outer eye corners (33, 263) are 1 apart;
#: x to the subject's left, y up, z out of the face. Made from the shipped face-mesh model's
#: own 3D output (x, y, z) on five near-frontal faces of the open photos (astronaut,
#: grace_hopper, zidane's Ancelotti, the group photo's Rachel and Phoebe): aligned
#: (similarity Procrustes), averaged, then averaged with its mirror image.
REF_RIGHT = (
    (-0.500, 0.307, -0.024), (-0.194, 0.301, 0.036), (-0.365, 0.356, 0.063), (-0.345, 0.278, 0.056),
    (-0.423, 0.346, 0.047), (-0.404, 0.280, 0.040), (-0.627, 0.470, -0.047), (-0.457, 0.581, 0.107),
    (-0.164, 0.569, 0.204), (-0.586, 0.445, 0.012), (-0.197, -0.129, 0.221), (-0.215, -0.058, 0.302),
    (-0.237, -0.059, 0.175), (-0.308, -0.363, 0.088), (-0.091, -0.279, 0.302), (-0.090, -0.488, 0.265),
    (-0.242, -0.320, 0.205), (-0.231, -0.427, 0.185), (-0.209, 0.857, 0.106), (-0.386, 0.824, 0.039),
    (-0.548, 0.752, -0.076), (-0.652, 0.647, -0.207), (-0.716, 0.518, -0.329), (-0.751, 0.381, -0.459),
    (-0.761, 0.216, -0.557), (-0.752, 0.064, -0.595), (-0.743, -0.087, -0.589), (-0.722, -0.246, -0.550),
    (-0.675, -0.409, -0.475), (-0.608, -0.536, -0.356), (-0.531, -0.628, -0.229), (-0.430, -0.711, -0.125),
    (-0.344, -0.769, -0.042), (-0.252, -0.818, 0.044), (-0.142, -0.854, 0.102),
)
REF_MIDLINE = (
    (0.864, 0.123), (-0.866, 0.123), (-0.076, 0.476), (-0.153, 0.311), (-0.003, 0.494),
    (0.299, 0.265), (0.380, 0.211), (-0.291, 0.311), (-0.495, 0.273), (-0.354, 0.255),
    (-0.399, 0.248), (0.555, 0.212), (0.710, 0.173), (-0.810, 0.196), (-0.734, 0.227),
    (-0.645, 0.223),
)

#: Residual (fraction of the face's spread) still fully plausible, and the fall-off width
#: past it (see module docs).
RESIDUAL_OK = 0.04
RESIDUAL_WIDTH = 0.03
#: Plausibility of a face without a mesh (BlazeFace's 6 keypoints: the mesh model did not
#: confirm it, or the detector does not run it).
UNCONFIRMED = 0.5
#: Mesh sizes accepted (468 points; 478 with the irises).
MESH_POINTS = FACE_MESH_POINTS

#: Mesh indices in the order of :func:`reference`'s rows.
INDICES = tuple(a for a, _ in PAIRS) + tuple(b for _, b in PAIRS) + MIDLINE


def reference() -> np.ndarray:
    """The symmetric 3D reference face ``(86, 3)``, rows in the order of :data:`INDICES`."""
    right = np.array(REF_RIGHT, np.float64)
    mid = np.array(REF_MIDLINE, np.float64)
    left = right * (-1.0, 1.0, 1.0)
    return np.concatenate([right, left, np.c_[np.zeros(len(mid)), mid]])


_DESIGN = np.c_[reference(), np.ones(len(INDICES))]


def mesh_residual(mesh: np.ndarray) -> float:
    """RMS distance left by the best affine camera projecting the reference face onto the
    mesh's :data:`INDICES` points, over their RMS distance from their centroid (0 = the
    reference face exactly, in some pose). Raises ValueError on a mesh that is not
    ``(468 | 478, 2+)`` or has no extent."""
    pts = np.asarray(mesh, np.float64)
    if pts.ndim != 2 or pts.shape[0] not in MESH_POINTS or pts.shape[1] < 2:
        raise ValueError(f"expected a face mesh of (468 or 478, 2) points, got shape {pts.shape}")
    target = pts[list(INDICES), :2]
    if not np.isfinite(target).all():
        raise ValueError("face mesh has non-finite points")
    spread = float(np.sqrt(((target - target.mean(axis=0)) ** 2).sum(axis=1).mean()))
    if spread <= 0.0:
        raise ValueError("degenerate face mesh: all points coincide")
    camera, *_ = np.linalg.lstsq(_DESIGN, target, rcond=None)
    left = target - _DESIGN @ camera
    return float(np.sqrt((left**2).sum(axis=1).mean()) / spread)


def face_plausibility(landmarks: np.ndarray | None) -> float:
    """0–1 plausibility of a face from its landmarks (see module docs): a ``(468, 2)`` or
    ``(478, 2)`` face mesh is scored by :func:`mesh_residual` (0 for a collapsed or
    non-finite one: no face); anything else (BlazeFace's ``(6, 2)`` keypoints: no mesh, or
    no landmarks at all) gets :data:`UNCONFIRMED`."""
    if landmarks is None:
        return UNCONFIRMED
    pts = np.asarray(landmarks)
    if pts.ndim != 2 or pts.shape[0] not in MESH_POINTS:
        return UNCONFIRMED
    try:
        residual = mesh_residual(pts)
    except ValueError:
        return 0.0
    excess = max(0.0, residual - RESIDUAL_OK) / RESIDUAL_WIDTH
    return float(np.exp(-excess * excess))
