"""The closed choices of the config — one definition each.

:mod:`autofix.config`'s pydantic models annotate their fields with these ``Literal`` types,
the CLI offers ``typing.get_args`` of the same types as ``choices=`` (this module imports
nothing, so ``autofix --help`` stays fast), and the code that acts on a choice
(:mod:`autofix.plan.filters`, :mod:`autofix.plan.crop`, :mod:`autofix.inpaint.diffusion`)
takes its type from here. Add a value here and every one of them sees it.
"""

from __future__ import annotations

from typing import Literal

Refine = Literal["none", "sam", "grabcut"]
TopKBy = Literal["area", "confidence"]
Order = Literal["left_to_right", "top_to_bottom", "area", "confidence", "center_out"]
MaskShape = Literal["auto", "box", "ellipse"]
MaskMerge = Literal["separate", "merge", "merge_invert"]
CropLarge = Literal["keep", "downscale"]
CropArea = Literal["masked", "whole"]
ResizeMode = Literal["just_resize", "crop_and_resize", "resize_and_fill"]
PromptRule = Literal["largest", "smallest", "leftmost", "rightmost", "most_confident"]
ControlType = Literal["inpaint", "tile", "canny", "openpose", "depth", "lineart", "softedge"]
MaskedContent = Literal["original", "fill", "latent_noise", "latent_nothing"]
InpainterBackend = Literal["auto", "classical", "diffusers", "none"]
ClassicalMethod = Literal["telea", "ns", "patchmatch", "auto"]
Dtype = Literal["auto", "float32", "float16", "bfloat16"]
OutputFormat = Literal["same", "png", "jpg", "webp"]
#: When plan overlays are drawn (a run option, not part of the config hash).
Overlays = Literal["auto", "always", "never"]
