"""A sample folder built from real photos that ship inside installed packages."""

from __future__ import annotations

import shutil
from pathlib import Path

from .photos import PEOPLE_PHOTOS, photo_array, photo_path


def write_samples(folder: str | Path) -> list[Path]:
    """Write the package-shipped people photos that are available into ``folder``.

    JPEG photos are copied byte for byte; scikit-image arrays are saved as PNG.
    Returns the written paths; raises FileNotFoundError if none of the packages exist.
    """
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, filename in PEOPLE_PHOTOS.items():
        dest = folder / filename
        try:
            if filename.endswith(".jpg"):
                shutil.copyfile(photo_path(name), dest)
            else:
                Image.fromarray(photo_array(name)).save(dest)
        except (FileNotFoundError, ImportError):
            continue
        written.append(dest)
    if not written:
        from .extras import install_command

        raise FileNotFoundError(
            "no sample photos available: they ship inside scikit-image, matplotlib and ultralytics; "
            f"install one: {install_command(packages=['scikit-image'])}"
        )
    return written
