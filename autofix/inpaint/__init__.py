"""Part 3a: inpainters. ``build_inpainter(cfg)`` turns a config into an :class:`Inpainter`."""

from __future__ import annotations

from ..config import InpainterConfig
from .base import INPAINTERS, Inpainter

from . import classical, diffusion  # noqa: F401,E402  (register "classical", "diffusers"; torch stays unimported)


def build_inpainter(name: str, cfg: InpainterConfig) -> Inpainter:
    """Build inpainter ``name`` (a registry name) from ``cfg``."""
    return INPAINTERS.build(name, cfg)


__all__ = ["INPAINTERS", "Inpainter", "build_inpainter"]
