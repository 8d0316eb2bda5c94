"""Real photos that ship inside installed packages (used by tests, the sample folder
and benchmarks). Nothing is downloaded; a photo whose package is missing raises
FileNotFoundError naming the package to install (or, for a photo read from a wheel
file, the command that fetches the wheel).
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import os
import sys
import zipfile
from pathlib import Path

import numpy as np


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {name!r} is not installed (it ships the sample photo)")
    return Path(list(spec.submodule_search_locations)[0])


# Photos read straight out of a downloaded wheel, never installed: insightface 2.1 needs
# opencv-python (which clashes with our opencv-python-headless) and onnxruntime.
# insightface's code is MIT; the rights to its sample photo are not ours, which is why
# the photo is not committed here and is only read from the wheel (scripts/install.sh
# fetches it with `pip download --no-deps`).
#   name -> (wheel file, sha256 of the wheel, member)
WHEEL_PHOTOS = {
    "insightface_t1": ("insightface-2.1-py3-none-any.whl",
                       "dcd58ee79d99d689572477315f3149353afd65a36dc575f597cbb217a7bde399",
                       "insightface/data/images/t1.jpg"),
}


def photo_wheels_dir() -> Path:
    """Where photo wheels are looked for: ``$AUTOFIX_PHOTO_WHEELS``, else ``photo-wheels`` in
    the running environment (``.venv/photo-wheels``, where scripts/install.sh puts them)."""
    env = os.environ.get("AUTOFIX_PHOTO_WHEELS")
    return Path(env) if env else Path(sys.prefix) / "photo-wheels"


def _wheel_photo_bytes(name: str) -> bytes:
    wheel, sha256, member = WHEEL_PHOTOS[name]
    path = photo_wheels_dir() / wheel
    if not path.is_file():
        dist, version = wheel.split("-")[:2]
        raise FileNotFoundError(
            f"{path} is missing; fetch it with: pip download --no-deps --only-binary=:all: -q {dist}=={version} -d {path.parent}")
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != sha256:
        raise ValueError(f"{path}: sha256 differs from the expected {sha256}")
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return zf.read(member)


def photo_path(name: str) -> Path:
    """Path of a file-based sample photo: ``grace_hopper``, ``zidane`` or ``bus``."""
    if name == "grace_hopper":
        return _package_dir("matplotlib") / "mpl-data" / "sample_data" / "grace_hopper.jpg"
    if name in ("zidane", "bus"):
        return _package_dir("ultralytics") / "assets" / f"{name}.jpg"
    raise KeyError(f"unknown photo {name!r}")


def photo_array(name: str) -> np.ndarray:
    """A sample photo as ``(H, W, 3)`` uint8 RGB. ``astronaut``/``camera`` come from
    scikit-image (``camera`` is grey, returned as three equal channels); ``insightface_t1``
    (six people at a poker table) from the insightface wheel file (``WHEEL_PHOTOS``)."""
    if name in ("astronaut", "camera", "coffee", "chelsea"):
        import skimage.data

        arr = getattr(skimage.data, name)()
        return np.repeat(arr[:, :, None], 3, axis=2) if arr.ndim == 2 else np.ascontiguousarray(arr[:, :, :3])
    from PIL import Image

    source = io.BytesIO(_wheel_photo_bytes(name)) if name in WHEEL_PHOTOS else photo_path(name)
    with Image.open(source) as im:
        return np.asarray(im.convert("RGB"))


#: Photos with people, and the file name used for them in sample folders.
PEOPLE_PHOTOS = {
    "astronaut": "astronaut.png",
    "camera": "camera.png",
    "grace_hopper": "grace_hopper.jpg",
    "zidane": "zidane.jpg",
    "bus": "bus.jpg",
}
