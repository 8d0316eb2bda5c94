"""autofix: repair faces, hands and stray objects in images without touching the rest.

Pipeline: detect (``autofix.detect``) → plan masks and crops (``autofix.plan``) →
staged, checkpointed inpainting (``autofix.inpaint`` + ``autofix.run``) → front doors
(``autofix.cli``, the Python API). Heavy modules are imported only when used.
"""

from __future__ import annotations

__version__ = "0.1.0"
