"""autofix: repair faces, hands and stray objects in images without touching the rest.

Pipeline: detect (``autofix.detect``) → plan masks and crops (``autofix.plan``) →
staged, snapshotted (resumable) inpainting (``autofix.inpaint`` + ``autofix.run``) → front doors
(``autofix.cli``, the Python API). Heavy modules are imported only when used.
"""

from __future__ import annotations

__version__ = "0.1.0"


def __getattr__(name: str):  # lazy: `import autofix` stays light
    if name in ("Fixer", "FixResult"):
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'autofix' has no attribute {name!r}")


__all__ = ["Fixer", "FixResult", "__version__"]
