"""Face masks from MediaPipe's 468-point face mesh: the face's silhouette, forehead and jaw
included. Pure geometry on :mod:`autofix.plan.masks`' building blocks, used by the
planner (``mask.shape: auto``) on the faces :class:`autofix.detect.mediapipe_face.MediaPipeFace`
(``mesh=True``) gives their mesh.

The mesh's silhouette (:data:`FACE_OVAL`, MediaPipe's ``FACEMESH_FACE_OVAL`` in order
round the face) runs along the jaw and the chin but stops on the upper forehead, short
of the hairline. A face-fixing mask needs the whole forehead, so
:func:`extend_points` moves the mesh's upper half up along the face's own up axis
(chin 152 → forehead top 10, so a tilted face is extended along its tilt) by
``forehead`` × the face's height (chin → 10), fully at the top point and tapering
linearly to nothing at the level halfway between the chin and the top (about the
eyes' level); the lower half is pushed down by ``chin`` × the height in the same way,
so that the jaw line and the chin's edge are inside the mask rather than on its border.
:func:`face_outline` is the convex hull of the moved mesh (for a turned face the
projected silhouette folds over itself; the hull also takes in the nose).

Measured on the open photos' faces against their hand-made boxes (hairline or, where
hair or a cap hides it, its edge, to the chin): with no forehead extension the mask's
top is 6-7 % of the box height short of the box top on ``zidane.jpg``'s bald head and
``bus.jpg``'s faces; with :data:`FOREHEAD` = 0.1 it reaches the box top on every face
and goes at most 17 % of the box height above it (astronaut: bangs; grace_hopper: the
cap's brim), i.e. into the hair, which an inpainter needs to blend the hairline.

Pixel convention as :mod:`autofix.plan.masks`: pixel ``(col, row)`` has its centre at
``(col + 0.5, row + 0.5)`` and is in a polygon's mask when its centre is inside it
(even-odd rule; a centre exactly on a left/top edge is in, on a right/bottom edge out).
"""

from __future__ import annotations

import numpy as np

from .masks import convex_hull, polygon_mask

#: MediaPipe's FACEMESH_FACE_OVAL, as one closed loop (starting at the forehead's top,
#: landmark 10, going down the subject's left side to the chin, 152, and back up).
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
             152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)
#: Mesh indices of the forehead's top and of the chin on the silhouette.
FOREHEAD_TOP, CHIN = 10, 152
#: Default extensions, in face heights (chin → landmark 10): the hairline lies about a
#: fifth of that above landmark 10 (the face's thirds: brow→hairline ≈ 1/3 of the whole
#: face; landmark 10 is about 2/3 of the way up that third); the chin margin covers the
#: chin's edge and a little of the jaw's shadow.
FOREHEAD = 0.1
CHIN_MARGIN = 0.04


def face_axes(mesh: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """``(origin, up, height)`` of a face mesh: ``origin`` the point halfway between the chin
    and the forehead's top, ``up`` the unit vector chin → forehead top, ``height`` their
    distance in pixels. Raises ValueError on a mesh with fewer than 468 points or a
    degenerate (zero-height) face."""
    pts = _mesh(mesh)
    top, chin = pts[FOREHEAD_TOP], pts[CHIN]
    axis = top - chin
    height = float(np.hypot(*axis))
    if not height > 0.0:
        raise ValueError("degenerate face mesh: the chin and the forehead's top coincide")
    return (top + chin) / 2.0, axis / height, height


def extend_points(points: np.ndarray, mesh: np.ndarray, forehead: float = FOREHEAD,
                  chin: float = CHIN_MARGIN) -> np.ndarray:
    """``points`` ``(N, 2)`` moved along ``mesh``'s up axis (:func:`face_axes`): a point at
    level ``l`` (+1 at the forehead's top, 0 halfway to the chin, −1 at the chin, along
    the axis) moves up by ``forehead`` × min(l, 1) face heights when ``l > 0`` and down by
    ``chin`` × min(−l, 1) when ``l < 0``: the top point the full amount, points at the
    middle level not at all."""
    if forehead < 0 or chin < 0:
        raise ValueError(f"forehead and chin extensions must be >= 0, got {forehead}, {chin}")
    origin, up, height = face_axes(mesh)
    pts = np.asarray(points, np.float64)[:, :2]
    level = (pts - origin) @ up / (height / 2.0)
    shift = np.where(level > 0, forehead * np.clip(level, 0.0, 1.0), -chin * np.clip(-level, 0.0, 1.0))
    return pts + (shift * height)[:, None] * up[None, :]


def face_outline(mesh: np.ndarray, forehead: float = FOREHEAD, chin: float = CHIN_MARGIN) -> np.ndarray:
    """The face's outline, ``(M, 2)`` float64 pixels in order round it: the convex hull of the whole mesh and of the mesh
    with every point moved by :func:`extend_points` (both, so that the extension only
    ever adds to the mesh's own hull). For a frontal face that is the silhouette
    (:data:`FACE_OVAL`, which is convex but for the slight jaw concavity) raised to the
    hairline; for a turned face it also takes in the nose and the far cheek, which lie
    outside the projected silhouette (the silhouette of a three-quarter profile folds
    over itself)."""
    pts = _mesh(mesh)
    return convex_hull(np.concatenate([pts, extend_points(pts, pts, forehead, chin)]))


def face_mask(shape_hw: tuple[int, ...], mesh: np.ndarray, forehead: float = FOREHEAD,
              chin: float = CHIN_MARGIN) -> np.ndarray:
    """``(H, W)`` bool mask of a face from its mesh: :func:`polygon_mask` of
    :func:`face_outline`."""
    return polygon_mask(shape_hw, face_outline(mesh, forehead, chin))


def _mesh(mesh: np.ndarray) -> np.ndarray:
    pts = np.asarray(mesh, np.float64)
    if pts.ndim != 2 or pts.shape[1] < 2 or pts.shape[0] < 468:
        raise ValueError(f"expected a face mesh of (468 or 478, 2) points, got shape {pts.shape}")
    return pts[:, :2]
