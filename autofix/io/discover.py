"""Finding input images and mapping them to output paths."""

from __future__ import annotations

from pathlib import Path

#: Extensions accepted as input, lower case.
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".webp")


def find_images(root: str | Path) -> list[Path]:
    """Image paths under ``root`` (recursive), relative to it, sorted; hidden folders skipped.

    If ``root`` is a file, returns ``[Path(root.name)]`` (relative to its parent).
    """
    root = Path(root)
    if root.is_file():
        return [Path(root.name)]
    found = []
    for p in root.rglob("*"):
        rel = p.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if p.suffix.lower() in IMAGE_EXTS and p.is_file():
            found.append(rel)
    return sorted(found, key=lambda r: r.as_posix())


def input_root(path: str | Path) -> Path:
    """The folder relative paths are taken from: ``path`` itself, or its parent for a file."""
    path = Path(path)
    return path.parent if path.is_file() else path


def check_output_dir(inp: str | Path, out: str | Path) -> None:
    """Raise ValueError if ``out`` could overwrite an input: for a folder input, ``out``
    may be neither that folder nor inside it; for a single image, not its own folder.
    Also if ``out`` (or the nearest part of its path that exists) is a file, not a folder."""
    from ..errors import show_path

    src = input_root(inp).resolve()
    dst = Path(out).resolve()
    if dst == src or (Path(inp).is_dir() and src in dst.parents):
        raise ValueError(f"output folder {show_path(out)} must not be the input folder or inside it ({show_path(src)})")
    blocker = next((p for p in (dst, *dst.parents) if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        raise ValueError(f"-o {show_path(out)}: {show_path(blocker)} is a file, not a folder")
