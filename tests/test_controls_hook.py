"""Issue 14 (4): the diffusers hook honours a given model: ``attach(pipe, inpainter={"model": X})``
repaints with X (a 9-channel inpainting checkpoint here, not the txt2img 4-channel UNet), sharing
the VAE / text encoders with the txt2img pipeline only when they are the same weights."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("diffusers")

from autofix.integrations.diffusers import attach, detach  # noqa: E402
from autofix.photos import photo_array  # noqa: E402

FAST = ["stages.*.inpaint.steps=4", "stages.*.inpaint.strength=0.5", "stages.*.crop.resolution=128"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    sys.path.insert(0, str(Path(__file__).parent))
    from sd_tiny import make_tiny_models

    return make_tiny_models(tmp_path_factory.mktemp("hookmodel"), ("sd15-inpainting",))["sd15-inpainting"]


def _fix(hook):
    out = hook.fix_images([Image.fromarray(photo_array("astronaut"))], ["portrait"], ["lowres"])[0]
    (region,) = hook.last_results[0].regions
    return np.asarray(out), region


def test_hook_repaints_with_the_given_model(tiny):
    from diffusers import StableDiffusionPipeline
    from sd_tiny import build_tiny_pipeline

    pipe = StableDiffusionPipeline.from_pipe(build_tiny_pipeline("sd15", 4, seed=7))  # unrelated txt2img weights
    hook = attach(pipe, preset="faces", overrides=FAST,
                  inpainter={"model": str(tiny.single_file), "config_dir": str(tiny.config_dir)})
    inp = hook.fixer.backends.inpainter("diffusers")
    assert inp.pipeline.unet.config.in_channels == 9 and inp.pipeline.unet is not pipe.unet
    assert inp.describe()["model"] == str(tiny.single_file) and inp.describe()["in_channels"] == 9
    assert hook.shared_modules == ()  # another model's VAE and text encoder: X keeps its own
    assert inp.pipeline.vae is not pipe.vae and inp.pipeline.text_encoder is not pipe.text_encoder
    with_x, region = _fix(hook)
    assert region["repainted"]
    detach(pipe)

    # the same through the plain hook (txt2img UNet) gives another result: the model was honoured
    plain = attach(pipe, preset="faces", overrides=FAST)
    assert plain.fixer.backends.inpainter("diffusers").pipeline.unet is pipe.unet
    without, _ = _fix(plain)
    assert not np.array_equal(with_x, without)
    detach(pipe)


def test_hook_shares_identical_vae_and_text_encoder(tiny):
    from diffusers import StableDiffusionInpaintPipeline, StableDiffusionPipeline
    from sd_tiny import build_tiny_pipeline

    own = StableDiffusionInpaintPipeline.from_pretrained(tiny.folder)  # X's own VAE/text encoder ...
    other = build_tiny_pipeline("sd15", 4, seed=7)
    pipe = StableDiffusionPipeline(vae=own.vae, text_encoder=own.text_encoder, tokenizer=own.tokenizer,
                                   unet=other.unet, scheduler=other.scheduler, safety_checker=None,
                                   feature_extractor=None, requires_safety_checker=False)  # ... with another UNet
    hook = attach(pipe, preset="faces", overrides=FAST, inpainter={"model": str(tiny.folder)})
    inp = hook.fixer.backends.inpainter("diffusers")
    assert hook.shared_modules == ("vae", "text_encoder")
    assert inp.pipeline.vae is pipe.vae and inp.pipeline.text_encoder is pipe.text_encoder
    assert inp.pipeline.unet.config.in_channels == 9
    _, region = _fix(hook)
    assert region["repainted"]
    detach(pipe)
