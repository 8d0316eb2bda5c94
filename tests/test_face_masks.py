"""Face masks from the face mesh (autofix.plan.face_masks): exact arrays on synthetic meshes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from autofix.plan.face_masks import (
    CHIN,
    FACE_OVAL,
    FOREHEAD_TOP,
    convex_hull,
    extend_points,
    face_axes,
    face_mask,
    face_outline,
    polygon_mask,
)


def box_mesh(x0: float, y0: float, x1: float, y1: float, mid: float | None = None) -> np.ndarray:
    """A 468-point 'mesh' whose points all lie on the rectangle's edge: the forehead top
    (10) at the top edge's middle, the chin (152) at the bottom edge's middle, the other
    silhouette points at the corners and at height ``mid`` on the sides, every other mesh
    point at the top-left corner."""
    mid = (y0 + y1) / 2 if mid is None else mid
    mesh = np.tile([x0, y0], (468, 1)).astype(np.float64)
    cx = (x0 + x1) / 2
    place = {0: (cx, y0), 18: (cx, y1)}
    for i in range(1, 5):
        place[i] = (x1, y0)
    for i in range(5, 13):
        place[i] = (x1, mid)
    for i in range(13, 18):
        place[i] = (x1, y1)
    for i in range(19, 24):
        place[i] = (x0, y1)
    for i in range(24, 32):
        place[i] = (x0, mid)
    for i in range(32, 36):
        place[i] = (x0, y0)
    for i, p in place.items():
        mesh[FACE_OVAL[i]] = p
    return mesh


def test_polygon_mask_pixel_centres():
    # square (1, 1)-(4, 3): centres x in {1.5, 2.5, 3.5}, y in {1.5, 2.5}
    want = np.zeros((5, 6), bool)
    want[1:3, 1:4] = True
    assert np.array_equal(polygon_mask((5, 6), np.array([[1, 1], [4, 1], [4, 3], [1, 3]])), want)
    # a right triangle (0, 0), (4, 0), (0, 4): centre (x + .5, y + .5) inside when x + y + 1 < 4,
    # on the hypotenuse (x + y + 1 == 4) it is a right edge: out
    tri = polygon_mask((4, 4), np.array([[0, 0], [4, 0], [0, 4]]))
    want = np.array([[1, 1, 1, 0], [1, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]], bool)
    assert np.array_equal(tri, want)


def test_polygon_mask_edges_half_open_and_clipped():
    # edges through pixel centres: the left/top edge is in, the right/bottom edge is out
    sq = polygon_mask((4, 4), np.array([[0.5, 0.5], [2.5, 0.5], [2.5, 2.5], [0.5, 2.5]]))
    want = np.zeros((4, 4), bool)
    want[0:2, 0:2] = True
    assert np.array_equal(sq, want)
    # partly outside the image: clipped, orientation does not matter
    out = polygon_mask((3, 3), np.array([[-5, -5], [-5, 2], [2, 2], [2, -5]]))
    want = np.zeros((3, 3), bool)
    want[0:2, 0:2] = True
    assert np.array_equal(out, want)
    assert not polygon_mask((3, 3), np.array([[5, 5], [9, 5], [9, 9]])).any()
    with pytest.raises(ValueError, match="N >= 3"):
        polygon_mask((3, 3), np.array([[0, 0], [1, 1]]))


def test_face_axes_and_extension_levels():
    mesh = box_mesh(2, 2, 8, 12)
    origin, up, height = face_axes(mesh)
    assert np.allclose(origin, (5, 7)) and np.allclose(up, (0, -1)) and height == 10
    pts = np.array([[5, 2], [8, 4.5], [8, 7], [3, 9.5], [5, 12], [5, 20]], np.float64)
    moved = extend_points(pts, mesh, forehead=0.2, chin=0.1)
    # level +1 → up 2 px; +0.5 → up 1; 0 → still; -0.5 → down 0.5; -1 → down 1; beyond: capped
    want = np.array([[5, 0], [8, 3.5], [8, 7], [3, 10], [5, 13], [5, 21]], np.float64)
    assert np.allclose(moved, want)
    assert np.allclose(extend_points(pts, mesh, 0.0, 0.0), pts)


def test_face_mask_exact_rectangle():
    # the box mesh raised 2 px at the top (0.2 × height 10) and lowered 1 px at the chin
    # (0.1 × 10): the rectangle x 2..8, y 0..13 → rows 0-12, columns 2-7
    mask = face_mask((15, 10), box_mesh(2, 2, 8, 12), forehead=0.2, chin=0.1)
    want = np.zeros((15, 10), bool)
    want[0:13, 2:8] = True
    assert mask.dtype == bool and np.array_equal(mask, want)
    # without extensions: exactly the silhouette's rectangle, rows 2-11
    want = np.zeros((15, 10), bool)
    want[2:12, 2:8] = True
    assert np.array_equal(face_mask((15, 10), box_mesh(2, 2, 8, 12), forehead=0.0, chin=0.0), want)


def test_face_mask_follows_a_tilted_face():
    """A face lying on its side (forehead to the image's right) is extended to the right."""
    mesh = box_mesh(2, 2, 8, 12)
    turned = np.stack([20 - mesh[:, 1], mesh[:, 0]], axis=1)  # rotate 90°: (x, y) → (20 - y, x)
    _, up, height = face_axes(turned)
    assert np.allclose(up, (1, 0)) and height == 10
    mask = face_mask((12, 22), turned, forehead=0.2, chin=0.1)
    # the rectangle x 8..18 (turned y 2..12) becomes x 7..20, y 2..8
    want = np.zeros((12, 22), bool)
    want[2:8, 7:20] = True
    assert np.array_equal(mask, want)


def test_outline_is_the_hull_of_the_moved_mesh():
    mesh = box_mesh(2, 2, 8, 12)
    mesh[1] = (9.5, 7.0)  # a nose tip sticking out of the silhouette, at mid level (does not move)
    hull = face_outline(mesh, forehead=0.2, chin=0.1)
    want = {(2.0, 0.0), (8.0, 0.0), (9.5, 7.0), (8.0, 13.0), (2.0, 13.0)}
    assert {tuple(p) for p in hull.tolist()} == want and len(hull) == 5
    # in order round the hull
    angles = [math.atan2(p[1] - 6.5, p[0] - 5.0) for p in hull]
    steps = np.diff(np.unwrap(angles + angles[:1]))
    assert (steps > 0).all() or (steps < 0).all()


def test_convex_hull_drops_inner_and_collinear_points():
    pts = np.array([[0, 0], [2, 0], [4, 0], [4, 4], [0, 4], [2, 2], [1, 3]], np.float64)
    assert {tuple(p) for p in convex_hull(pts).tolist()} == {(0, 0), (4, 0), (4, 4), (0, 4)}


def test_rejects_bad_meshes():
    with pytest.raises(ValueError, match="468 or 478"):
        face_mask((10, 10), np.zeros((6, 2)))
    flat = np.zeros((468, 2))
    with pytest.raises(ValueError, match="degenerate"):
        face_mask((10, 10), flat)
    with pytest.raises(ValueError, match=">= 0"):
        face_outline(box_mesh(2, 2, 8, 12), forehead=-0.1)
    assert FOREHEAD_TOP == FACE_OVAL[0] and CHIN == FACE_OVAL[18]
