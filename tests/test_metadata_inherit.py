"""Seeds and samplers inherited from the image (`--seed -1`, `--seed image`, `--scheduler image`)
and A1111/ComfyUI/InvokeAI sampler names mapped to diffusers schedulers."""

from __future__ import annotations

import json
import warnings
from importlib import resources
from pathlib import Path

import pytest

from autofix.config import InpaintParams
from autofix.errors import ConfigError
from autofix.inpaint.diffusion import SCHEDULERS, scheduler_name
from autofix.meta import GenerationInfo, read_file_info
from autofix.meta.inherit import inherited_summary, job_settings, resolve_sampler, resolve_seed

DATA = Path(__file__).parent / "data" / "generators"

# The A1111 sampler list of the issue, each with Karras/Exponential where diffusers has it.
A1111 = {
    "Euler a": "euler_a", "Euler": "euler", "LMS": "lms", "Heun": "heun", "DPM2": "dpm2", "DPM2 a": "dpm2_a",
    "DPM++ 2S a": "dpm++_2s_a", "DPM++ 2M": "dpm++_2m", "DPM++ 2M SDE": "dpm++_2m_sde",
    "DPM++ 3M SDE": "dpm++_3m_sde", "DDIM": "ddim", "PLMS": "pndm", "UniPC": "unipc", "LCM": "lcm",
    "LMS Karras": "lms_karras", "DPM2 Karras": "dpm2_karras", "DPM2 a Karras": "dpm2_a_karras",
    "DPM++ 2S a Karras": "dpm++_2s_a_karras", "DPM++ 2M Karras": "dpm++_2m_karras",
    "DPM++ 2M SDE Karras": "dpm++_2m_sde_karras", "DPM++ 2M SDE Exponential": "dpm++_2m_sde_exponential",
    "DPM++ 3M SDE Karras": "dpm++_3m_sde_karras", "DPM++ 3M SDE Exponential": "dpm++_3m_sde_exponential",
    "Euler Karras": "euler_karras", "Heun Exponential": "heun_exponential",
}
OTHERS = {"euler_ancestral": "euler_a", "dpmpp_2m_sde_gpu": "dpm++_2m_sde", "uni_pc_bh2": "unipc",
          "k_euler_ancestral": "euler_a", "dpmpp_2m_k": "dpm++_2m_karras", "sample_dpmpp_2m": "dpm++_2m",
          "dpm++_2m_karras": "dpm++_2m_karras", "DPM++ 2M SDE Heun": "dpm++_2m_sde_heun", "ddim": "ddim"}


@pytest.mark.parametrize("name,key", list(A1111.items()) + list(OTHERS.items()))
def test_sampler_names_map_to_schedulers(name, key):
    assert scheduler_name(name) == key


def test_separate_schedule_and_refusals():
    from autofix.inpaint.samplers import scheduler_name as full

    assert full("DPM++ 2M", "Karras") == "dpm++_2m_karras" and full("euler", "normal") == "euler"
    assert full("dpmpp_2m", "exponential") == "dpm++_2m_exponential"
    with pytest.raises(ConfigError, match="DPM fast"):
        scheduler_name("DPM fast")
    with pytest.raises(ConfigError, match="no karras schedule"):
        scheduler_name("Euler a Karras")
    assert full("euler_ancestral", "karras", nearest=True) == "euler_a"


@pytest.mark.parametrize("family", ["sd15", "sdxl"])
def test_every_scheduler_builds_with_its_settings(family):
    diffusers = pytest.importorskip("diffusers")
    cfg = json.loads((resources.files("autofix.inpaint") / "sd_configs" / family / "scheduler"
                      / "scheduler_config.json").read_text())
    base = diffusers.PNDMScheduler.from_config(cfg).config
    for key, (cls, overrides) in SCHEDULERS.items():
        if cls == "DPMSolverSDEScheduler":
            continue  # needs torchsde (scheduler_name says so)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sched = getattr(diffusers, cls).from_config(base, **overrides)
            sched.set_timesteps(12)
        for name, value in overrides.items():
            if name != "skip_prk_steps":
                assert sched.config[name] == value, (key, name)


def test_seed_policies():
    info = GenerationInfo(prompt="x", seed=3782896554, source="a1111")
    assert resolve_seed(7, 2, info) == (9, "config")
    assert resolve_seed("image", 0, info) == (3782896554, "image")
    assert resolve_seed("image", 3, info) == (3782896557, "image")  # ADetailer: seed + region index
    assert resolve_seed("image", 1, GenerationInfo(), draw=lambda: 5) == (5, "random (image has no seed)")
    draws = iter([11, 22])
    seeds = [resolve_seed(-1, i, info, draw=lambda: next(draws)) for i in range(2)]
    assert seeds == [(11, "random"), (22, "random")]
    real = {resolve_seed(-1, 0, None)[0] for _ in range(8)}
    assert len(real) > 1 and all(0 <= s < 2**32 for s in real)  # fresh per region


def test_inherit_from_real_files():
    a1111 = read_file_info(DATA / "sd-metadata/png/sd-webui.png")  # DPM++ 2M + Schedule type Karras
    js = job_settings(InpaintParams(seed="image", scheduler="image"), 1, a1111)
    assert (js.seed, js.seed_from) == (3782896555, "image")
    assert js.scheduler == "dpm++_2m_karras" and js.scheduler_from == "image: DPM++ 2M Karras"
    comfy = read_file_info(DATA / "sd-metadata/png/comfyui.png")  # euler_ancestral + karras
    key, source = resolve_sampler("image", comfy)
    assert key == "euler_a" and "schedule not available" in source
    js = job_settings(InpaintParams(seed="image"), 0, comfy)
    assert js.seed == 422847914351919 and js.scheduler is None and js.scheduler_from == "model"
    nai = read_file_info(DATA / "sd-parsers/novelai1_cropped.png")
    assert resolve_sampler("image", nai)[0] == "euler_a"
    assert resolve_sampler("image", GenerationInfo()) == (None, "model (image has no sampler)")
    assert resolve_sampler("DPM++ 2M Karras", None) == ("dpm++_2m_karras", "config")
    line = inherited_summary(InpaintParams(seed="image", scheduler="image"), a1111)
    assert "seed 3782896554" in line and "dpm++_2m_karras" in line and "AUTOMATIC1111" in line


def test_config_accepts_seed_policies_and_resolved_jobs_validate():
    assert InpaintParams(seed=-1).seed == -1 and InpaintParams(seed="image").seed == "image"
    assert InpaintParams(seed=422847914351919).seed == 422847914351919  # ComfyUI seeds exceed 2**32
    for bad in (-2, "random", 2**64):
        with pytest.raises(ValueError):
            InpaintParams(seed=bad)
    with pytest.raises(ConfigError, match="resolve it"):
        scheduler_name("image")  # must be resolved by the caller, never reach the pipeline


def test_inherited_lcm_sgm_uniform_uses_lcm_and_says_so():
    forge = read_file_info(DATA / "sd-metadata/png/easy-reforge.png")  # Sampler: LCM, Schedule type: SGM Uniform
    key, source = resolve_sampler("image", forge)
    assert key == "lcm" and source.startswith("image: LCM SGM Uniform") and "default used" in source
