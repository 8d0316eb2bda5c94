"""The Python API on real photos."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from autofix import Fixer
from autofix.photos import photo_array


def test_fixer_on_pil_path_and_array(tmp_path):
    rgb = photo_array("zidane")
    path = tmp_path / "z.png"
    Image.fromarray(rgb).save(path)
    rgba = Image.fromarray(np.dstack([rgb, np.full(rgb.shape[:2], 200, np.uint8)]), "RGBA")
    fixer = Fixer.from_preset("faces", inpainter={"backend": "classical"})
    results = fixer([path, rgba, rgb])
    assert len(results) == 3
    for res in results:
        assert res.image.size == (rgb.shape[1], rgb.shape[0])
        assert len(res.regions) == 2 and res.repainted == 2
        assert all(r["stage"] == "face" and r["label"] == "face" for r in res.regions)
    assert results[1].image.mode == "RGBA" and np.all(np.asarray(results[1].image)[:, :, 3] == 200)
    a, b = np.asarray(results[0].image), np.asarray(results[2].image)
    assert np.array_equal(a, b)  # same pixels whatever the input form
    assert not np.array_equal(a, rgb)


def test_fixer_default_without_model_changes_nothing():
    rgb = photo_array("astronaut")
    res = Fixer.from_preset("faces")(rgb)[0]
    assert np.array_equal(np.asarray(res.image), rgb)
    assert res.regions and res.regions[0]["reason"] == "not repainted: no diffusion model"


def test_fixer_rejects_bad_arrays():
    with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8"):
        Fixer.from_preset("faces").fix_array(np.zeros((4, 4), np.float32))
