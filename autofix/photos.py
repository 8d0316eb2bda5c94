"""Real photos that ship inside installed packages (used by tests, the sample folder
and benchmarks). Nothing is downloaded; a photo whose package is missing raises
FileNotFoundError naming the package to install.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {name!r} is not installed (it ships the sample photo)")
    return Path(list(spec.submodule_search_locations)[0])


def photo_path(name: str) -> Path:
    """Path of a file-based sample photo: ``grace_hopper``, ``zidane`` or ``bus``."""
    if name == "grace_hopper":
        return _package_dir("matplotlib") / "mpl-data" / "sample_data" / "grace_hopper.jpg"
    if name in ("zidane", "bus"):
        return _package_dir("ultralytics") / "assets" / f"{name}.jpg"
    raise KeyError(f"unknown photo {name!r}")


def photo_array(name: str) -> np.ndarray:
    """A sample photo as ``(H, W, 3)`` uint8 RGB. ``astronaut``/``camera`` come from
    scikit-image (``camera`` is grey, returned as three equal channels)."""
    if name in ("astronaut", "camera", "coffee", "chelsea"):
        import skimage.data

        arr = getattr(skimage.data, name)()
        return np.repeat(arr[:, :, None], 3, axis=2) if arr.ndim == 2 else np.ascontiguousarray(arr[:, :, :3])
    from PIL import Image

    with Image.open(photo_path(name)) as im:
        return np.asarray(im.convert("RGB"))


#: Photos with people, and the file name used for them in sample folders.
PEOPLE_PHOTOS = {
    "astronaut": "astronaut.png",
    "camera": "camera.png",
    "grace_hopper": "grace_hopper.jpg",
    "zidane": "zidane.jpg",
    "bus": "bus.jpg",
}
