"""The diffusers txt2img hook, on tiny SD1.5 and SDXL pipelines the tests build."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("diffusers")

from autofix.integrations.diffusers import attach, detach  # noqa: E402
from autofix.photos import photo_array  # noqa: E402

from sd_tiny import build_tiny_pipeline  # noqa: E402

FAST = ["stages.*.inpaint.steps=4", "stages.*.inpaint.strength=0.5", "stages.*.crop.resolution=128"]


def _txt2img(family: str):
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    inpaint = build_tiny_pipeline(family, 4, seed=3)
    cls = StableDiffusionXLPipeline if family == "sdxl" else StableDiffusionPipeline
    return cls.from_pipe(inpaint)


def _changed_inside_crops(before: np.ndarray, after: np.ndarray, regions: list[dict]) -> None:
    changed = np.any(before != after, axis=2)
    allowed = np.zeros_like(changed)
    for r in regions:
        x0, y0, x1, y1 = r["crop"]["box"]
        allowed[y0:y1, x0:x1] = True
    assert changed.any() and not (changed & ~allowed).any()


@pytest.mark.parametrize("family", ["sd15", "sdxl"])
def test_hook_fixes_with_shared_weights_and_inherited_prompt(family):
    pipe = _txt2img(family)
    hook = attach(pipe, preset="faces", overrides=FAST)
    inpainter = hook.fixer.backends.inpainter("diffusers")
    assert inpainter.pipeline.unet is pipe.unet and inpainter.pipeline.vae is pipe.vae  # no second copy
    assert inpainter.describe()["family"] == ("sdxl" if family == "sdxl" else "sd1")

    out = pipe("portrait of a violinist", negative_prompt="lowres", num_inference_steps=2, height=64, width=64)
    assert len(out.images) == 1 and out.images[0].size == (64, 64)
    assert len(hook.last_results) == 1 and hook.last_results[0].stages[0]["stage"] == "face"
    raw = pipe("a cat", num_inference_steps=2, height=64, width=64, output_type="np", return_dict=False)
    assert isinstance(raw, tuple) and raw[0].shape == (1, 64, 64, 3) and raw[0].dtype != np.uint8
    assert len(hook.last_results) == 1  # the tuple form went through the hook too

    astronaut = photo_array("astronaut")
    fixed = hook.fix_images([Image.fromarray(astronaut)], ["portrait of a violinist"], ["lowres"])[0]
    regions = hook.last_results[0].regions
    assert regions and all(r["repainted"] for r in regions)
    assert regions[0]["prompt"] == "portrait of a violinist, detailed face"
    assert regions[0]["negative_prompt"] == "lowres, blurry, deformed"
    _changed_inside_crops(astronaut, np.asarray(fixed), regions)

    detach(pipe)
    assert not hasattr(pipe, "autofix") and type(pipe).__name__ in ("StableDiffusionPipeline", "StableDiffusionXLPipeline")


def test_attach_twice_is_refused():
    pipe = _txt2img("sd15")
    attach(pipe, preset="faces", overrides=FAST)
    with pytest.raises(ValueError, match="already attached"):
        attach(pipe, preset="faces")


def test_float_outputs_keep_untouched_pixels_exactly():
    import torch

    pipe = _txt2img("sd15")
    attach(pipe, preset="faces", overrides=FAST)
    kwargs = dict(num_inference_steps=2, height=64, width=64, output_type="np")
    hooked = pipe("a cat", generator=torch.Generator().manual_seed(5), **kwargs).images
    detach(pipe)
    plain = pipe("a cat", generator=torch.Generator().manual_seed(5), **kwargs).images
    assert hooked.dtype == plain.dtype and np.array_equal(hooked, plain)  # nothing found: not even rounded
