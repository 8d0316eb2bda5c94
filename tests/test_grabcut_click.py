"""A click with no box segments the object under it (GrabCut grows from a probable-foreground
disc around the click), on a real photo: a bollard in ultralytics' bus.jpg."""

from __future__ import annotations

import numpy as np

from autofix.detect.grabcut import GrabCutRefiner
from autofix.photos import photo_array


def test_click_without_box_segments_the_bollard():
    image = photo_array("bus")
    mask, score = GrabCutRefiner().refine(image, None, [(443, 700)], [1])
    ys, xs = np.nonzero(mask)
    assert score == 1.0
    # the bollard is ~34 x 100 px (x 420-460, y 665-765): far more than the clicked disc, not the street
    assert 1500 < mask.sum() < 6000, int(mask.sum())
    assert xs.min() >= 400 and xs.max() <= 480 and ys.min() >= 640 and ys.max() <= 790
    assert ys.max() - ys.min() > 80  # it follows the object's height
