"""The Python API: fix images in memory, no CLI, no output folder.

    from autofix import Fixer
    fixer = Fixer.from_preset("hands", inpainter={"backend": "classical"})
    results = fixer(["a.png", pil_image, rgb_array])
    results[0].image          # PIL.Image, same size and mode family as the input
    results[0].regions        # one dict per planned region (label, score, box, seed, repainted, reason, ...)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence, Union

import numpy as np

from .config import RunConfig, build_config, config_hash
from .types import check_rgb

ImageLike = Union[str, Path, np.ndarray, Any]  # Any: PIL.Image.Image


@dataclass(frozen=True)
class FixResult:
    """One fixed image.

    Attributes:
        image: the fixed ``PIL.Image`` (mode RGB, or RGBA with the input's alpha unchanged).
        stages: one record per stage (detector, inpainter, regions), as in sidecars.
        source: the input's path, or ``None`` for in-memory images.
    """

    image: Any
    stages: tuple[dict[str, Any], ...]
    source: Path | None = None

    @property
    def regions(self) -> list[dict[str, Any]]:
        """Every region of every stage, in stage order."""
        return [dict(r, stage=s["stage"]) for s in self.stages for r in s["regions"]]

    @property
    def repainted(self) -> int:
        """How many regions were repainted."""
        return sum(s["repainted"] for s in self.stages)


class Fixer:
    """Detect → plan → inpaint, stage by stage, on images in memory.

    Models are loaded once, on first use, and reused across calls.
    """

    def __init__(self, config: RunConfig, backends: Any = None) -> None:
        from .run.backends import Backends
        from .run.executor import ImageRunner, RunOptions

        self.config = config
        self.config_hash = config_hash(config)
        self._runner = ImageRunner(config, None, Path("."), backends or Backends(config), RunOptions(overlays="never"))

    @classmethod
    def from_preset(cls, preset: str = "faces+hands", overrides: Sequence[str] = (), **patch: Any) -> "Fixer":
        """Build from a shipped preset; ``patch`` merges nested keys (e.g. ``inpainter={...}``)."""
        return cls(build_config(preset=preset, overrides=list(overrides), patch=patch or None))

    @classmethod
    def from_file(cls, path: str | Path, overrides: Sequence[str] = ()) -> "Fixer":
        """Build from a YAML config file."""
        return cls(build_config(file=path, overrides=list(overrides)))

    @property
    def backends(self) -> Any:
        """The lazily built detectors and inpainters (shared by every call)."""
        return self._runner.backends

    def fix_array(self, rgb: np.ndarray, info: Any = None) -> tuple[np.ndarray, list[dict[str, Any]]]:
        """Fix one ``(H, W, 3)`` uint8 RGB array; returns the new array and stage records.
        ``info`` (:class:`~autofix.io.metadata.GenerationInfo`) fills ``{prompt}`` templates."""
        check_rgb(rgb, "image array")
        return self._runner.process_array(np.ascontiguousarray(rgb), info)

    def fix_arrays(self, rgbs: Sequence[np.ndarray], infos: Sequence[Any] | None = None
                   ) -> tuple[list[np.ndarray], list[list[dict[str, Any]]]]:
        """:meth:`fix_array` over several arrays, stage-major (each stage's crops of every image
        share inpainter calls, batched by size and settings)."""
        for rgb in rgbs:
            check_rgb(rgb, "image array")
        return self._runner.process_arrays([np.ascontiguousarray(r) for r in rgbs], list(infos) if infos else None)

    def fix_one(self, image: ImageLike) -> FixResult:
        """Fix one image given as a path, a ``PIL.Image`` or an RGB array."""
        rgb, alpha, source = _load_image_like(image, self.config.input.max_pixels)
        fixed, stages = self.fix_array(rgb)
        return FixResult(_to_pil(fixed, alpha), tuple(stages), source)

    def __call__(self, images: ImageLike | Iterable[ImageLike]) -> list[FixResult]:
        """Fix one image or a list of them; always returns a list. A list runs stage-major,
        like a folder window: each stage's crops of every image reach the inpainter together."""
        if isinstance(images, (str, Path, np.ndarray)) or hasattr(images, "getbands"):
            images = [images]
        loaded = [_load_image_like(img, self.config.input.max_pixels) for img in images]
        fixed, stages = self.fix_arrays([rgb for rgb, _, _ in loaded])
        return [FixResult(_to_pil(img, alpha), tuple(st), source)
                for img, st, (_, alpha, source) in zip(fixed, stages, loaded)]


def _load_image_like(image: ImageLike, max_pixels: int) -> tuple[np.ndarray, np.ndarray | None, Path | None]:
    if isinstance(image, (str, Path)):
        from .io.image import load_image

        loaded = load_image(image, max_pixels=max_pixels)
        return loaded.rgb, loaded.alpha, Path(image)
    if isinstance(image, np.ndarray):
        return image, None, None
    if hasattr(image, "getbands"):
        from .io.image import pil_to_rgb  # same mode handling as files (16-bit, P+tRNS, CMYK)

        rgb, alpha, _ = pil_to_rgb(image, [])
        return rgb, alpha, None
    raise TypeError(f"expected a path, a PIL.Image or an RGB array, got {type(image).__name__}")


def _to_pil(rgb: np.ndarray, alpha: np.ndarray | None) -> Any:
    from PIL import Image

    if alpha is None:
        return Image.fromarray(rgb, "RGB")
    return Image.fromarray(np.dstack([rgb, alpha]), "RGBA")
